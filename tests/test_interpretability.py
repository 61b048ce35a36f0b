"""Tests of nsdrecon.interpretability: voxel weight magnitudes, ROI groups and shares, stream overlap."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from nsdrecon.interpretability import roi_weight_shares, stream_overlap, voxel_roi_groups, voxel_weight_magnitude
from nsdrecon.nsd import RoiVolume


class Factored(nn.Module):
    """A rank-r input projection ``x @ a @ b``, as the ridge-initialised decoders hold it."""

    def __init__(self, a: torch.Tensor, b: torch.Tensor):
        super().__init__()
        self.a = nn.Parameter(a)
        self.b = nn.Parameter(b)


class Decoder(nn.Module):
    def __init__(self, linear: nn.Module):
        super().__init__()
        self.linear = linear


def test_weight_magnitude_is_the_row_norm_of_the_input_projection():
    torch.manual_seed(0)
    a, b = torch.randn(7, 3), torch.randn(3, 11)
    expected = torch.linalg.norm(a @ b, dim=1).numpy()
    np.testing.assert_allclose(voxel_weight_magnitude(Decoder(Factored(a, b))), expected, rtol=1e-6)

    dense = nn.Linear(7, 5)  # weight (out, in): a voxel's weights are a column
    np.testing.assert_allclose(
        voxel_weight_magnitude(Decoder(dense)), torch.linalg.norm(dense.weight, dim=0).detach().numpy(), rtol=1e-6
    )
    # several projections (CLIP image and text): the norm over all their weights together
    c, d = torch.randn(7, 2), torch.randn(2, 4)
    both = voxel_weight_magnitude(Decoder(nn.ModuleDict({"image": Factored(a, b), "text": Factored(c, d)})))
    np.testing.assert_allclose(both, torch.linalg.norm(torch.cat([a @ b, c @ d], 1), dim=1).numpy(), rtol=1e-6)

    with pytest.raises(ValueError, match="no input projection"):
        voxel_weight_magnitude(nn.Sequential(nn.Linear(3, 2)))
    with pytest.raises(TypeError, match="cannot read input weights from a Conv1d"):
        voxel_weight_magnitude(Decoder(nn.Conv1d(1, 1, 3)))


@pytest.fixture
def rois():
    """A 4x1x1 grid: prf labels V1 at x=0, V2 at x=1; streams 'early' at x=0..2; x=3 unlabelled."""
    prf = RoiVolume(np.array([1, 2, 0, 0]).reshape(4, 1, 1), np.eye(4), {1: "V1v", 2: "V2v"}, "prf.nii.gz")
    streams = RoiVolume(np.array([1, 1, 1, -1]).reshape(4, 1, 1), np.eye(4), {1: "early", 2: "ventral"}, "st.nii.gz")
    return {"prf-visualrois": prf, "streams": streams}


def test_voxels_take_the_first_group_that_holds_them(rois):
    ijk = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0]])
    groups = {"V1": {"prf-visualrois": ["V1v"]}, "V2": {"prf-visualrois": ["V2v"]}, "early": {"streams": ["early"]}}
    assert voxel_roi_groups(ijk, rois, groups).tolist() == ["V1", "V2", "early", "other"]
    reordered = {"early": groups["early"], "V1": groups["V1"]}
    assert voxel_roi_groups(ijk, rois, reordered).tolist() == ["early", "early", "early", "other"]
    with pytest.raises(ValueError, match=r"unknown ROI\(s\) \['floc-faces'\]"):
        voxel_roi_groups(ijk, rois, {"faces": {"floc-faces": "all"}})
    with pytest.raises(ValueError, match="outside"):
        voxel_roi_groups(np.array([[4, 0, 0]]), rois, groups)


def test_roi_weight_shares_sum_to_one_per_subject_and_stream():
    weights = pd.DataFrame(
        {
            "subject": ["subj01"] * 4 + ["subj02"] * 2,
            "stream": ["structural", "structural", "structural", "semantic", "structural", "structural"],
            "roi_group": ["V1", "V1", "other", "faces", "V2", "V1"],
            "weight": [1.0, 2.0, 1.0, 5.0, 3.0, 1.0],
        }
    )
    table = roi_weight_shares(weights, ["V1", "V2", "faces"])
    groups = table[(table["subject"] == "subj01") & (table["stream"] == "structural")]["roi_group"].tolist()
    assert groups == ["V1", "V2", "faces", "other"]  # configured order, "other" last
    shares = table.set_index(["subject", "stream", "roi_group"]).sort_index()
    assert shares.loc[("subj01", "structural", "V1"), "share"] == pytest.approx(0.75)
    assert shares.loc[("subj01", "structural", "other"), "share"] == pytest.approx(0.25)
    assert shares.loc[("subj01", "structural", "V2"), ["n_voxels", "share"]].tolist() == [0, 0]
    assert shares.loc[("subj02", "structural", "V2"), "share"] == pytest.approx(0.75)
    assert shares.loc[("subj01", "semantic", "faces"), "share"] == pytest.approx(1.0)
    np.testing.assert_allclose(shares.groupby(level=["subject", "stream"])["share"].sum(), 1.0)
    with pytest.raises(ValueError, match=r"lacks columns \['weight'\]"):
        roi_weight_shares(weights.drop(columns="weight"))


def test_stream_overlap_counts_and_dice():
    structural = np.zeros((4, 4, 1), dtype=bool)
    semantic = np.zeros((4, 4, 1), dtype=bool)
    structural[:2] = True  # 8 voxels
    semantic[1:] = True  # 12 voxels, 4 shared
    row = stream_overlap({"structural": structural, "semantic": semantic}, "subj05")
    assert row == {"subject": "subj05", "structural_only": 4, "semantic_only": 8, "both": 4, "dice": pytest.approx(0.4)}
