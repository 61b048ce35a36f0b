"""The generated world's surfaces, transforms and fsaverage labels, and the mapping run through them."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from nsdrecon import layout
from nsdrecon.cortex import (
    DEPTHS,
    FSAVERAGE5_VERTICES,
    HemisphereTransforms,
    read_fsaverage_label,
    sample_volume,
    volume_to_fsaverage,
    volume_to_surface_name,
)
from nsdrecon.nsd import read_ctab
from nsdrecon.synthetic.cortex import (
    fsaverage_sphere,
    native_hemisphere,
    write_fsaverage_labels,
    write_subject_cortex,
)
from nsdrecon.synthetic.geometry import ROI_LABELS, make_subject_geometry
from tests.test_cortex_mapping import reference_cubic

SUBJECT = "subj03"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("cortex_world")
    geometry = make_subject_geometry(np.random.default_rng(11), (16, 19, 16))
    written = write_subject_cortex(root, SUBJECT, geometry, np.random.default_rng(12))
    template = make_subject_geometry(np.random.default_rng(13), (16, 19, 16))
    written += write_fsaverage_labels(root, template, np.random.default_rng(14))
    return root, geometry, written


def _transforms(root, hemi):
    return HemisphereTransforms.read(
        {d: root / layout.transform(SUBJECT, hemi, volume_to_surface_name(d)) for d in DEPTHS},
        root / layout.transform(SUBJECT, hemi, "white-to-fsaverage"),
    )


def test_files_at_nsds_keys(world):
    root, _, written = world
    expected = set()
    for hemi in ("lh", "rh"):
        expected |= {layout.surface(SUBJECT, hemi, name) for name in ("white", "pial")}
        expected |= {layout.transform(SUBJECT, hemi, volume_to_surface_name(d)) for d in DEPTHS}
        expected |= {layout.transform(SUBJECT, hemi, "white-to-fsaverage")}
        expected |= {layout.fsaverage_label(hemi, name) for name in ROI_LABELS}
    expected |= {layout.fsaverage_ctab(name) for name in ROI_LABELS}
    assert sorted(str(p.relative_to(root)) for p in written) == sorted(expected)
    for name, labels in ROI_LABELS.items():
        assert read_ctab(root / layout.fsaverage_ctab(name)) == dict(enumerate(("Unknown", *labels)))


def test_depths_lie_at_25_50_75_percent_from_pial_to_white(world):
    root, geometry, _ = world
    to_voxel = np.linalg.inv(geometry.affine)
    for hemi in ("lh", "rh"):
        transforms = _transforms(root, hemi)
        pial, faces = nib.freesurfer.read_geometry(str(root / layout.surface(SUBJECT, hemi, "pial")))
        white, _ = nib.freesurfer.read_geometry(str(root / layout.surface(SUBJECT, hemi, "white")))
        pial_ijk, white_ijk = (mm @ to_voxel[:3, :3].T + to_voxel[:3, 3] for mm in (pial, white))
        assert faces.max() == len(pial) - 1 == transforms.n_native - 1
        for depth, fraction in zip(DEPTHS, (0.25, 0.5, 0.75)):
            # the transform files are 1-based
            np.testing.assert_allclose(transforms.depths[DEPTHS.index(depth)] - 1,
                                       pial_ijk + fraction * (white_ijk - pial_ijk), atol=1e-3)
        assert transforms.n_fsaverage == FSAVERAGE5_VERTICES
        # every native vertex is some fsaverage vertex's nearest neighbour, as on a finer template
        assert len(np.unique(transforms.to_fsaverage)) == transforms.n_native


def test_cortical_vertices_sample_cortex_at_mid_depth():
    geometry = make_subject_geometry(np.random.default_rng(21), (18, 22, 18))
    cortex = (geometry.rois["nsdgeneral"] >= 0).astype(float)
    for hemi in ("lh", "rh"):
        native = native_hemisphere(np.random.default_rng(22), geometry, hemi)
        inside = sample_volume(cortex, native.depth(0.5) + 1, "nearest")
        assert inside[native.cortical].min() == 1.0
        # the hemisphere's own half of the brain: x of the lateral surface on its side of the centre
        side = np.sign(native.pial[native.cortical, 0] - geometry.frame.centre[0])
        assert np.mean(side == (-1 if hemi == "lh" else 1)) > 0.95


def test_known_pattern_is_recovered_on_fsaverage_through_the_generated_transforms(world):
    """A volume whose voxels carry their own index, and a smooth one, mapped to fsaverage; each fsaverage
    vertex's value recomputed independently from the files: its native vertex, that vertex's three depths."""
    root, geometry, _ = world
    shape = geometry.shape
    voxel_id = np.arange(np.prod(shape), dtype=float).reshape(shape)
    i, j, k = np.meshgrid(*(np.arange(n, dtype=float) for n in shape), indexing="ij")
    smooth = np.sin(i / 3) + np.cos(j / 4) * k / 5 + 0.1 * i * j
    for hemi in ("lh", "rh"):
        transforms = _transforms(root, hemi)
        coords = [nib.load(root / layout.transform(SUBJECT, hemi, volume_to_surface_name(d))).get_fdata()[:, 0, 0, :]
                  for d in DEPTHS]
        index = np.asarray(nib.load(root / layout.transform(SUBJECT, hemi, "white-to-fsaverage")).dataobj).ravel()

        # nearest neighbour: the voxel each depth of each fsaverage vertex's native vertex reads
        mapped = volume_to_fsaverage(voxel_id, transforms, "nearest")
        ids = []
        for depth in coords:
            ijk = np.round(depth[index - 1] - 1).astype(int)  # each fsaverage vertex's native vertex; 0-based voxel
            ids.append(np.ravel_multi_index(tuple(ijk.T), shape))
        expected = np.mean(ids, axis=0)
        np.testing.assert_array_equal(mapped, expected)

        # cubic (NSD's): against B-spline interpolation written out, depth by depth
        mapped = volume_to_fsaverage(smooth, transforms, "cubic")
        native = np.mean([reference_cubic(smooth, depth) for depth in coords], axis=0)
        np.testing.assert_allclose(mapped, native[index - 1], rtol=0, atol=1e-6 * np.abs(smooth).max())


def test_fsaverage_labels_lie_where_their_names_say(world):
    root, _, _ = world
    for hemi in ("lh", "rh"):
        sphere = fsaverage_sphere(hemi)
        prf = read_fsaverage_label(root / layout.fsaverage_label(hemi, "prf-visualrois"))
        streams = read_fsaverage_label(root / layout.fsaverage_label(hemi, "streams"))
        assert len(prf) == FSAVERAGE5_VERTICES and set(np.unique(prf)) == set(range(8))
        # early visual areas around the occipital pole (-y), ventral stream below (-z), parietal above (+z)
        assert sphere[prf > 0, 1].max() < 0
        ventral, parietal = streams == 5, streams == 7
        assert sphere[ventral, 2].mean() < 0 < sphere[parietal, 2].mean()
        # dorsal / ventral halves of V1-V3 (odd labels ventral)
        for ventral_label, dorsal_label in ((1, 2), (3, 4), (5, 6)):
            assert sphere[prf == ventral_label, 2].mean() < 0 < sphere[prf == dorsal_label, 2].mean()
