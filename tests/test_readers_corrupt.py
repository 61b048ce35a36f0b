"""A damaged input file is named in the error, with what is wrong, by every NSD reader."""

from __future__ import annotations

import re

import numpy as np
import pytest

from nsdrecon.fileformats import CorruptFileError
from nsdrecon.h5io import load_arrays, save_arrays
from nsdrecon.nsd import read_betas_session, read_expdesign, read_stimuli
from nsdrecon.nsd.rois import read_roi
from tests.nsd_testfiles import write_betas_pair, write_expdesign, write_nifti


def _truncate(path, keep: float = 0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


@pytest.fixture
def betas_files(tmp_path):
    betas = np.arange(4 * 5 * 3 * 6, dtype=np.int16).reshape(4, 5, 3, 6)
    return write_betas_pair(tmp_path, 1, betas)


def test_truncated_hdf5_betas_name_the_file(betas_files):
    hdf5, _ = betas_files
    _truncate(hdf5)
    with pytest.raises(CorruptFileError, match=re.escape(f"{hdf5}: ") + r"truncated or not an HDF5 file"):
        read_betas_session(hdf5)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_damaged_nifti_roi_names_the_file(tmp_path, damage):
    roi = write_nifti(tmp_path / "prf-visualrois.nii.gz", np.arange(6 * 7 * 8, dtype=np.int16).reshape(6, 7, 8) % 5)
    if damage == "garbage":
        roi.write_bytes(b"\x1f\x8b" + bytes(range(200)))  # a gzip magic, then not gzip
    else:
        _truncate(roi, 0.6)
    with pytest.raises(CorruptFileError, match=re.escape(f"{roi}: ") + r"not a readable NIfTI file"):
        read_roi(roi)


def test_corrupt_expdesign_names_the_file(tmp_path):
    path = write_expdesign(tmp_path / "nsd_expdesign.mat", [1, 2, 1, 2], [[1, 2], [2, 1]], [1])
    data = bytearray(path.read_bytes())
    data[124:128] = b"\xc3\x90\x00\x00"  # the version and endian bytes of the MATLAB v5 header
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match=re.escape(f"{path}: ") + r"not a readable MATLAB v5 file"):
        read_expdesign(path)


def test_truncated_stimuli_and_intermediates_name_the_file(tmp_path):
    stimuli = tmp_path / "nsd_stimuli.hdf5"
    save_arrays(stimuli, {"imgBrick": np.zeros((3, 8, 8, 3), np.uint8)})
    _truncate(stimuli, 0.3)
    with pytest.raises(CorruptFileError, match=re.escape(f"{stimuli}: ") + r"truncated or not an HDF5 file"):
        read_stimuli(stimuli, [0])
    with pytest.raises(CorruptFileError, match=re.escape(f"{stimuli}: ") + r"truncated"):
        load_arrays(stimuli)
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        load_arrays(tmp_path / "missing.h5")
