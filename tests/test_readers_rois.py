"""ROI volumes (-1/0/1..N) and ctab label tables."""

import numpy as np
import pytest

from nsdrecon.nsd import read_ctab, read_roi
from tests.nsd_testfiles import nsd_affine, write_ctab, write_nifti

VISUAL = {0: "Unknown", 1: "V1v", 2: "V1d", 3: "V2v", 4: "V2d", 5: "V3v", 6: "V3d", 7: "hV4"}


def roi_volume(rng, n_labels=7, shape=(5, 6, 4)):
    return rng.integers(-1, n_labels + 1, shape).astype(np.float32)


def test_read_ctab_strips_names_and_accepts_colour_columns(tmp_path):
    path = tmp_path / "a.ctab"
    path.write_text("0 Unknown\t\n1  V1v \t\n\n# comment\n2 FFA-1 255 0 0 0\n3 mTL-faces\n")
    assert read_ctab(path) == {0: "Unknown", 1: "V1v", 2: "FFA-1", 3: "mTL-faces"}


def test_read_ctab_rejects_malformed_and_duplicate_lines(tmp_path):
    path = tmp_path / "bad.ctab"
    path.write_text("0 Unknown\nV1v\n")
    with pytest.raises(ValueError, match=r"bad\.ctab: line 2 is not 'index name'"):
        read_ctab(path)
    path.write_text("1 V1v\n1 V1d\n")
    with pytest.raises(ValueError, match="label index 1 appears twice"):
        read_ctab(path)


def test_read_roi_returns_int16_volume_and_positive_labels(tmp_path):
    data = roi_volume(np.random.default_rng(0))
    path = write_nifti(tmp_path / "prf-visualrois.nii.gz", data)
    roi = read_roi(path, write_ctab(tmp_path / "prf-visualrois.mgz.ctab", VISUAL))
    assert roi.data.dtype == np.int16 and roi.data.shape == (5, 6, 4)
    np.testing.assert_array_equal(roi.data, data.astype(np.int16))
    np.testing.assert_allclose(roi.affine, nsd_affine(data.shape))
    assert roi.labels == {k: v for k, v in VISUAL.items() if k > 0}
    np.testing.assert_array_equal(roi.mask(["V1v", "hV4"]), (data == 1) | (data == 7))
    np.testing.assert_array_equal(roi.mask("all"), data > 0)


def test_read_roi_without_ctab_names_labels_by_value(tmp_path):
    data = np.array([-1, 0, 1, 1, 3], dtype=np.int16).reshape(5, 1, 1)
    roi = read_roi(write_nifti(tmp_path / "r.nii.gz", data))
    assert roi.labels == {1: "1", 3: "3"}


@pytest.mark.parametrize("bad_value", [-2.0, 0.5])
def test_unexpected_roi_value_is_rejected(tmp_path, bad_value):
    data = roi_volume(np.random.default_rng(1))
    data[2, 3, 1] = bad_value
    path = write_nifti(tmp_path / "streams.nii.gz", data)
    with pytest.raises(ValueError, match=rf"streams\.nii\.gz: .*unexpected values \[{bad_value}\]"):
        read_roi(path)


def test_roi_label_missing_from_ctab_is_rejected(tmp_path):
    data = roi_volume(np.random.default_rng(2), n_labels=9)
    path = write_nifti(tmp_path / "prf-visualrois.nii.gz", data)
    with pytest.raises(ValueError, match=r"label values \[8, 9\] are not in"):
        read_roi(path, write_ctab(tmp_path / "prf-visualrois.mgz.ctab", VISUAL))


def test_unknown_label_name_lists_allowed_names(tmp_path):
    data = roi_volume(np.random.default_rng(3))
    roi = read_roi(write_nifti(tmp_path / "r.nii.gz", data), write_ctab(tmp_path / "r.ctab", VISUAL))
    with pytest.raises(ValueError, match=r"unknown label\(s\) \['V5'\]; allowed: \['V1v', 'V1d'"):
        roi.mask(["V1v", "V5"])


def test_roi_volume_must_be_3d_but_a_singleton_fourth_axis_is_dropped(tmp_path):
    data = roi_volume(np.random.default_rng(4))
    roi = read_roi(write_nifti(tmp_path / "single.nii.gz", data[..., None]))
    np.testing.assert_array_equal(roi.data, data.astype(np.int16))
    path = write_nifti(tmp_path / "two.nii.gz", np.stack([data, data], axis=3))
    with pytest.raises(
        ValueError, match=r"two\.nii\.gz: ROI volume must be 3-D \(X, Y, Z\), found shape \(5, 6, 4, 2\)"
    ):
        read_roi(path)


def test_empty_ctab_is_rejected(tmp_path):
    path = tmp_path / "empty.mgz.ctab"
    path.write_text("# no labels\n\n")
    with pytest.raises(ValueError, match=r"empty\.mgz\.ctab: no labels found"):
        read_ctab(path)
