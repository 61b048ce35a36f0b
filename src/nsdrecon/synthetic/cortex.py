"""Generated cortical surfaces, NSD's surface transforms and fsaverage labels.

The generated world's "fsaverage" is fsaverage5 (10,242 vertices per hemisphere, its meshes bundled with
nilearn), whose vertices are fsaverage's first ones. Each subject's native hemisphere is a closed surface
built on a sphere of its own (a Fibonacci lattice of 3,000-4,000 points, randomly turned). A cap of the
sphere around its medial pole (45 degrees) becomes the medial wall, a disc in the midline plane inside the
brain; the rest of the sphere is spread over the hemisphere's half of the subject's ellipsoidal cortex
(:mod:`.geometry`), the cap's rim on the midline and the lateral pole on the lateral pole, each point
keeping its direction around the medial-lateral axis. Sphere directions keep their meaning in the subject
frame (``-y`` posterior, ``+z`` dorsal), as FreeSurfer's ``sphere.reg`` does, so the generated ROIs land on
fsaverage where their names say: the occipital pole of the sphere on the early visual areas, ventral
directions on the ventral areas.

Files written in NSD's formats (:mod:`nsdrecon.cortex.transforms`):

* ``freesurfer/subjXX/surf/{lh,rh}.{white,pial}``: toy surfaces (FreeSurfer geometry, scanner mm of the
  func1pt8mm affine);
* ``ppdata/subjXX/transforms/{lh,rh}.func1pt8-to-layerB{1,2,3}.mgz``: 1-based voxel coordinates at 25, 50,
  75 % of the distance from pial to white;
* ``ppdata/subjXX/transforms/{lh,rh}.white-to-fsaverage.mgz``: for each fsaverage vertex the 1-based
  nearest native vertex on the spheres;
* ``freesurfer/fsaverage/label/{lh,rh}.<roi>.mgz`` and ``<roi>.mgz.ctab``: the ROIs of a template brain
  (drawn like a subject's, from its own random stream) at mid-depth, by nearest voxel, on fsaverage.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy.spatial import ConvexHull, cKDTree
from scipy.spatial.transform import Rotation

from nsdrecon import layout
from nsdrecon.atomic import atomic_path, write_text
from nsdrecon.cortex import (
    DEPTH_FRACTIONS,
    DEPTHS,
    HEMISPHERES,
    TO_FSAVERAGE,
    native_to_fsaverage,
    sample_volume,
    volume_to_surface_name,
    write_surface_to_fsaverage,
    write_volume_to_surface,
)
from nsdrecon.cortex.surface_files import write_fsaverage_label

from .geometry import ROI_LABELS, SubjectGeometry

__all__ = ["NativeHemisphere", "fsaverage_sphere", "native_hemisphere", "write_fsaverage_labels", "write_subject_cortex"]

logger = logging.getLogger(__name__)

FSAVERAGE_MESH = "fsaverage5"
_NATIVE_VERTICES = (3000, 4001)  # per hemisphere, drawn per subject
_MEDIAL_WALL = np.deg2rad(45.0)  # angular radius of the medial wall around the sphere's medial pole
_NILEARN_HEMI = {"lh": "left", "rh": "right"}


@functools.cache
def fsaverage_sphere(hemi: str) -> np.ndarray:
    """Unit directions (10242, 3) of fsaverage5's sphere for ``hemi`` (nilearn's bundled mesh, offline; read-only)."""
    from nilearn.datasets import load_fsaverage

    coordinates = np.asarray(load_fsaverage(FSAVERAGE_MESH)["sphere"].parts[_NILEARN_HEMI[hemi]].coordinates, float)
    directions = coordinates / np.linalg.norm(coordinates, axis=1, keepdims=True)
    directions.flags.writeable = False
    return directions


def _fibonacci_sphere(n: int) -> np.ndarray:
    """``n`` nearly evenly spread unit vectors (n, 3)."""
    k = np.arange(n) + 0.5
    z = 1 - 2 * k / n
    phi = np.pi * (1 + 5**0.5) * k
    r = np.sqrt(1 - z**2)
    return np.column_stack([r * np.cos(phi), r * np.sin(phi), z])


def _outward_faces(points: np.ndarray) -> np.ndarray:
    """Triangles (n_faces, 3) of the convex hull of unit vectors, wound counter-clockwise seen from outside."""
    faces = ConvexHull(points).simplices.copy()
    a, b, c = (points[faces[:, i]] for i in range(3))
    inward = np.einsum("ij,ij->i", np.cross(b - a, c - a), a + b + c) < 0
    faces[inward] = faces[inward][:, ::-1]
    return faces


@dataclass(frozen=True, eq=False)
class NativeHemisphere:
    """One generated hemisphere.

    Attributes
    ----------
    sphere : float64 (V, 3), unit directions (the hemisphere's registration sphere)
    faces : int (F, 3)
    pial, white : float64 (V, 3), 0-based voxel coordinates of the pial and white surfaces
    cortical : bool (V,), vertices on the cortex (False on the medial wall)
    """

    sphere: np.ndarray
    faces: np.ndarray
    pial: np.ndarray
    white: np.ndarray
    cortical: np.ndarray

    def depth(self, fraction: float) -> np.ndarray:
        """0-based voxel coordinates (V, 3) at ``fraction`` of the way from pial (0) to white (1)."""
        return self.pial + fraction * (self.white - self.pial)


def native_hemisphere(rng: np.random.Generator, geometry: SubjectGeometry, hemi: str) -> NativeHemisphere:
    """Draw a hemisphere's sphere and place it on ``geometry``'s cortex (see the module docstring)."""
    if geometry.frame is None:
        raise ValueError("the subject geometry carries no frame: it cannot place surfaces")
    if hemi not in HEMISPHERES:
        raise ValueError(f"hemisphere must be one of {list(HEMISPHERES)}, got {hemi!r}")
    n = int(rng.integers(*_NATIVE_VERTICES))
    turn = Rotation.from_rotvec(rng.normal(0, 0.05, size=3)).as_matrix()
    sphere = _fibonacci_sphere(n) @ turn.T
    medial = np.array([1.0 if hemi == "lh" else -1.0, 0.0, 0.0])  # u < 0 is the left hemisphere
    from_medial = np.arccos(np.clip(sphere @ medial, -1, 1))  # angle from the medial pole
    around = sphere - np.outer(sphere @ medial, medial)  # direction around the medial-lateral axis
    around /= np.maximum(np.linalg.norm(around, axis=1, keepdims=True), 1e-12)
    cortical = from_medial >= _MEDIAL_WALL
    # cortex: the cap's rim (angle 45 deg) -> the midline (90 deg), the lateral pole (180 deg) -> itself
    angle = np.pi / 2 + (from_medial - _MEDIAL_WALL) / (np.pi - _MEDIAL_WALL) * np.pi / 2
    on_cortex = np.cos(angle)[:, None] * medial + np.sin(angle)[:, None] * around
    on_wall = (from_medial / _MEDIAL_WALL)[:, None] * around  # a disc in the midline plane
    outer = np.where(cortical[:, None], on_cortex, on_wall)  # pial surface, normalised frame
    frame = geometry.frame
    return NativeHemisphere(
        sphere=sphere,
        faces=_outward_faces(sphere),
        pial=frame.to_voxel(outer),
        white=frame.to_voxel(outer * geometry.cortex_inner),
        cortical=cortical,
    )


def _write_surface(path: Path, voxels: np.ndarray, faces: np.ndarray, affine: np.ndarray) -> None:
    mm = voxels @ affine[:3, :3].T + affine[:3, 3]
    with atomic_path(path) as tmp:
        # a fixed stamp: nibabel's default names the user and the time, and the generated files must be the
        # same bytes on every run (the SLURM test compares them with a local run's)
        nib.freesurfer.write_geometry(
            str(tmp), mm.astype(np.float32), faces.astype(np.int32), create_stamp="created by nsdrecon.synthetic"
        )


def write_subject_cortex(root: Path, subject: str, geometry: SubjectGeometry, rng: np.random.Generator) -> list[Path]:
    """Write a subject's surfaces and its NSD transforms (module docstring); returns the files written."""
    written = []
    for hemi in HEMISPHERES:
        native = native_hemisphere(rng, geometry, hemi)
        for name, voxels in (("white", native.white), ("pial", native.pial)):
            path = root / layout.surface(subject, hemi, name)
            _write_surface(path, voxels, native.faces, geometry.affine)
            written.append(path)
        for depth in DEPTHS:
            path = root / layout.transform(subject, hemi, volume_to_surface_name(depth))
            write_volume_to_surface(path, native.depth(DEPTH_FRACTIONS[depth]) + 1)  # 1-based, as NSD
            written.append(path)
        nearest = cKDTree(native.sphere).query(fsaverage_sphere(hemi))[1]
        path = root / layout.transform(subject, hemi, TO_FSAVERAGE)
        write_surface_to_fsaverage(path, nearest + 1)
        written.append(path)
        logger.info(
            "%s %s: %d native vertices, %d on the medial wall", subject, hemi, len(native.sphere), (~native.cortical).sum()
        )
    return written


def write_fsaverage_labels(root: Path, template: SubjectGeometry, rng: np.random.Generator) -> list[Path]:
    """Write fsaverage ROI labels from a template brain's ROIs, and the label tables beside them.

    Each fsaverage vertex takes the label of the voxel nearest to its template vertex at mid-depth
    (layerB2); medial-wall vertices and non-cortical voxels are unlabelled (0).
    """
    written = []
    for hemi in HEMISPHERES:
        native = native_hemisphere(rng, template, hemi)
        to_fsaverage = cKDTree(native.sphere).query(fsaverage_sphere(hemi))[1] + 1
        mid = native.depth(DEPTH_FRACTIONS["layerB2"]) + 1
        for name in ROI_LABELS:
            labels = sample_volume(template.rois[name].astype(np.float64), mid, interp="nearest", badval=0)
            labels = np.where(native.cortical, np.maximum(labels, 0), 0)
            path = root / layout.fsaverage_label(hemi, name)
            write_fsaverage_label(path, native_to_fsaverage(labels, to_fsaverage))
            written.append(path)
    for name, labels in ROI_LABELS.items():
        path = root / layout.fsaverage_ctab(name)
        write_text(path, "".join(f"{value} {label}\n" for value, label in enumerate(("Unknown", *labels))))
        written.append(path)
    return written
