"""Maps on fsaverage: the structural share, relative weights, mean and deviations, ROI groups, files."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from nsdrecon.cortex import (
    FSAVERAGE5_VERTICES,
    FSAVERAGE_VERTICES,
    across_subjects,
    read_fsaverage_label,
    read_surface_values,
    relative_weight,
    structural_share,
    to_fsaverage5,
    vertex_roi_groups,
    write_fsaverage_label,
    write_surface_values,
)


def test_structural_share_where_a_vertex_reads_a_stream():
    structural = np.array([3.0, 0.0, 1.0, -0.5, 2.0, 0.0])
    semantic = np.array([1.0, 2.0, 1.0, 0.5, 0.0, 0.0])
    reads_s = np.array([True, False, True, True, False, True])
    reads_m = np.array([False, True, True, True, False, True])
    share = structural_share(structural, semantic, reads_s, reads_m)
    # |w_s| / (|w_s| + |w_m|); undefined where neither stream is read or no weight reaches the vertex
    np.testing.assert_allclose(share, [0.75, 0.0, 0.5, 0.5, np.nan, np.nan])


def test_relative_weight_is_one_on_average_over_the_streams_vertices():
    values = np.array([2.0, 4.0, 6.0, 100.0])
    reads = np.array([True, True, True, False])
    np.testing.assert_allclose(relative_weight(values, reads), [0.5, 1.0, 1.5, 25.0])
    with pytest.raises(ValueError, match="no vertex reads"):
        relative_weight(values, np.zeros(4, bool))


def test_mean_across_subjects_and_deviations():
    a = np.array([[1.0, 0.2], [3.0, np.nan]])
    b = np.array([[3.0, 0.6], [5.0, 0.4]])
    c = np.array([[5.0, np.nan], [7.0, np.nan]])
    mean, deviations = across_subjects({"s1": a, "s2": b, "s3": c}, ["w", "share"])
    np.testing.assert_allclose(mean, [[3.0, 0.4], [5.0, 0.4]])  # each over the subjects where it is defined
    np.testing.assert_allclose(deviations["s1"], [[-2.0, -0.2], [-2.0, np.nan]])
    np.testing.assert_allclose(deviations["s3"], [[2.0, np.nan], [2.0, np.nan]])
    with pytest.raises(ValueError, match="one shape"):
        across_subjects({"s1": a, "s2": b[:1]}, ["w", "share"])


def test_roi_groups_take_the_first_group_holding_a_vertex():
    labels = {"prf-visualrois": np.array([1, 2, 3, 0, 0]), "streams": np.array([1, 1, 1, 5, 0])}
    tables = {"prf-visualrois": {0: "Unknown", 1: "V1v", 2: "V1d", 3: "V2v"}, "streams": {1: "early", 5: "ventral"}}
    groups = {"V1": {"prf-visualrois": ["V1v", "V1d"]}, "early": {"streams": ["early"]}, "ventral": {"streams": "all"}}
    np.testing.assert_array_equal(vertex_roi_groups(labels, tables, groups), [1, 1, 2, 3, 0])
    with pytest.raises(ValueError, match="no label"):
        vertex_roi_groups(labels, tables, {"x": {"streams": ["lateral"]}})


def test_values_round_trip_through_mgh_and_gifti(tmp_path):
    values = np.random.default_rng(0).normal(size=(12, 3)).astype(np.float32)
    values[4, 2] = np.nan
    names = ["structural.latent", "semantic.image", "structural_share"]
    write_surface_values(values, names, tmp_path / "lh.m.mgh", tmp_path / "lh.m.func.gii")
    back, back_names = read_surface_values(tmp_path / "lh.m.func.gii")
    assert back_names == names
    np.testing.assert_array_equal(back, values)
    mgh = nib.load(tmp_path / "lh.m.mgh")
    assert mgh.shape == (12, 1, 1, 3)
    np.testing.assert_array_equal(mgh.get_fdata()[:, 0, 0, :], values)


def test_labels_and_fsaverage5_vertices(tmp_path):
    labels = np.array([0, 1, 7, 2, 0])
    write_fsaverage_label(tmp_path / "lh.x.mgz", labels)
    np.testing.assert_array_equal(read_fsaverage_label(tmp_path / "lh.x.mgz"), labels)
    # fsaverage (ico7) lists fsaverage5's (ico5) vertices first
    full = np.arange(FSAVERAGE_VERTICES)
    np.testing.assert_array_equal(to_fsaverage5(full), np.arange(FSAVERAGE5_VERTICES))
    assert to_fsaverage5(np.zeros(FSAVERAGE5_VERTICES)).shape == (FSAVERAGE5_VERTICES,)
    with pytest.raises(ValueError, match="163842"):
        to_fsaverage5(np.zeros(40962))
