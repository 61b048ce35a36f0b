"""HAVIR's structural/semantic split carried to time: each stream is a channel group read in a time window.

A stream's features are its channels x the samples of its window (optionally averaged ``decimate`` at a
time), flattened channel-major. Train rows are repetition means (``averaged``) or single repetitions
(``single``); test rows always average (the first ``test_repetitions``) repetitions. Every feature is
z-scored with the statistics of the train rows. The result has the layout of the fMRI betas
(:func:`nsdrecon.betas.load_betas` reads it): per stream an (image x feature) matrix, coordinates ``nsd_id``
(the dataset's image id), ``split`` and ``n_repeats``, and per feature its channel and time.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import numpy as np
import xarray as xr

from nsdrecon.things.sensor_data import SensorData, in_window

from .subjects import SubjectResponses

logger = logging.getLogger(__name__)

__all__ = ["StreamSpec", "bin_samples", "select_channels", "select_window", "sensor_dataset", "stream_betas", "stream_features"]


@dataclass(frozen=True)
class StreamSpec:
    """A channel group (regular expression on channel names) and a time window in seconds (inclusive)."""

    channels: str
    window: tuple[float, float]


def select_channels(ch_names, pattern: str, source="data") -> np.ndarray:
    """Indices of the channels whose name matches ``pattern`` (``re.search``); an empty group is an error."""
    picked = np.asarray([i for i, name in enumerate(ch_names) if re.search(pattern, name)], dtype=int)
    if not len(picked):
        raise ValueError(f"{source}: no channel matches {pattern!r}; channels: {list(ch_names)}")
    return picked


def select_window(times: np.ndarray, window, source="data") -> np.ndarray:
    """Indices of the samples with ``window[0] <= t <= window[1]``; a window outside the axis is an error."""
    start, end = window
    inside = np.flatnonzero(in_window(times, window))
    if start >= end or not len(inside):
        raise ValueError(
            f"{source}: time window {start:g} ... {end:g} s holds no sample of {times[0]:g} ... {times[-1]:g} s"
        )
    return inside


def stream_features(data: SensorData, spec: StreamSpec, decimate: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A stream's features of every image and repetition.

    Returns
    -------
    features : ndarray of float32, shape (n_images, n_repetitions, n_channels * n_bins)
        Channel-major: feature ``c * n_bins + b`` is channel ``c``, time bin ``b``.
    channels : ndarray of str, shape (n_features,)
    times : ndarray of float64, shape (n_features,)
        Each bin's mean time.
    """
    picked = select_channels(data.ch_names, spec.channels, data.source)
    samples = select_window(data.times, spec.window, data.source)
    if len(samples) < decimate:
        raise ValueError(f"{data.source}: window {spec.window} has {len(samples)} samples, fewer than decimate={decimate}")
    block, times = bin_samples(data.data[:, :, picked][..., samples], data.times[samples], decimate)
    channels = np.repeat(np.asarray(data.ch_names)[picked], len(times))
    return block.reshape(*block.shape[:2], -1).astype(np.float32), channels, np.tile(times, len(picked))


def bin_samples(block: np.ndarray, times: np.ndarray, decimate: int) -> tuple[np.ndarray, np.ndarray]:
    """``block``'s last (time) axis and ``times`` averaged ``decimate`` samples at a time (a remainder dropped)."""
    if decimate < 1:
        raise ValueError(f"decimate must be >= 1, got {decimate}")
    n_bins = len(times) // decimate
    kept = slice(0, n_bins * decimate)
    binned = block[..., kept].reshape(*block.shape[:-1], n_bins, decimate).mean(axis=-1)
    return binned, times[kept].reshape(n_bins, decimate).mean(axis=1)


def _rows(features: np.ndarray, ids: np.ndarray, mode: str, limit: int | None = None):
    """(rows, ids, n_repeats) of one split: per image the mean of its (first ``limit``) repetitions, or each one."""
    features = features[:, :limit] if limit else features
    if mode == "averaged":
        return features.mean(axis=1), ids, np.full(len(ids), features.shape[1])
    if mode == "single":
        n, reps = features.shape[:2]
        return features.reshape(n * reps, -1), np.repeat(ids, reps), np.ones(n * reps, dtype=int)
    raise ValueError(f"train_trials must be 'averaged' or 'single', got {mode!r}")


def stream_betas(
    responses: SubjectResponses,
    streams: dict[str, StreamSpec],
    *,
    subject: str,
    train_trials: str = "averaged",
    test_repetitions: int | None = None,
    decimate: int = 1,
) -> xr.Dataset:
    """Each stream's z-scored train/test matrix in the layout of the fMRI betas (see the module docstring)."""
    if test_repetitions is not None and test_repetitions > responses.test.data.shape[1]:
        raise ValueError(
            f"{responses.test.source}: test_repetitions={test_repetitions}, but the file has "
            f"{responses.test.data.shape[1]} repetitions per test image"
        )
    dataset = None
    for stream, spec in streams.items():
        train, channels, times = stream_features(responses.train, spec, decimate)
        test, _, _ = stream_features(responses.test, spec, decimate)
        x_train, train_ids, train_reps = _rows(train, responses.train_ids, train_trials)
        x_test, test_ids, test_reps = _rows(test, responses.test_ids, "averaged", test_repetitions)
        values = np.concatenate([x_train, x_test]).astype(np.float32)
        mean, std = x_train.mean(axis=0), x_train.std(axis=0, ddof=1)
        values = (values - mean) / np.where(std > 0, std, 1)
        if dataset is None:
            dataset = xr.Dataset(
                coords={
                    "nsd_id": ("image", np.concatenate([train_ids, test_ids]).astype(np.int64)),
                    "split": ("image", np.asarray(["train"] * len(train_ids) + ["test"] * len(test_ids))),
                    "n_repeats": ("image", np.concatenate([train_reps, test_reps]).astype(np.int64)),
                },
                attrs={
                    "subject": subject, "modality": responses.ch_type, "zscore": "train",
                    "train_trials": train_trials, "decimate": decimate, "source": str(responses.train.source),
                },
            )  # fmt: skip
        dim = f"feature_{stream}"
        dataset[stream] = (("image", dim), values.astype(np.float32))
        dataset = dataset.assign_coords({f"{stream}_channel": (dim, channels), f"{stream}_time": (dim, times)})
        dataset.attrs[f"{stream}_channels"] = spec.channels
        dataset.attrs[f"{stream}_window"] = list(spec.window)
        logger.info(
            "%s %s: %d channels x %d bins in %s s -> %d features",
            subject, stream, len(set(channels)), len(times) // max(len(set(channels)), 1), spec.window, len(times),
        )  # fmt: skip
    return dataset


def sensor_dataset(
    responses: SubjectResponses, *, subject: str, test_repetitions: int | None = None, decimate: int = 1
) -> xr.Dataset:
    """Repetition-averaged responses (image x channel x time) of both splits, with ids and sensor positions.

    Time is averaged ``decimate`` samples at a time, as in the streams: THINGS-MEG's 22248 images x 271
    sensors x 1.1 s at 200 Hz are 5.3 GB of float32, 2.7 GB at ``decimate=2``.
    """
    train, times = bin_samples(responses.train.data.mean(axis=1), responses.train.times, decimate)
    test, _ = bin_samples(responses.test.data[:, :test_repetitions].mean(axis=1), responses.test.times, decimate)
    return xr.Dataset(
        {"response": (("image", "channel", "time"), np.concatenate([train, test]).astype(np.float32))},
        coords={
            "nsd_id": ("image", np.concatenate([responses.train_ids, responses.test_ids]).astype(np.int64)),
            "split": ("image", np.asarray(["train"] * len(train) + ["test"] * len(test))),
            "channel": np.asarray(responses.train.ch_names),
            "time": times,
            "position": (("channel", "xyz"), responses.positions),
        },
        attrs={"subject": subject, "ch_type": responses.ch_type, "source": str(responses.train.source)},
    )
