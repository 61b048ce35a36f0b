"""One beta session from HDF5 (T, Z, Y, X) and NIfTI (X, Y, Z, T): same values, same voxel order."""

import re

import h5py
import nibabel as nib
import numpy as np
import pytest

from nsdrecon.nsd import read_betas_session
from tests.nsd_testfiles import write_betas_pair, write_nifti

SHAPE = (3, 4, 5)  # X, Y, Z all different so a transposed read cannot pass
N_TRIALS = 6
# Deliberately unsorted; in C order of (X, Y, Z) they are (0,0,0), (0,1,2), (1,3,0), (2,0,4), (2,3,1),
# whereas C order of (Z, Y, X) would give (0,0,0), (1,3,0), (2,3,1), (0,1,2), (2,0,4).
VOXELS = [(2, 0, 4), (0, 1, 2), (1, 3, 0), (2, 3, 1), (0, 0, 0)]
XYZ_ORDER = [(0, 0, 0), (0, 1, 2), (1, 3, 0), (2, 0, 4), (2, 3, 1)]


@pytest.fixture
def session(tmp_path):
    betas = np.random.default_rng(0).integers(-3000, 3000, (*SHAPE, N_TRIALS), dtype=np.int16)
    hdf5, nifti = write_betas_pair(tmp_path, 1, betas)
    mask = np.zeros(SHAPE, dtype=bool)
    mask[tuple(np.array(VOXELS).T)] = True
    return betas, hdf5, nifti, mask


def test_hdf5_and_nifti_give_identical_arrays_in_xyz_order(session):
    betas, hdf5, nifti, mask = session
    expected = np.stack([betas[voxel] for voxel in XYZ_ORDER], axis=1)  # (T, 5), hand-indexed
    from_hdf5 = read_betas_session(hdf5, mask, expected_trials=N_TRIALS)
    from_nifti = read_betas_session(nifti, mask, expected_trials=N_TRIALS)
    assert from_hdf5.dtype == np.int16 and from_hdf5.shape == (N_TRIALS, 5)
    np.testing.assert_array_equal(from_nifti, expected)
    np.testing.assert_array_equal(from_hdf5, expected)


def test_hdf5_mask_with_long_runs_matches_nifti(session, tmp_path):
    betas, hdf5, nifti, _ = session
    mask = np.random.default_rng(1).random(SHAPE) < 0.6
    mask[:, 2, :] = True  # full lines along X as well as isolated voxels
    np.testing.assert_array_equal(read_betas_session(hdf5, mask), read_betas_session(nifti, mask))
    np.testing.assert_array_equal(read_betas_session(hdf5, mask), betas[mask].T)


def test_without_mask_both_formats_return_the_whole_volume(session):
    betas, hdf5, nifti, _ = session
    expected = betas.reshape(-1, N_TRIALS).T
    np.testing.assert_array_equal(read_betas_session(hdf5), expected)
    np.testing.assert_array_equal(read_betas_session(nifti), expected)


@pytest.mark.parametrize("fmt", ["hdf5", "nifti"])
def test_mask_of_wrong_shape_names_file_and_shapes(session, fmt):
    _, hdf5, nifti, _ = session
    path = hdf5 if fmt == "hdf5" else nifti
    with pytest.raises(
        ValueError, match=rf"{path.name}: volume is \(X, Y, Z\) = \(3, 4, 5\) but the mask is \(5, 4, 3\)"
    ):
        read_betas_session(path, np.ones((5, 4, 3), dtype=bool))


@pytest.mark.parametrize("fmt", ["hdf5", "nifti"])
def test_wrong_trial_count_is_reported(session, fmt):
    _, hdf5, nifti, mask = session
    path = hdf5 if fmt == "hdf5" else nifti
    with pytest.raises(ValueError, match=rf"{path.name}: expected 750 trials, found 6"):
        read_betas_session(path, mask, expected_trials=750)


def test_wrong_dtype_and_rank_are_reported(tmp_path):
    path = tmp_path / "betas_session01.hdf5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("betas", data=np.zeros((6, 5, 4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="must be int16 .* found float32"):
        read_betas_session(path)
    nifti = write_nifti(tmp_path / "betas_session02.nii.gz", np.zeros(SHAPE, dtype=np.int16))
    with pytest.raises(ValueError, match=r"must be 4-D \(X, Y, Z, T\), found shape \(3, 4, 5\)"):
        read_betas_session(nifti)


def test_missing_dataset_and_unknown_extension(tmp_path):
    path = tmp_path / "betas_session01.hdf5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("data", data=np.zeros(3))
    with pytest.raises(ValueError, match=r"no '/betas' dataset; found \['data'\]"):
        read_betas_session(path)
    with pytest.raises(ValueError, match=r"must be \.hdf5/\.h5 or \.nii\.gz/\.nii"):
        read_betas_session(tmp_path / "betas_session01.mat")


def test_nifti_float_and_scaled_betas_are_rejected_from_the_header(tmp_path):
    floats = write_nifti(tmp_path / "betas_session01.nii.gz", np.zeros((*SHAPE, N_TRIALS), dtype=np.float32))
    with pytest.raises(ValueError, match=r"betas_session01\.nii\.gz: betas must be int16 .* found float32"):
        read_betas_session(floats)
    # float data stored as int16 makes nibabel write scl_slope != 1: the array read would not be PSC x 300
    scaled = tmp_path / "betas_session02.nii.gz"
    img = nib.Nifti1Image(np.linspace(-0.5, 0.5, np.prod(SHAPE) * N_TRIALS).reshape(*SHAPE, N_TRIALS), np.eye(4))
    img.set_data_dtype(np.int16)
    nib.save(img, scaled)
    with pytest.raises(ValueError, match=r"betas_session02\.nii\.gz: betas carry scl_slope=.*unscaled int16"):
        read_betas_session(scaled)


def test_hdf5_betas_of_wrong_rank_are_rejected(tmp_path):
    path = tmp_path / "betas_session01.hdf5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("betas", data=np.zeros((6, 60), dtype=np.int16))
    with pytest.raises(
        ValueError, match=r"betas_session01\.hdf5: '/betas' must be 4-D \(T, Z, Y, X\), found shape \(6, 60\)"
    ):
        read_betas_session(path)


@pytest.mark.parametrize("fmt", ["hdf5", "nifti"])
def test_empty_or_non_boolean_mask_is_rejected(session, fmt):
    _, hdf5, nifti, mask = session
    path = hdf5 if fmt == "hdf5" else nifti
    with pytest.raises(ValueError, match=rf"mask for .*{path.name} selects no voxels"):
        read_betas_session(path, np.zeros(SHAPE, dtype=bool))
    with pytest.raises(ValueError, match=r"must be a 3-D bool array \(X, Y, Z\), got uint8 \(3, 4, 5\)"):
        read_betas_session(path, mask.astype(np.uint8))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"betas file not found: .*betas_session07\.hdf5"):
        read_betas_session(tmp_path / "betas_session07.hdf5")


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
def test_truncated_nifti_is_named_with_the_trial_it_ends_in(tmp_path, suffix):
    betas = np.random.default_rng(5).integers(-3000, 3000, (*SHAPE, 300), dtype=np.int16)
    path = write_nifti(tmp_path / f"betas_session01{suffix}", betas)
    content = path.read_bytes()
    path.write_bytes(content[: len(content) * 2 // 3])  # cuts the data, keeps the header
    with pytest.raises(
        ValueError, match=rf"betas_session01{re.escape(suffix)}: corrupt or truncated at trial \d+ of 300"
    ):
        read_betas_session(path)
