"""Open the input formats (HDF5, MATLAB v5, NIfTI) so that a corrupt file is named in the error.

h5py, scipy and nibabel report a damaged file in their own terms ("truncated
file: eof = ...", "Unknown mat file type, version 195, 144") and often without
its path. These openers raise :class:`CorruptFileError` with the path and what
is wrong, and :class:`FileNotFoundError` for a missing file.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import scipy.io
from nibabel.filebasedimages import ImageFileError

__all__ = ["CorruptFileError", "load_mat", "load_nifti", "open_hdf5"]


class CorruptFileError(ValueError):
    """An input file that exists but cannot be read as its format: truncated, damaged or another format."""


def _exists(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def open_hdf5(path: str | os.PathLike, mode: str = "r") -> h5py.File:
    """``h5py.File(path, mode)`` for an existing file; a damaged one raises :class:`CorruptFileError`."""
    path = _exists(path, "HDF5 file")
    try:
        return h5py.File(path, mode)
    except OSError as error:
        raise CorruptFileError(
            f"{path}: truncated or not an HDF5 file ({str(error).splitlines()[0]}); "
            "delete it and rerun to download or rebuild it"
        ) from error


def load_mat(path: str | os.PathLike) -> dict:
    """``scipy.io.loadmat(path)``; a damaged file raises :class:`CorruptFileError`."""
    path = _exists(path, "MATLAB file")
    try:
        return scipy.io.loadmat(path)
    except (ValueError, TypeError, OSError, EOFError, zlib.error, scipy.io.matlab.MatReadError) as error:
        raise CorruptFileError(
            f"{path}: not a readable MATLAB v5 file, truncated or damaged ({error}); delete it and rerun to download it"
        ) from error


def load_nifti(path: str | os.PathLike, with_data: bool = False):
    """``nibabel.load(path)`` (and, ``with_data``, its voxel array): a damaged file raises :class:`CorruptFileError`.

    Without ``with_data`` only the header is read here; the caller streams the data.
    """
    path = _exists(path, "NIfTI file")
    try:
        img = nib.load(path)
        return (img, np.asanyarray(img.dataobj)) if with_data else img
    except (ImageFileError, OSError, EOFError, zlib.error, ValueError) as error:
        raise CorruptFileError(
            f"{path}: not a readable NIfTI file, truncated or damaged ({error}); delete it and rerun to download it"
        ) from error
