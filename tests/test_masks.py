"""Stream masks from ROI labels, intersection with nsdgeneral, overlap rules, counts, mask files."""

import nibabel as nib
import numpy as np
import pytest

from nsdrecon.masks import load_mask, save_mask, stream_masks, voxel_count_table
from nsdrecon.nsd import RoiVolume
from tests.nsd_testfiles import nsd_affine

PRF = {1: "V1v", 2: "V1d", 3: "V2v", 4: "V2d", 5: "V3v", 6: "V3d", 7: "hV4"}
STREAMS = {1: "early", 2: "midventral", 3: "midlateral", 4: "midparietal", 5: "ventral", 6: "lateral", 7: "parietal"}
FACES = {1: "OFA", 2: "FFA-1", 3: "FFA-2", 4: "mTL-faces", 5: "aTL-faces"}
SHAPE = (7, 6, 5)
AFFINE = nsd_affine(SHAPE)
LABEL_SETS = {
    "structural": {"prf-visualrois": ["V1v", "V1d"], "streams": ["early"]},
    "semantic": {"streams": ["ventral"], "floc-faces": "all"},
}


def roi(data, labels, name):
    return RoiVolume(data=np.asarray(data, dtype=np.int16), affine=AFFINE, labels=labels, path=f"{name}.nii.gz")


@pytest.fixture
def rois():
    rng = np.random.default_rng(0)
    return {
        "prf-visualrois": roi(rng.integers(-1, 8, SHAPE), PRF, "prf-visualrois"),
        "streams": roi(rng.integers(-1, 8, SHAPE), STREAMS, "streams"),
        "floc-faces": roi(rng.integers(-1, 6, SHAPE), FACES, "floc-faces"),
    }


@pytest.fixture
def nsdgeneral():
    return roi(np.random.default_rng(1).integers(-1, 2, SHAPE), {1: "nsdgeneral"}, "nsdgeneral")


def expected_streams(rois, nsdgeneral):
    general = nsdgeneral.data > 0
    prf, streams, faces = (rois[name].data for name in ("prf-visualrois", "streams", "floc-faces"))
    structural = (np.isin(prf, [1, 2]) | (streams == 1)) & general
    semantic = ((streams == 5) | (faces > 0)) & general
    return structural, semantic


@pytest.mark.parametrize("overlap", ["structural", "semantic", "both"])
def test_streams_are_label_unions_within_nsdgeneral_with_overlap_rule(rois, nsdgeneral, overlap):
    structural, semantic = expected_streams(rois, nsdgeneral)
    shared = structural & semantic
    assert shared.sum() > 5 and (structural & ~semantic).any()  # the fixture exercises the rule
    masks = stream_masks(rois, LABEL_SETS, nsdgeneral, overlap=overlap)
    assert list(masks) == ["structural", "semantic"]
    np.testing.assert_array_equal(masks["structural"], structural & ~shared if overlap == "semantic" else structural)
    np.testing.assert_array_equal(masks["semantic"], semantic & ~shared if overlap == "structural" else semantic)
    assert not (masks["structural"] & (nsdgeneral.data <= 0)).any()


def test_without_intersect_keeps_voxels_outside_nsdgeneral(rois, nsdgeneral):
    masks = stream_masks(rois, LABEL_SETS, None, overlap="both")
    structural, _ = expected_streams(rois, nsdgeneral)
    assert masks["structural"].sum() > structural.sum()
    np.testing.assert_array_equal(masks["structural"] & (nsdgeneral.data > 0), structural)


def test_unknown_roi_label_and_overlap_names_list_the_allowed_ones(rois, nsdgeneral):
    with pytest.raises(
        ValueError, match=r"unknown ROI\(s\) \['floc-cars'\]; allowed: \['floc-faces', 'prf-visualrois', 'streams'\]"
    ):
        stream_masks(rois, {"semantic": {"floc-cars": "all"}}, nsdgeneral, overlap="both")
    with pytest.raises(
        ValueError, match=r"streams\.nii\.gz: unknown label\(s\) \['V1'\]; allowed: \['early', 'midventral'"
    ):
        stream_masks(rois, {"structural": {"streams": ["V1"]}}, nsdgeneral, overlap="both")
    with pytest.raises(ValueError, match=r"overlap must be one of \['structural', 'semantic', 'both'\], got 'either'"):
        stream_masks(rois, LABEL_SETS, nsdgeneral, overlap="either")


def test_empty_stream_is_named(rois, nsdgeneral):
    rois["floc-faces"] = roi(np.zeros(SHAPE), FACES, "floc-faces")
    with pytest.raises(ValueError, match=r"stream 'faces' has no voxels"):
        stream_masks(rois, {**LABEL_SETS, "faces": {"floc-faces": "all"}}, nsdgeneral)


def test_rois_on_different_grids_are_rejected(rois, nsdgeneral):
    small = roi(np.ones((7, 6, 4)), {1: "nsdgeneral"}, "other")
    with pytest.raises(ValueError, match=r"different grids: .* \(7, 6, 5\) vs other\.nii\.gz \(7, 6, 4\)"):
        stream_masks(rois, LABEL_SETS, small)


def test_voxel_count_table_counts_labels_inside_each_mask():
    prf = roi(np.array([1, 1, 2, 7, 0, -1, 2]).reshape(7, 1, 1), {1: "V1v", 2: "V1d", 7: "hV4"}, "prf")
    masks = {"structural": np.array([1, 1, 1, 0, 1, 1, 0], bool).reshape(7, 1, 1)}
    table = voxel_count_table(masks, {"prf-visualrois": prf}, "subj01")
    assert table.columns.tolist() == ["subject", "stream", "roi", "label", "n_voxels"]
    counts = dict(zip(table["label"], table["n_voxels"]))
    assert counts == {"V1v": 2, "V1d": 1, "hV4": 0, "total": 5}
    assert set(table["subject"]) == {"subj01"} and table["roi"].tolist()[-1] == "total"


def test_save_and_load_mask_round_trip_as_uint8(tmp_path):
    mask = np.random.default_rng(2).random(SHAPE) < 0.3
    path = tmp_path / "masks" / "structural.nii.gz"
    save_mask(mask, AFFINE, path)
    assert nib.load(path).get_data_dtype() == np.uint8
    loaded, affine = load_mask(path)
    np.testing.assert_array_equal(loaded, mask)
    np.testing.assert_allclose(affine, AFFINE)
    assert [p.name for p in path.parent.iterdir()] == ["structural.nii.gz"]


def test_load_mask_rejects_non_binary_and_empty_masks(tmp_path):
    data = np.zeros(SHAPE, dtype=np.int16)
    data[0, 0, :3] = [1, 2, -1]
    nib.save(nib.Nifti1Image(data, AFFINE), tmp_path / "bad.nii.gz")
    with pytest.raises(ValueError, match=r"bad\.nii\.gz: mask must hold only 0 and 1, found values \[-1, 0, 1, 2\]"):
        load_mask(tmp_path / "bad.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros(SHAPE, np.uint8), AFFINE), tmp_path / "empty.nii.gz")
    with pytest.raises(ValueError, match="mask is empty"):
        load_mask(tmp_path / "empty.nii.gz")
    with pytest.raises(ValueError, match="refusing to write an empty mask"):
        save_mask(np.zeros(SHAPE, bool), AFFINE, tmp_path / "out.nii.gz")
