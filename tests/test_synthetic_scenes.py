"""Units of the synthetic world: scenes, captions, geometry and the encoding model."""

from __future__ import annotations

import numpy as np
import pytest

from nsdrecon.synthetic.captions import scene_captions
from nsdrecon.synthetic.encoding import (
    FLOC_PREFERENCES,
    VOXEL_CLASSES,
    low_level_features,
    make_subject_encoding,
)
from nsdrecon.synthetic.geometry import ROI_LABELS, make_subject_geometry
from nsdrecon.synthetic.scenes import (
    COLOURS,
    POSITIONS,
    SHAPES,
    SceneTable,
    render_scenes,
    sample_scenes,
    semantic_feature_names,
    semantic_features,
)


def _one_object_scene(shape="circle", colour="red", position="left", texture="plain") -> SceneTable:
    """A navy plain background with one large object at its nominal position."""
    codes = lambda value: np.array([[value, -1, -1]])  # noqa: E731
    return SceneTable(
        background=np.array([4]),
        background_style=np.array([0]),
        n_objects=np.array([1]),
        shape=codes(SHAPES.index(shape)),
        colour=codes(list(COLOURS).index(colour)),
        size=codes(1),
        position=codes(list(POSITIONS).index(position)),
        texture=codes(["plain", "striped", "dotted"].index(texture)),
        centre=np.array([[POSITIONS[position], [np.nan] * 2, [np.nan] * 2]], dtype=np.float32),
        radius=np.array([[0.38, np.nan, np.nan]], dtype=np.float32),
    )


def test_sampled_scenes_are_valid():
    table = sample_scenes(np.random.default_rng(0), 500)
    assert set(np.unique(table.n_objects)) == {1, 2, 3}
    used = np.arange(3)[None, :] < table.n_objects[:, None]
    for codes, n_values in ((table.shape, len(SHAPES)), (table.colour, len(COLOURS)), (table.texture, 3)):
        assert np.all((codes >= 0) == used) and codes.max() == n_values - 1
    positions = np.where(used, table.position, -np.arange(1, 4))
    assert all(len(set(row)) == 3 for row in positions), "objects of one scene sit at distinct positions"
    assert np.array_equal(sample_scenes(np.random.default_rng(0), 500).centre, table.centre, equal_nan=True)


def test_render_places_objects_where_described():
    left = render_scenes(_one_object_scene(position="left"), 64)[0].astype(int)
    right = render_scenes(_one_object_scene(position="right"), 64)[0].astype(int)
    red = (left[..., 0] > 180) & (left[..., 1] < 60)
    assert red[:, :32].sum() > 300 and red[:, 32:].sum() == 0
    assert np.array_equal(left[:, ::-1], right), "the scene mirrors with its position"
    disc = render_scenes(_one_object_scene(shape="circle", position="centre"), 128)[0]
    area = ((disc[..., 0] > 180) & (disc[..., 2] < 60)).mean()
    assert area == pytest.approx(np.pi * 0.38**2 / 4, rel=0.05)
    striped = render_scenes(_one_object_scene(texture="striped"), 64)[0]
    assert len(np.unique(striped[:, :32].reshape(-1, 3), axis=0)) == 3, "background, colour and stripe shade"


def test_semantic_features_count_scene_content():
    table = sample_scenes(np.random.default_rng(1), 200)
    features = semantic_features(table)
    names = semantic_feature_names()
    assert features.shape == (200, len(names)) and features.dtype == np.float32
    group = np.array([name.split("=")[0] for name in names])
    for prefix in ("shape", "colour", "texture", "size"):
        assert np.array_equal(features[:, group == prefix].sum(1), table.n_objects)
    assert np.all(features[:, group == "background"].sum(1) == 1)
    spec = table.spec(0)
    assert features[0, names.index(f"shape={spec.objects[0].shape}")] >= 1


def test_captions_state_the_scene_in_five_wordings():
    table = sample_scenes(np.random.default_rng(2), 30)
    rng = np.random.default_rng(0)
    for i in range(len(table)):
        spec = table.spec(i)
        captions = scene_captions(spec, rng)
        assert len(captions) == 5 and len(set(captions)) == 5
        for caption in captions:
            assert caption[0].isupper() and caption.endswith(".")
            assert spec.background in caption
            assert all(obj.colour in caption for obj in spec.objects)


def test_low_level_features_localise_luminance():
    images = np.zeros((2, 64, 64, 3), dtype=np.uint8)
    images[0, 16:48, 4:28] = 255  # white patch on the left
    images[1, 16:48, 36:60] = 255  # on the right
    features = low_level_features(images)
    assert features.shape == (2, 4, 16, 16)
    luminance = features[:, 0]
    assert np.all(luminance[0, 4:12, 1:7] > 0.99) and luminance[0, :, 7:].max() == 0 and luminance[0, :4].max() == 0
    assert np.allclose(luminance[0], luminance[1][:, ::-1], atol=1e-6)
    assert features[0, 3].max() > 0 and features[0, 3, 0, 0] == 0, "contrast only at edges"
    # a size that is not a multiple of the grid gives nearly the same map
    odd = low_level_features(np.repeat(np.repeat(images[:1], 5, axis=1), 5, axis=2)[:, ::4, ::4])
    assert np.corrcoef(odd[0, 0].ravel(), luminance[0].ravel())[0, 1] > 0.95


def test_geometry_is_seeded_and_labels_are_nsd_like():
    a = make_subject_geometry(np.random.default_rng(5), (18, 22, 18))
    again = make_subject_geometry(np.random.default_rng(5), (18, 22, 18))
    other = make_subject_geometry(np.random.default_rng(6), (18, 22, 18))
    assert all(np.array_equal(a.rois[n], again.rois[n]) for n in ROI_LABELS)
    assert a.shape != other.shape or not np.array_equal(a.rois["nsdgeneral"], other.rois["nsdgeneral"])
    for name, labels in ROI_LABELS.items():
        assert a.rois[name].dtype == np.int16 and a.rois[name].max() <= len(labels)
        assert np.array_equal(a.rois[name] >= 0, a.cortex)
    with pytest.raises(ValueError, match="volume_shape"):
        make_subject_geometry(np.random.default_rng(0), (8, 8, 8))


def test_encoding_is_retinotopic_and_category_selective():
    rng = np.random.default_rng(0)
    geometry = make_subject_geometry(rng, (20, 24, 20))
    table = sample_scenes(rng, 300)
    images = render_scenes(table, 32)
    names = semantic_feature_names()
    encoding = make_subject_encoding(
        rng, geometry, low_level_features(images), semantic_features(table), names, n_sessions=2, snr=0.5
    )
    ijk = tuple(encoding.voxel_ijk.T)
    prf = geometry.rois["prf-visualrois"][ijk]
    # receptive fields grow from V1 to hV4
    sizes = [np.median(encoding.rf_size[np.isin(prf, values)]) for values in ([1, 2], [3, 4], [5, 6], [7])]
    assert np.all(np.diff(sizes) > 0), sizes
    # ventral labels (V1v, V2v, V3v, hV4) map the upper visual field (y < 0), dorsal the lower
    centre_y = encoding.rf_centre[:, 1]
    assert np.all(centre_y[np.isin(prf, [1, 3, 5, 7])] <= 0) and np.all(centre_y[np.isin(prf, [2, 4, 6])] >= 0)
    # each hemisphere maps the opposite visual hemifield
    x_rf = encoding.rf_centre[prf > 0, 0]
    i = encoding.voxel_ijk[prf > 0, 0]
    middle = (geometry.shape[0] - 1) / 2
    assert np.mean(x_rf[i < middle - 2] > 0) > 0.9 and np.mean(x_rf[i > middle + 2] < 0) > 0.9
    # face-selective voxels prefer circles and rings
    semantic_voxels = encoding.voxel_class == VOXEL_CLASSES.index("semantic")
    faces = semantic_voxels & (geometry.rois["floc-faces"][ijk] > 0)
    circle = names.index("shape=circle")
    assert faces.sum() > 5 and set(FLOC_PREFERENCES["floc-faces"]) == {"shape=circle", "shape=ring"}
    assert (
        encoding.semantic_weights[faces, circle].mean()
        > encoding.semantic_weights[semantic_voxels & ~faces, circle].mean() + 1.5
    )
    # normalised responses: unit std for tuned classes, none for non-cortical voxels
    response = encoding.predict(low_level_features(images), semantic_features(table))
    std = response.std(0)
    assert np.allclose(std[encoding.voxel_class >= 2], 1, atol=1e-3)
    assert np.all(std[encoding.voxel_class == 0] == 0)
    betas = encoding.simulate_betas(response, 1, np.random.default_rng(1))
    noise = (betas - encoding.baseline - encoding.session_offset[1]) / encoding.session_gain[1] - response
    assert noise.std() == pytest.approx(2.0, rel=0.02), "noise std = 1 / snr"
