"""Stream betas: (image x voxel) matrices per stream with their train/test split.

For each session, the voxels of all streams are read together (one read of the
union mask) and split into streams afterwards; only one session is in memory at
a time. Betas are divided by ``scale`` (NSD stores PSC x 300), optionally
z-scored per voxel, and either averaged over each image's repeats within the
selected sessions (one row per image, Brain-Diffuser) or kept per trial.

Split: test = shared images (10k index <= ``len(sharedix)``) seen within the
selected sessions, train = every other image seen. Rows follow the order of
first appearance in ``masterordering``, so each split on its own is in
Brain-Diffuser's order.
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

__all__ = ["extract_stream_betas", "save_betas", "load_betas", "ZSCORE_MODES", "SPLITS"]

ZSCORE_MODES = ("session", "train", "none")
SPLITS = ("train", "test")
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


def _image_rows(trials: pd.DataFrame, n_shared: int, average_repeats: bool) -> tuple[pd.DataFrame, np.ndarray]:
    """Output rows and the row of each trial.

    Returns
    -------
    rows : pandas.DataFrame
        ``image10k, nsd_id, n_repeats, split`` (and ``trial`` without averaging);
        with averaging one row per image in order of first appearance.
    row_of_trial : ndarray of int, shape (n_trials,)
    """
    if average_repeats:
        row_of_trial, _ = pd.factorize(trials["image10k"])
        rows = trials.drop_duplicates("image10k")[["image10k", "nsd_id"]].reset_index(drop=True)
        rows["n_repeats"] = np.bincount(row_of_trial, minlength=len(rows))
    else:
        row_of_trial = np.arange(len(trials))
        rows = trials[["image10k", "nsd_id", "trial"]].assign(n_repeats=1)
    rows["split"] = np.where(rows["image10k"] <= n_shared, "test", "train")
    return rows, row_of_trial


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
    average_repeats: bool = True,
    scale: float = 300.0,
    trials_per_session: int = 750,
    voxel_ijk_affine: np.ndarray | None = None,
) -> xr.Dataset:
    """Read a subject's first sessions and build (image x voxel) betas per stream.

    Parameters
    ----------
    session_paths : sequence of path-like
        ``betas_session01 ..`` files (HDF5 or NIfTI), in session order from session 1.
    design : ExpDesign
    subject : int or str
    masks : mapping of str to ndarray of bool, shape (X, Y, Z)
        Stream name to voxel mask (NIfTI orientation).
    zscore : {"session", "train", "none"}, default="session"
        ``session``: per voxel over each session's trials; ``train``: with the
        mean and std of all train trials of the selected sessions; both ddof=0.
    average_repeats : bool, default=True
        One row per image (mean over its repeats within the sessions) or one
        row per trial.
    scale : float, default=300.0
        Raw betas are divided by it (NSD: PSC x 300).
    trials_per_session : int, default=750
    voxel_ijk_affine : ndarray, shape (4, 4), optional
        Affine of the mask grid, stored as attribute ``affine`` to map voxel ijk to mm.

    Returns
    -------
    xarray.Dataset
        Dims ``image`` and ``voxel_<stream>``. Data variables ``<stream>``
        float32 (image, voxel_<stream>). Coordinates ``nsd_id`` (0-based 73k),
        ``split`` ("train"/"test"), ``n_repeats`` (trials averaged into the row),
        ``trial`` (0-based global trial, only without averaging) and
        ``<stream>_ijk`` (voxel_<stream>, ijk) int voxel indices in C order of (X, Y, Z).
    """
    if zscore not in ZSCORE_MODES:
        raise ValueError(f"zscore must be one of {ZSCORE_MODES}, got {zscore!r}")
    if not session_paths:
        raise ValueError("no beta sessions given")
    _check_session_order(session_paths)
    volume_shape = _check_masks(masks)
    trials = trial_table(design, subject, len(session_paths), trials_per_session)
    union = np.logical_or.reduce(list(masks.values()))
    stream_columns = {stream: np.flatnonzero(mask[union]) for stream, mask in masks.items()}
    n_union = int(union.sum())

    rows, row_of_trial = _image_rows(trials, design.n_shared, average_repeats)
    train_trial = ~trials["shared"].to_numpy()

    # One accumulator per stream (no union-sized copy at the end); train statistics over the union.
    values = {
        stream: np.zeros((len(rows), len(columns)), dtype=np.float32) for stream, columns in stream_columns.items()
    }
    train_sum = np.zeros(n_union, dtype=np.float64)
    train_sum_sq = np.zeros(n_union, dtype=np.float64)
    for session, path in enumerate(tqdm(session_paths, desc=f"betas {subject_name(subject)}", disable=None)):
        in_session = slice(session * trials_per_session, (session + 1) * trials_per_session)
        betas = read_betas_session(path, union, expected_trials=trials_per_session).astype(np.float32)
        betas /= np.float32(scale)
        if zscore == "session":
            _standardize(betas, betas.mean(axis=0, dtype=np.float64), betas.std(axis=0, dtype=np.float64))
        elif zscore == "train":
            train_betas = betas[train_trial[in_session]].astype(np.float64)
            train_sum += train_betas.sum(axis=0)
            train_sum_sq += np.square(train_betas).sum(axis=0)
        for stream, columns in stream_columns.items():
            _sum_rows(values[stream], row_of_trial[in_session], betas[:, columns])
    n_train = int(train_trial.sum())
    if zscore == "train" and n_train == 0:
        raise ValueError("zscore='train' needs train trials, but every selected trial shows a shared image")
    for stream, columns in stream_columns.items():
        values[stream] /= rows["n_repeats"].to_numpy(dtype=np.float32)[:, None]
        if zscore == "train":
            # z-scoring is affine per voxel, so it commutes with averaging repeats.
            mean = train_sum[columns] / n_train
            _standardize(values[stream], mean, np.sqrt(np.maximum(train_sum_sq[columns] / n_train - mean**2, 0.0)))

    dataset = xr.Dataset(
        coords={
            "nsd_id": ("image", rows["nsd_id"].to_numpy(dtype=np.int64)),
            "split": ("image", rows["split"].to_numpy(dtype=str)),
            "n_repeats": ("image", rows["n_repeats"].to_numpy(dtype=np.int64)),
        },
        attrs={
            "subject": subject_name(subject),
            "n_sessions": len(session_paths),
            "trials_per_session": trials_per_session,
            "zscore": zscore,
            "scale": float(scale),
            "average_repeats": int(average_repeats),
            "volume_shape": list(volume_shape),
        },
    )
    if not average_repeats:
        dataset = dataset.assign_coords(trial=("image", rows["trial"].to_numpy(dtype=np.int64)))
    if voxel_ijk_affine is not None:
        dataset.attrs["affine"] = np.asarray(voxel_ijk_affine, dtype=float).ravel().tolist()
    for stream in stream_columns:
        dim = f"voxel_{stream}"
        dataset[stream] = (("image", dim), values.pop(stream))
        dataset = dataset.assign_coords({f"{stream}_ijk": ((dim, "ijk"), np.argwhere(masks[stream]))})
    counts = rows["split"].value_counts()
    logger.info(
        "%s: %d sessions -> %d train / %d test rows; voxels %s",
        subject_name(subject),
        len(session_paths),
        counts.get("train", 0),
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
