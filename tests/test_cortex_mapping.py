"""NSD's volume -> surface -> fsaverage mapping (nsdrecon.cortex.transforms) against independent computations."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch
from torch import nn

from nsdrecon.cortex import (
    HemisphereTransforms,
    native_to_fsaverage,
    read_surface_to_fsaverage,
    read_volume_to_surface,
    sample_volume,
    volume_to_fsaverage,
    volume_to_native_surface,
    write_surface_to_fsaverage,
    write_volume_to_surface,
)
from nsdrecon.interpretability import voxel_target_weights, voxel_weight_magnitude

_PAD = 40  # edge-extension of the reference: the far boundary's influence decays as 0.268**40 ~ 1e-23


def _bspline3(t: np.ndarray) -> np.ndarray:
    t = np.abs(t)
    return np.where(t < 1, 2 / 3 - t**2 + t**3 / 2, np.where(t < 2, (2 - t) ** 3 / 6, 0.0))


def _prefilter_axis(signal: np.ndarray, axis: int) -> np.ndarray:
    """Cubic B-spline coefficients along ``axis`` of the edge-extended signal, by solving (1 4 1)/6 c = s."""
    moved = np.moveaxis(signal, axis, 0)
    n = moved.shape[0]
    system = np.diag(np.full(n, 4 / 6)) + np.diag(np.full(n - 1, 1 / 6), 1) + np.diag(np.full(n - 1, 1 / 6), -1)
    system[0, 1] = system[-1, -2] = 2 / 6  # mirror at the far ends (40 samples away from the data)
    coefficients = np.linalg.solve(system, moved.reshape(n, -1)).reshape(moved.shape)
    return np.moveaxis(coefficients, 0, axis)


def reference_cubic(volume: np.ndarray, coords_1based: np.ndarray) -> np.ndarray:
    """Cubic B-spline interpolation of the edge-extended volume, written out from the definition."""
    coefficients = np.pad(volume.astype(np.float64), _PAD, mode="edge")
    for axis in range(3):
        coefficients = _prefilter_axis(coefficients, axis)
    x = coords_1based - 1 + _PAD
    base = np.floor(x).astype(int) - 1
    out = np.zeros(len(x))
    for a in range(4):
        for b in range(4):
            for c in range(4):
                idx = base + np.array([a, b, c])
                weight = _bspline3(x[:, 0] - idx[:, 0]) * _bspline3(x[:, 1] - idx[:, 1]) * _bspline3(x[:, 2] - idx[:, 2])
                out += weight * coefficients[idx[:, 0], idx[:, 1], idx[:, 2]]
    return out


def reference_linear(volume: np.ndarray, coords_1based: np.ndarray) -> np.ndarray:
    x = coords_1based - 1
    lo = np.clip(np.floor(x).astype(int), 0, np.asarray(volume.shape) - 2)
    f = x - lo
    out = np.zeros(len(x))
    for corner in np.ndindex(2, 2, 2):
        weight = np.prod(np.where(np.array(corner), f, 1 - f), axis=1)
        out += weight * volume[tuple((lo + np.array(corner)).T)]
    return out


@pytest.fixture
def volume():
    return np.random.default_rng(0).normal(size=(9, 11, 8)) * 50 + 100


def _inside_coords(rng, shape, n):
    return rng.uniform(1, np.asarray(shape), size=(n, 3))  # 1-based, anywhere within 1 <= c <= n


def test_cubic_sampling_matches_bspline_interpolation_written_out(volume):
    coords = _inside_coords(np.random.default_rng(1), volume.shape, 500)
    ours = sample_volume(volume, coords, "cubic")
    # scipy edge-extends by 12 voxels before its prefilter: 0.268**12 ~ 1.4e-7 of the data's scale
    np.testing.assert_allclose(ours, reference_cubic(volume, coords), rtol=0, atol=1e-6 * np.abs(volume).max())


def test_cubic_and_linear_reproduce_the_voxels_at_whole_1_based_coordinates(volume):
    ijk = np.argwhere(np.ones(volume.shape, bool))  # 0-based, every voxel, corners and edges included
    for interp in ("cubic", "linear", "nearest"):
        np.testing.assert_allclose(sample_volume(volume, ijk + 1.0, interp), volume[tuple(ijk.T)], rtol=1e-9)


def test_linear_and_nearest_sampling_against_direct_formulas(volume):
    coords = _inside_coords(np.random.default_rng(2), volume.shape, 400)
    np.testing.assert_allclose(sample_volume(volume, coords, "linear"), reference_linear(volume, coords), rtol=1e-12)
    nearest = volume[tuple(np.round(coords - 1).astype(int).T)]
    np.testing.assert_array_equal(sample_volume(volume, coords, "nearest"), nearest)


def test_missing_and_outside_locations_get_the_bad_value(volume):
    n = np.asarray(volume.shape, float)
    coords = np.array([
        [1.0, 1.0, 1.0],  # first voxel: inside
        n,  # last voxel: inside
        [0.99, 5, 5],  # before the first voxel
        [n[0] + 0.01, 5, 5],  # beyond the last
        [9999.0, 9999.0, 9999.0],  # NSD's mark of "no location"
        [np.nan, 2, 2],
    ])
    out = sample_volume(volume, coords, "cubic", badval=-7.0)
    assert out[0] == pytest.approx(volume[0, 0, 0]) and out[1] == pytest.approx(volume[-1, -1, -1])
    np.testing.assert_array_equal(out[2:], -7.0)


def test_depths_are_averaged_and_fsaverage_takes_1_based_native_vertices(volume):
    # three depths pointing at three known voxels per vertex
    depth_voxels = [np.array([[0, 0, 0], [2, 3, 4], [8, 10, 7]]), np.array([[1, 0, 0], [2, 3, 5], [8, 9, 7]]),
                    np.array([[2, 0, 0], [2, 4, 5], [7, 9, 7]])]
    native = volume_to_native_surface(volume, [v + 1.0 for v in depth_voxels], "cubic")
    expected = np.mean([volume[tuple(v.T)] for v in depth_voxels], axis=0)
    np.testing.assert_allclose(native, expected, rtol=1e-9)
    index = np.array([3, 1, 1, 2, 3])  # 1-based
    np.testing.assert_array_equal(native_to_fsaverage(native, index), [native[i - 1] for i in index])
    with pytest.raises(ValueError, match="native surface has 3 vertices"):
        native_to_fsaverage(native, np.array([1, 4]))


def test_transform_files_in_nsds_layout_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    coords = rng.uniform(1, 20, size=(50, 3))
    write_volume_to_surface(tmp_path / "lh.func1pt8-to-layerB1.mgz", coords)
    image = nib.load(tmp_path / "lh.func1pt8-to-layerB1.mgz")
    assert image.shape == (50, 1, 1, 3)  # as nsdcode reads it: get_fdata().reshape(V, -1, order="F")
    np.testing.assert_allclose(read_volume_to_surface(tmp_path / "lh.func1pt8-to-layerB1.mgz"), coords, rtol=1e-6)
    index = rng.integers(1, 51, size=70)
    write_surface_to_fsaverage(tmp_path / "lh.white-to-fsaverage.mgz", index)
    assert nib.load(tmp_path / "lh.white-to-fsaverage.mgz").shape == (70, 1, 1)
    np.testing.assert_array_equal(read_surface_to_fsaverage(tmp_path / "lh.white-to-fsaverage.mgz"), index)
    nib.save(nib.MGHImage(np.zeros((5, 1, 1), np.int32), np.eye(4)), tmp_path / "zero.mgz")
    with pytest.raises(ValueError, match="1-based"):
        read_surface_to_fsaverage(tmp_path / "zero.mgz")


def test_volume_to_fsaverage_composes_both_steps(tmp_path, volume):
    rng = np.random.default_rng(4)
    depths = [_inside_coords(rng, volume.shape, 30) for _ in range(3)]
    index = rng.integers(1, 31, size=100)
    transforms = HemisphereTransforms(tuple(depths), index)
    native = np.mean([reference_cubic(volume, d) for d in depths], axis=0)
    expected = np.array([native[i - 1] for i in index])
    np.testing.assert_allclose(volume_to_fsaverage(volume, transforms), expected, atol=1e-6 * np.abs(volume).max())
    with pytest.raises(ValueError, match="refers to native vertex 31"):
        HemisphereTransforms(tuple(depths), np.r_[index, 31])


class _Factored(nn.Module):
    def __init__(self, a, b):
        super().__init__()
        self.a, self.b = nn.Parameter(a), nn.Parameter(b)


class _Decoder(nn.Module):
    def __init__(self, linear, target_shapes):
        super().__init__()
        self.linear, self.target_shapes = linear, target_shapes


def test_per_target_weights_combine_to_the_streams_weight_magnitude():
    torch.manual_seed(0)
    a, b, c, d = torch.randn(7, 3), torch.randn(3, 11), torch.randn(7, 2), torch.randn(2, 4)
    semantic = _Decoder(nn.ModuleDict({"image": _Factored(a, b), "text": _Factored(c, d)}), {"image": (11,), "text": (4,)})
    per_target = voxel_target_weights(semantic)
    np.testing.assert_allclose(per_target["image"], torch.linalg.norm(a @ b, dim=1).numpy(), rtol=1e-6)
    np.testing.assert_allclose(per_target["text"], torch.linalg.norm(c @ d, dim=1).numpy(), rtol=1e-6)
    np.testing.assert_allclose(
        np.sqrt(per_target["image"] ** 2 + per_target["text"] ** 2), voxel_weight_magnitude(semantic), rtol=1e-6
    )
    structural = _Decoder(_Factored(a, b), {"latent": (11,)})
    assert list(voxel_target_weights(structural)) == ["latent"]
