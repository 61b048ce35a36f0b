"""Stream betas: (row x voxel) matrices per stream with their train/test split.

For each session, the voxels of all streams are read together (one read of the
union mask) and split into streams afterwards; only one session is in memory at
a time. Betas are divided by ``scale`` (NSD stores PSC x 300) and optionally
z-scored per voxel (within each session, or with the statistics of the train
rows, as Brain-Diffuser does).

Split (``nsd.md`` section 3b): test = the shared images (10k index <=
``len(sharedix)``) seen within the selected sessions, one row per image
averaged over its repeats there; train = the subject's other images seen
there, one row per image (``train_trials="averaged"``: Brain-Diffuser,
MindEye1's test protocol) or one row per trial (``"single"``: MindEye). With 37
NSD sessions the test set has 982 images, with 40 sessions 1000. Rows follow
the order of first appearance in ``masterordering``, so each split on its own
is in Brain-Diffuser's order.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from tqdm import tqdm

from nsdrecon.atomic import atomic_path
from nsdrecon.layout import subject_name
from nsdrecon.nsd import ExpDesign, read_betas_session, trial_table

logger = logging.getLogger(__name__)

__all__ = [
    "extract_stream_betas", "image_rows", "save_betas", "load_betas", "test_ids", "ZSCORE_MODES", "TRAIN_TRIALS", "SPLITS",
]

ZSCORE_MODES = ("session", "train", "none")
TRAIN_TRIALS = ("averaged", "single")
SPLITS = ("train", "test")
_STATS_BLOCK = 2048  # voxels per block when computing train statistics (bounds the float64 copy)
NETCDF_ENGINE = "h5netcdf"
_SESSION_NUMBER = re.compile(r"session(\d+)")


def _check_session_order(session_paths: Sequence[str | os.PathLike]) -> None:
    """Session ``i`` of the list must be NSD session ``i + 1`` when its name says so."""
    for position, path in enumerate(session_paths, start=1):
        match = _SESSION_NUMBER.search(Path(path).name)
        if match and int(match.group(1)) != position:
            raise ValueError(
                f"session_paths[{position - 1}] is {path}, expected session {position}: "
                "pass the first N sessions in order"
            )


def _check_masks(masks: Mapping[str, np.ndarray]) -> tuple[int, int, int]:
    if not masks:
        raise ValueError("no stream masks given")
    shapes = {stream: mask.shape for stream, mask in masks.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"stream masks differ in shape: {shapes}")
    for stream, mask in masks.items():
        if mask.dtype != bool or mask.ndim != 3 or not mask.any():
            raise ValueError(f"mask {stream!r} must be a non-empty 3-D bool array, got {mask.dtype} {mask.shape}")
    return next(iter(shapes.values()))


def _standardize(values: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``(values - mean) / std`` in place per column; constant voxels (std 0) become 0."""
    constant = std == 0
    if constant.any():
        logger.warning("%d voxel(s) are constant; their z-scores are set to 0", int(constant.sum()))
    values -= mean.astype(values.dtype)
    values /= np.where(constant, 1.0, std).astype(values.dtype)
    return values


def image_rows(trials: pd.DataFrame, train_trials: str = "averaged") -> tuple[pd.DataFrame, np.ndarray]:
    """Output rows of the selected trials, and the row each trial adds to.

    Parameters
    ----------
    trials : pandas.DataFrame
        From :func:`nsdrecon.nsd.trial_table`: ``trial, image10k, nsd_id, shared`` per
        trial; ``shared`` trials (10k index <= number of shared images) are test trials.
    train_trials : {"averaged", "single"}, default="averaged"
        One row per train image (mean over its repeats) or one per train trial;
        test images always get one averaged row.

    Returns
    -------
    rows : pandas.DataFrame
        ``image10k, nsd_id, trial, n_repeats, split`` per row, in order of first
        appearance; ``trial`` is the row's first (for single-trial rows: only) trial.
    row_of_trial : ndarray of int64, shape (n_trials,)
    """
    if train_trials not in TRAIN_TRIALS:
        raise ValueError(f"train_trials must be one of {TRAIN_TRIALS}, got {train_trials!r}")
    image10k = trials["image10k"].to_numpy()
    shared = trials["shared"].to_numpy()
    # A trial's row key: its 10k image (>= 1) when repeats are averaged, else -(trial + 1), unique per trial.
    key = image10k if train_trials == "averaged" else np.where(shared, image10k, -(trials["trial"].to_numpy() + 1))
    row_of_trial, _ = pd.factorize(key)
    first = np.unique(row_of_trial, return_index=True)[1]
    rows = trials.iloc[first][["image10k", "nsd_id", "trial"]].reset_index(drop=True)
    rows["n_repeats"] = np.bincount(row_of_trial, minlength=len(rows))
    rows["split"] = np.where(shared[first], "test", "train")
    return rows, row_of_trial.astype(np.int64)


def _train_statistics(values: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and std (ddof=1, as Brain-Diffuser) over the ``train`` rows, in float64 blocks."""
    mean = np.empty(values.shape[1])
    std = np.empty(values.shape[1])
    for start in range(0, values.shape[1], _STATS_BLOCK):
        block = values[train, start : start + _STATS_BLOCK].astype(np.float64)
        mean[start : start + _STATS_BLOCK] = block.mean(axis=0)
        std[start : start + _STATS_BLOCK] = block.std(axis=0, ddof=1)
    return mean, std


def _sum_rows(target: np.ndarray, rows: np.ndarray, values: np.ndarray) -> None:
    """``target[rows[i]] += values[i]`` for repeated ``rows``, without a per-row loop."""
    order = np.argsort(rows, kind="stable")
    unique_rows, starts = np.unique(rows[order], return_index=True)
    target[unique_rows] += np.add.reduceat(values[order], starts, axis=0)


def extract_stream_betas(
    session_paths: Sequence[str | os.PathLike],
    design: ExpDesign,
    subject: int | str,
    masks: Mapping[str, np.ndarray],
    *,
    zscore: str = "session",
    train_trials: str = "averaged",
    scale: float = 300.0,
    trials_per_session: int = 750,
    voxel_ijk_affine: np.ndarray | None = None,
) -> xr.Dataset:
    """Read a subject's first sessions and build (row x voxel) betas per stream.

    Parameters
    ----------
    session_paths : sequence of path-like
        ``betas_session01 ..`` files (HDF5 or NIfTI), in session order from session 1.
    design : ExpDesign
    subject : int or str
    masks : mapping of str to ndarray of bool, shape (X, Y, Z)
        Stream name to voxel mask (NIfTI orientation).
    zscore : {"session", "train", "none"}, default="session"
        ``session``: per voxel over each session's trials (ddof=0), before
        averaging; ``train``: with the mean and std (ddof=1) of the train rows
        as output (averaged or single trials), applied to every row, as
        Brain-Diffuser does; ``none``.
    train_trials : {"averaged", "single"}, default="averaged"
        One train row per image (mean over its repeats within the sessions) or
        one per trial. Test rows are always averaged over repeats.
    scale : float, default=300.0
        Raw betas are divided by it (NSD: PSC x 300).
    trials_per_session : int, default=750
    voxel_ijk_affine : ndarray, shape (4, 4), optional
        Affine of the mask grid, stored as attribute ``affine`` to map voxel ijk to mm.

    Returns
    -------
    xarray.Dataset
        Dims ``image`` (rows) and ``voxel_<stream>``. Data variables ``<stream>``
        float32 (image, voxel_<stream>). Coordinates ``nsd_id`` (0-based 73k),
        ``split`` ("train"/"test"), ``n_repeats`` (trials averaged into the row),
        ``trial`` (0-based global trial of the row's first presentation) and
        ``<stream>_ijk`` (voxel_<stream>, ijk) int voxel indices in C order of (X, Y, Z).
    """
    if zscore not in ZSCORE_MODES:
        raise ValueError(f"zscore must be one of {ZSCORE_MODES}, got {zscore!r}")
    if not session_paths:
        raise ValueError("no beta sessions given")
    _check_session_order(session_paths)
    volume_shape = _check_masks(masks)
    trials = trial_table(design, subject, len(session_paths), trials_per_session)
    rows, row_of_trial = image_rows(trials, train_trials)
    union = np.logical_or.reduce(list(masks.values()))
    stream_columns = {stream: np.flatnonzero(mask[union]) for stream, mask in masks.items()}

    # One accumulator per stream (no union-sized copy at the end).
    values = {
        stream: np.zeros((len(rows), len(columns)), dtype=np.float32) for stream, columns in stream_columns.items()
    }
    for session, path in enumerate(tqdm(session_paths, desc=f"betas {subject_name(subject)}", disable=None)):
        in_session = slice(session * trials_per_session, (session + 1) * trials_per_session)
        betas = read_betas_session(path, union, expected_trials=trials_per_session).astype(np.float32)
        betas /= np.float32(scale)
        if zscore == "session":
            _standardize(betas, betas.mean(axis=0, dtype=np.float64), betas.std(axis=0, dtype=np.float64))
        for stream, columns in stream_columns.items():
            _sum_rows(values[stream], row_of_trial[in_session], betas[:, columns])
    train = (rows["split"] == "train").to_numpy()
    if zscore == "train" and train.sum() < 2:
        raise ValueError(f"zscore='train' needs at least 2 train rows, found {int(train.sum())}")
    for stream in stream_columns:
        values[stream] /= rows["n_repeats"].to_numpy(dtype=np.float32)[:, None]
        if zscore == "train":
            _standardize(values[stream], *_train_statistics(values[stream], train))

    dataset = xr.Dataset(
        coords={
            "nsd_id": ("image", rows["nsd_id"].to_numpy(dtype=np.int64)),
            "split": ("image", rows["split"].to_numpy(dtype=str)),
            "n_repeats": ("image", rows["n_repeats"].to_numpy(dtype=np.int64)),
            "trial": ("image", rows["trial"].to_numpy(dtype=np.int64)),
        },
        attrs={
            "subject": subject_name(subject),
            "n_sessions": len(session_paths),
            "trials_per_session": trials_per_session,
            "zscore": zscore,
            "train_trials": train_trials,
            "scale": float(scale),
            "volume_shape": list(volume_shape),
        },
    )
    if voxel_ijk_affine is not None:
        dataset.attrs["affine"] = np.asarray(voxel_ijk_affine, dtype=float).ravel().tolist()
    for stream in stream_columns:
        dim = f"voxel_{stream}"
        dataset[stream] = (("image", dim), values.pop(stream))
        dataset = dataset.assign_coords({f"{stream}_ijk": ((dim, "ijk"), np.argwhere(masks[stream]))})
    counts = rows["split"].value_counts()
    logger.info(
        "%s: %d sessions -> %d train rows (%s) / %d test images; voxels %s",
        subject_name(subject),
        len(session_paths),
        counts.get("train", 0),
        train_trials,
        counts.get("test", 0),
        {stream: len(columns) for stream, columns in stream_columns.items()},
    )
    return dataset


def save_betas(dataset: xr.Dataset, path: str | os.PathLike) -> None:
    """Write the stream betas as NetCDF-4 (h5netcdf), atomically."""
    with atomic_path(path) as tmp:
        dataset.to_netcdf(tmp, engine=NETCDF_ENGINE)


def load_betas(path: str | os.PathLike, stream: str, split: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read one stream's betas.

    Parameters
    ----------
    path : path-like
        File written by :func:`save_betas`.
    stream : str
    split : {"train", "test"} or None
        Rows of one split, or all rows.

    Returns
    -------
    betas : ndarray of float32, shape (n_images, n_voxels)
    nsd_ids : ndarray of int64, shape (n_images,)
        0-based 73k indices of the rows.
    """
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}")
    if not Path(path).exists():
        raise FileNotFoundError(f"betas file not found: {path}")
    with xr.open_dataset(path, engine=NETCDF_ENGINE) as dataset:
        if stream not in dataset.data_vars:
            raise ValueError(f"{path}: no stream {stream!r}; streams: {list(dataset.data_vars)}")
        if split is not None:
            dataset = dataset.isel(image=np.flatnonzero(dataset["split"].to_numpy() == split))
        betas = dataset[stream].to_numpy().astype(np.float32, copy=False)
        nsd_ids = dataset["nsd_id"].to_numpy().astype(np.int64, copy=False)
    return betas, nsd_ids


def test_ids(path: str | os.PathLike) -> np.ndarray:
    """The test images' nsd ids, in the order of the file's rows (the order every test-set output follows)."""
    return load_betas(path, "structural", "test")[1]
