"""Reading one session of NSD single-trial betas from HDF5 or NIfTI (``nsd.md`` section 1).

Both files hold int16 betas (percent signal change x 300) but in opposite axis
orders: nibabel sees the NIfTI as (X, Y, Z, T) while h5py sees ``/betas`` as
(T, Z, Y, X), chunked one voxel x all trials. :func:`read_betas_session`
returns the same (n_trials, n_voxels) array for both, with voxels enumerated in
C order of (X, Y, Z), i.e. ``volume[mask]`` order, as Brain-Diffuser and
MindEye do. From HDF5 only the chunks of the masked voxels are read; a NIfTI
(whose trials are its slowest axis) is decompressed one trial volume at a time,
so neither path holds the whole session in memory.
"""

from __future__ import annotations

import logging
import os
import zlib
from pathlib import Path

import numpy as np
from nibabel.openers import ImageOpener

from nsdrecon.fileformats import load_nifti, open_hdf5
logger = logging.getLogger(__name__)

__all__ = ["read_betas_session"]

HDF5_DATASET = "betas"


def _check_mask(path: os.PathLike, mask: np.ndarray, volume_shape: tuple[int, ...]) -> None:
    if mask.dtype != bool or mask.ndim != 3:
        raise ValueError(f"mask for {path} must be a 3-D bool array (X, Y, Z), got {mask.dtype} {mask.shape}")
    if mask.shape != tuple(volume_shape):
        raise ValueError(f"{path}: volume is (X, Y, Z) = {tuple(volume_shape)} but the mask is {mask.shape}")
    if not mask.any():
        raise ValueError(f"mask for {path} selects no voxels")


def _check_trials(path: os.PathLike, dtype: np.dtype, n_trials: int, expected_trials: int | None) -> None:
    if dtype != np.int16:
        raise ValueError(f"{path}: betas must be int16 (PSC x 300), found {dtype}")
    if expected_trials is not None and n_trials != expected_trials:
        raise ValueError(f"{path}: expected {expected_trials} trials, found {n_trials}")


def _mask_runs(mask_zyx: np.ndarray) -> np.ndarray:
    """Runs of consecutive selected voxels along the last axis.

    Parameters
    ----------
    mask_zyx : ndarray of bool, shape (Z, Y, X)

    Returns
    -------
    ndarray of int64, shape (n_runs, 4)
        ``z, y, x_start, length`` per run, in C order of (Z, Y, X).
    """
    n_z, n_y, n_x = mask_zyx.shape
    lines = mask_zyx.reshape(-1, n_x).astype(np.int8)
    edges = np.diff(np.pad(lines, ((0, 0), (1, 1))), axis=1)
    line, start = np.nonzero(edges == 1)
    _, stop = np.nonzero(edges == -1)
    z, y = np.divmod(line, n_y)
    return np.stack([z, y, start, stop - start], axis=1)


def _xyz_columns(mask: np.ndarray) -> np.ndarray:
    """Column of each (X, Y, Z)-ordered masked voxel within a (Z, Y, X)-ordered read."""
    zyx_rank = np.zeros(mask.shape, dtype=np.int64)
    zyx_rank.T[mask.T] = np.arange(int(mask.sum()))
    return zyx_rank[mask]


def _read_hdf5(path: os.PathLike, mask: np.ndarray | None, expected_trials: int | None) -> np.ndarray:
    with open_hdf5(path) as handle:
        if HDF5_DATASET not in handle:
            raise ValueError(f"{path}: no '/{HDF5_DATASET}' dataset; found {list(handle)}")
        dataset = handle[HDF5_DATASET]
        if dataset.ndim != 4:
            raise ValueError(f"{path}: '/{HDF5_DATASET}' must be 4-D (T, Z, Y, X), found shape {dataset.shape}")
        n_trials = dataset.shape[0]
        _check_trials(path, dataset.dtype, n_trials, expected_trials)
        volume_shape = dataset.shape[:0:-1]
        if mask is None:
            return np.ascontiguousarray(dataset[()].transpose(0, 3, 2, 1)).reshape(n_trials, -1)
        _check_mask(path, mask, volume_shape)
        # One read per run of voxels along X: HDF5 touches only the selected
        # (T x 1 voxel) chunks, and the columns come out in C order of (Z, Y, X).
        # (A single read of the union of these hyperslabs is ~100x slower.)
        n_voxels = int(mask.sum())
        zyx_betas = np.empty((n_trials, n_voxels), dtype=np.int16)
        column = 0
        for z, y, x_start, length in _mask_runs(mask.T).tolist():
            zyx_betas[:, column : column + length] = dataset[:, z, y, x_start : x_start + length]
            column += length
    return zyx_betas[:, _xyz_columns(mask)]


def _read_nifti(path: os.PathLike, mask: np.ndarray | None, expected_trials: int | None) -> np.ndarray:
    img = load_nifti(path)
    if len(img.shape) != 4:
        raise ValueError(f"{path}: betas must be 4-D (X, Y, Z, T), found shape {img.shape}")
    # Checked from the header, before the (gzip) volume is decompressed.
    _check_trials(path, img.get_data_dtype(), img.shape[3], expected_trials)
    slope, inter = img.dataobj.slope, img.dataobj.inter
    if slope != 1 or inter != 0:
        raise ValueError(
            f"{path}: betas carry scl_slope={slope}, scl_inter={inter}; NSD stores unscaled int16 (PSC x 300)"
        )
    volume_shape, n_trials = img.shape[:3], img.shape[3]
    if mask is None:
        mask = np.ones(volume_shape, dtype=bool)
    _check_mask(path, mask, volume_shape)
    # On disk each trial is one volume with X fastest, i.e. a C-order (Z, Y, X) array.
    selected = mask.T.ravel()
    frame_size = selected.size
    zyx_betas = np.empty((n_trials, int(mask.sum())), dtype=np.int16)
    with ImageOpener(path) as handle:  # nibabel's opener: plain or gzip, streamed
        handle.seek(int(img.dataobj.offset))
        for trial in range(n_trials):
            try:
                frame = np.frombuffer(handle.read(2 * frame_size), dtype=img.get_data_dtype())
            except (EOFError, OSError, zlib.error) as error:
                raise ValueError(f"{path}: corrupt or truncated at trial {trial + 1} of {n_trials}: {error}") from error
            if frame.size != frame_size:
                raise ValueError(f"{path}: corrupt or truncated at trial {trial + 1} of {n_trials}: file ends")
            zyx_betas[trial] = frame[selected]
    return zyx_betas[:, _xyz_columns(mask)]


def read_betas_session(
    path: str | os.PathLike,
    mask: np.ndarray | None = None,
    *,
    expected_trials: int | None = None,
) -> np.ndarray:
    """Read one session of betas, optionally only the voxels of a mask.

    Parameters
    ----------
    path : path-like
        ``betas_sessionNN.hdf5`` (``/betas`` of shape (T, Z, Y, X)) or
        ``betas_sessionNN.nii.gz`` (shape (X, Y, Z, T)).
    mask : ndarray of bool, shape (X, Y, Z), optional
        In NIfTI orientation for both formats. ``None`` reads the whole volume.
    expected_trials : int, optional
        Fail unless the file holds exactly this many trials.

    Returns
    -------
    ndarray of int16, shape (n_trials, n_voxels)
        Raw betas (PSC x 300). Voxels in C order of (X, Y, Z), i.e. the order
        of ``volume[mask]``, for either format; ``n_voxels = X*Y*Z`` without a mask.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        Unknown extension, wrong dtype (or NIfTI scaling), trial count or
        shape, or a mask that is empty or not a 3-D bool array; the message
        names the file.
    """
    name = Path(path).name
    if not name.endswith((".hdf5", ".h5", ".nii.gz", ".nii")):
        raise ValueError(f"{path}: betas must be .hdf5/.h5 or .nii.gz/.nii")
    if not Path(path).is_file():
        raise FileNotFoundError(f"betas file not found: {path}")
    if name.endswith((".hdf5", ".h5")):
        betas = _read_hdf5(path, mask, expected_trials)
    else:
        betas = _read_nifti(path, mask, expected_trials)
    logger.debug("%s: read %d trials x %d voxels", path, *betas.shape)
    return betas
