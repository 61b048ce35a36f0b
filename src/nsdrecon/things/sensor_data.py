"""The in-memory form of EEG/MEG responses to images, and the checks both readers share."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["SensorData", "check_time_axis", "in_window", "pick_channels"]


def in_window(times: np.ndarray, window) -> np.ndarray:
    """Mask of the samples with ``window[0] <= t <= window[1]``, to 1 ns (so rounded time axes keep their ends)."""
    return (times >= window[0] - 1e-9) & (times <= window[1] + 1e-9)


@dataclass(frozen=True, eq=False)
class SensorData:
    """Responses to a set of images, every repetition kept.

    Attributes
    ----------
    data : ndarray of float32, shape (n_images, n_repetitions, n_channels, n_times)
        Sensor signal per image, repetition, channel and time point (the file's units).
    ch_names : tuple of str, length n_channels
    times : ndarray of float64, shape (n_times,)
        Seconds from stimulus onset.
    image_files : ndarray of str, shape (n_images,)
        Each image's path relative to its image folder (``<concept_dir>/<file>.jpg``).
    concepts : ndarray of str, shape (n_images,)
        Each image's concept, readable (``"aircraft carrier"``).
    source : pathlib.Path
        The file read.
    """

    data: np.ndarray
    ch_names: tuple[str, ...]
    times: np.ndarray
    image_files: np.ndarray
    concepts: np.ndarray
    source: Path

    def __post_init__(self):
        n_images, _, n_channels, n_times = self.data.shape
        if (len(self.image_files), len(self.concepts), len(self.ch_names), len(self.times)) != (
            n_images,
            n_images,
            n_channels,
            n_times,
        ):
            raise ValueError(
                f"{self.source}: data {self.data.shape} does not match {len(self.image_files)} image files, "
                f"{len(self.concepts)} concepts, {len(self.ch_names)} channels and {len(self.times)} times"
            )

    @property
    def sfreq(self) -> float:
        """Sampling frequency in Hz."""
        return float(1.0 / np.mean(np.diff(self.times)))


def check_time_axis(path: str | os.PathLike, times: np.ndarray, n_times: int) -> np.ndarray:
    """Return ``times`` as float64 if it is a 1-D, uniformly sampled axis of ``n_times`` points, else raise.

    Raises
    ------
    ValueError
        Naming ``path`` and the axis found (length, first and last value, spacing).
    """
    times = np.asarray(times)
    if times.ndim != 1 or len(times) != n_times or not np.issubdtype(times.dtype, np.number):
        raise ValueError(
            f"{path}: time axis must be {n_times} numbers (the data's last axis), "
            f"found {times.dtype} shape {times.shape}"
        )
    times = times.astype(np.float64)
    steps = np.diff(times)
    if n_times < 2 or steps.min() <= 0 or not np.allclose(steps, steps.mean(), rtol=1e-3, atol=0):
        raise ValueError(
            f"{path}: time axis is not increasing at a constant rate: {n_times} points from {times[0]:g} to "
            f"{times[-1]:g} s, steps {steps.min() if n_times > 1 else float('nan'):g} to "
            f"{steps.max() if n_times > 1 else float('nan'):g} s"
        )
    return times


def pick_channels(path: str | os.PathLike, found: list[str], wanted: list[str] | None) -> np.ndarray:
    """Indices into ``found`` of the ``wanted`` channels, in ``wanted`` order (all of ``found`` when None).

    Raises
    ------
    ValueError
        Naming ``path``, the channels missing from it and the count found.
    """
    found = list(found)
    if len(set(found)) != len(found):
        raise ValueError(f"{path}: duplicate channel names in {found}")
    if wanted is None:
        return np.arange(len(found))
    missing = [name for name in wanted if name not in found]
    if missing:
        raise ValueError(
            f"{path}: {len(missing)} of the {len(wanted)} configured channels are missing: {missing}; "
            f"the file has {len(found)} channels: {found}"
        )
    return np.asarray([found.index(name) for name in wanted])
