"""Per-subject brain geometry: brain mask, cortex, ROI volumes and retinotopic maps.

The brain is an ellipsoid whose centre, semi-axes and orientation are drawn
per subject, inside a volume whose shape is jittered per subject, so one
subject's masks do not fit another's brain. Positions on the cortex are read
in the subject's own frame: ``theta`` is the angle from the occipital pole
(0 at the pole) and ``psi`` the angle around the pole axis within a
hemisphere (0 = horizontal, > 0 dorsal/superior, < 0 ventral/inferior).

* cortex: an outer shell of the ellipsoid about three voxels thick;
* ``nsdgeneral``: the posterior cap ``theta < ~1.6``;
* ``prf-visualrois``: V1, V2, V3 as wedges of ``|psi|`` around the horizontal
  inside ``theta < theta_early`` (V1 innermost; dorsal/ventral halves by the
  sign of psi) and hV4 ventral beyond V3v. Retinotopy: eccentricity grows with
  ``theta``, polar angle follows ``psi`` with mirror reversals at the area
  borders (V1/V2 on the vertical meridian, V2/V3 on the horizontal); the
  left hemisphere maps the right visual field; dorsal maps the lower field;
* ``streams``: early (about V1-V3, its own slightly different border), the
  intermediate band (midventral/midlateral/midparietal), then ventral,
  lateral and parietal, reaching a little beyond nsdgeneral;
* ``floc-*``: small bilateral blobs in ventral/lateral/parietal territory at
  category-specific places, each subject's jittered.

Volume values follow NSD: -1 non-cortical, 0 unlabelled cortex, 1..N labels.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.spatial.transform import Rotation

from nsdrecon.nsd.rois import NSD_ROI_LABELS

logger = logging.getLogger(__name__)

__all__ = ["ROI_LABELS", "RF_AREA_SCALE", "SubjectGeometry", "func_affine", "make_subject_geometry"]

ROI_LABELS = NSD_ROI_LABELS
"""The generated ROI volumes: NSD's files with NSD's labels (value = position + 1)."""

RF_AREA_SCALE = {"V1": 1.0, "V2": 1.3, "V3": 1.7, "hV4": 2.3, "early": 1.7}
"""Receptive-field size relative to V1 at the same eccentricity ("early" = streams-early voxels outside V1-hV4)."""

# (theta, psi) of each floc label's blob centre on the cortex (radians, subject frame)
_FLOC_CENTRES = {
    "floc-faces": ((1.2, 0.0), (1.25, -0.95), (1.38, -1.0), (1.5, -0.85), (1.68, -0.75)),
    "floc-bodies": ((1.25, 0.2), (1.25, -0.75), (1.42, -0.75), (1.55, -0.6)),
    "floc-places": ((1.2, 0.75), (1.35, -1.3), (1.45, 1.3)),
    "floc-words": ((1.2, -0.35), (1.3, -0.55), (1.45, -0.55), (1.38, -0.3), (1.6, -0.45)),
}
_VOXEL_SIZE_MM = 1.8
_CORTEX_THICKNESS_VOXELS = 3.0
_BRAINMASK_MARGIN = 1.12  # liberal brain mask, in ellipsoid radii


def func_affine(shape: tuple[int, int, int]) -> np.ndarray:
    """The 1.8-mm func affine of nsdcode's ``nsd_write_vol``: origin at the volume centre.

    Returns
    -------
    ndarray of float64, shape (4, 4)
    """
    affine = np.diag([_VOXEL_SIZE_MM] * 3 + [1.0])
    affine[:3, 3] = -((1 + np.asarray(shape)) / 2 - 1) * _VOXEL_SIZE_MM
    return affine


@dataclass(frozen=True, eq=False)
class SubjectGeometry:
    """One subject's volumes, all of shape (X, Y, Z) in NIfTI order.

    Attributes
    ----------
    shape : tuple of int
    affine : ndarray of float64, shape (4, 4)
    brainmask : ndarray of bool
        Liberal brain mask; betas are zero outside it.
    cortex : ndarray of bool
        Cortical voxels (ROI value >= 0).
    rois : dict of str to ndarray of int16
        Every ROI of :data:`ROI_LABELS`: -1 non-cortical, 0 unlabelled cortex, 1..N.
    visual_field : ndarray of float32, shape (X, Y, Z, 2)
        Retinotopic position (x, y) in image coordinates ([-1, 1], y down) that
        each cortical voxel would map to by its place in the early maps.
    rf_scale : ndarray of float32
        Receptive-field size factor by area (:data:`RF_AREA_SCALE`); NaN where
        the voxel is in no early area.
    mean_epi : ndarray of int16
        A plausible mean EPI image: bright CSF rim, grey matter brighter than
        white matter, smooth bias field, dark outside the head.
    frame : _Frame or None
        The subject frame (voxel ijk <-> normalised ellipsoid coordinates u, v, w;
        u < 0 is the left hemisphere), for placing cortical surfaces.
    cortex_inner : float
        Normalised radius of the cortex's inner (white-matter) border; its outer
        (pial) border is radius 1.
    """

    shape: tuple[int, int, int]
    affine: np.ndarray
    brainmask: np.ndarray
    cortex: np.ndarray
    rois: dict[str, np.ndarray]
    visual_field: np.ndarray
    rf_scale: np.ndarray
    mean_epi: np.ndarray
    frame: _Frame | None = None
    cortex_inner: float = float("nan")


@dataclass(frozen=True)
class _Frame:
    """Subject frame: voxel ijk -> normalised ellipsoid coordinates (u, v, w)."""

    centre: np.ndarray  # (3,) voxel coordinates
    semi_axes: np.ndarray  # (3,) voxels
    rotation: np.ndarray  # (3, 3), columns = subject axes in voxel space

    def coordinates(self, shape: tuple[int, int, int]) -> np.ndarray:
        ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1).astype(np.float64)
        return ((ijk - self.centre) @ self.rotation) / self.semi_axes

    def to_voxel(self, uvw: np.ndarray) -> np.ndarray:
        return (np.asarray(uvw) * self.semi_axes) @ self.rotation.T + self.centre


def _draw_frame(rng: np.random.Generator, shape: tuple[int, int, int]) -> _Frame:
    shape_arr = np.asarray(shape, dtype=np.float64)
    centre = (shape_arr - 1) / 2 + rng.uniform(-1.0, 1.0, size=3)
    semi_axes = shape_arr * rng.uniform(0.39, 0.43, size=3)
    angles = rng.uniform(-0.2, 0.2, size=3)  # roll, pitch, yaw (radians)
    return _Frame(centre, semi_axes, Rotation.from_euler("xyz", angles).as_matrix())


def _visual_field_map(theta: np.ndarray, psi: np.ndarray, left: np.ndarray, borders: np.ndarray, theta_early: float):
    """Retinotopic (x, y) and area index (0 V1, 1 V2, 2 V3, 3 hV4, -1 none) from cortical position."""
    b1, b2, b3 = borders
    abs_psi = np.abs(psi)
    area = np.select(
        [abs_psi < b1, abs_psi < b2, abs_psi < b3, psi < -b3],
        [0, 1, 2, 3],
        default=-1,
    )
    quarter = np.pi / 2
    angle_magnitude = np.select(
        [area == 0, area == 1, area == 2, area == 3],
        [
            abs_psi / b1 * quarter,  # horizontal at the centre -> vertical at V1/V2
            (b2 - abs_psi) / (b2 - b1) * quarter,  # vertical -> horizontal at V2/V3
            (abs_psi - b2) / (b3 - b2) * quarter,  # horizontal -> vertical at V3/hV4
            (1 - (abs_psi - b3) / (np.pi / 2 - b3)) * quarter,  # vertical -> horizontal
        ],
        default=0.0,
    )
    polar = np.sign(psi) * np.clip(angle_magnitude, 0, quarter)
    eccentricity = 0.03 + 0.92 * np.clip(theta / theta_early, 0, 1) ** 1.5
    x = np.where(left, 1.0, -1.0) * eccentricity * np.cos(polar)
    y = eccentricity * np.sin(polar)
    area = np.where(theta < theta_early, area, -1)
    return np.stack([x, y], axis=-1).astype(np.float32), area


def _blob_labels(
    rng: np.random.Generator,
    frame: _Frame,
    cortex: np.ndarray,
    centres: tuple[tuple[float, float], ...],
    radius: float,
) -> np.ndarray:
    """Label voxels of ``cortex`` within ``radius`` of the (jittered, bilateral) blob centres."""
    ijk = np.argwhere(cortex).astype(np.float64)
    best = np.full(len(ijk), np.inf)
    label = np.zeros(len(ijk), dtype=np.int16)
    for value, (theta, psi) in enumerate(centres, start=1):
        for side in (-1.0, 1.0):
            t = theta + rng.uniform(-0.08, 0.08)
            p = psi + rng.uniform(-0.12, 0.12)
            depth = 1.0 - 0.5 * _CORTEX_THICKNESS_VOXELS / frame.semi_axes.mean()
            uvw = depth * np.array([side * np.sin(t) * np.cos(p), -np.cos(t), np.sin(t) * np.sin(p)])
            distance = np.linalg.norm(ijk - frame.to_voxel(uvw), axis=1)
            closer = (distance <= radius * rng.uniform(0.85, 1.15)) & (distance < best)
            best[closer] = distance[closer]
            label[closer] = value
    volume = np.full(cortex.shape, -1, dtype=np.int16)
    volume[cortex] = label
    return volume


def _mean_epi(rng: np.random.Generator, uvw: np.ndarray, radius: np.ndarray, cortex_inner: float) -> np.ndarray:
    intensity = np.select(
        [radius < cortex_inner, radius <= 1.0, radius <= _BRAINMASK_MARGIN], [800.0, 1100.0, 1400.0], default=30.0
    )
    bias = 1.0 + 0.1 * uvw[..., 1] / np.abs(uvw[..., 1]).max() - 0.08 * uvw[..., 2] / np.abs(uvw[..., 2]).max()
    image = gaussian_filter(intensity * bias, sigma=0.7) + rng.normal(0, 15, radius.shape)
    return np.clip(np.round(image), 0, None).astype(np.int16)


def make_subject_geometry(rng: np.random.Generator, volume_shape: tuple[int, int, int]) -> SubjectGeometry:
    """Draw one subject's geometry around ``volume_shape``.

    Parameters
    ----------
    rng : numpy.random.Generator
        The subject's own stream: different streams give different brains.
    volume_shape : tuple of 3 int
        Nominal (X, Y, Z); the subject's shape differs by up to 2 voxels per axis.
        X runs left to right, Y posterior to anterior, Z inferior to superior.

    Returns
    -------
    SubjectGeometry
    """
    if len(volume_shape) != 3 or min(volume_shape) < 10:
        raise ValueError(f"volume_shape must be 3 sizes >= 10 voxels, got {tuple(volume_shape)}")
    shape = tuple(int(n) for n in np.asarray(volume_shape) + rng.integers(-2, 3, size=3))
    frame = _draw_frame(rng, shape)
    uvw = frame.coordinates(shape)
    radius = np.linalg.norm(uvw, axis=-1)
    brainmask = radius <= _BRAINMASK_MARGIN
    inner = 1.0 - _CORTEX_THICKNESS_VOXELS / frame.semi_axes.mean()
    cortex = (radius <= 1.0) & (radius >= inner)

    safe_radius = np.maximum(radius, 1e-9)
    theta = np.arccos(np.clip(-uvw[..., 1] / safe_radius, -1, 1))
    psi = np.arctan2(uvw[..., 2], np.abs(uvw[..., 0]))
    left = uvw[..., 0] < 0

    scale = rng.uniform(0.9, 1.1)
    borders = np.array([0.35, 0.7, 1.05]) * scale
    theta_early = 0.9 * rng.uniform(0.92, 1.08)
    visual_field, area = _visual_field_map(theta, psi, left, borders, theta_early)

    def labelled(values: np.ndarray) -> np.ndarray:
        return np.where(cortex, values, -1).astype(np.int16)

    ventral_half = psi < 0
    prf = np.where(area < 0, 0, np.where(area == 3, 7, 2 * area + 1 + ~ventral_half))

    stream_early = theta_early * rng.uniform(0.95, 1.05)
    stream_mid = stream_early + 0.22 * rng.uniform(0.9, 1.1)
    stream_end = 1.72 * rng.uniform(0.97, 1.03)
    side = np.select([psi < -0.5, psi > 0.5], [0, 2], default=1)  # ventral, lateral, dorsal
    dorsal_or_ventral = np.select([psi < -borders[2], psi > borders[2]], [0, 2], default=1)
    streams = np.select(
        [
            (theta < stream_early) & (dorsal_or_ventral == 1),
            theta < stream_early,
            theta < stream_mid,
            theta < stream_end,
        ],
        [1, 2 + dorsal_or_ventral, 2 + side, 5 + side],
        default=0,
    )
    nsdgeneral = theta < 1.6 * rng.uniform(0.97, 1.03)

    blob_radius = max(1.5, 0.17 * frame.semi_axes.mean())
    rois = {
        "nsdgeneral": labelled(nsdgeneral.astype(np.int16)),
        "prf-visualrois": labelled(prf),
        "streams": labelled(streams),
    }
    for name, centres in _FLOC_CENTRES.items():
        rois[name] = _blob_labels(rng, frame, cortex, centres, blob_radius)

    area_scale = np.asarray([RF_AREA_SCALE[a] for a in ("V1", "V2", "V3", "hV4")], dtype=np.float32)
    rf_scale = np.where(area >= 0, area_scale[np.maximum(area, 0)], np.nan)
    rf_scale = np.where((area < 0) & (streams == 1), RF_AREA_SCALE["early"], rf_scale)
    logger.info(
        "geometry %s: %d brain-mask, %d cortical, %d nsdgeneral voxels",
        shape,
        brainmask.sum(),
        cortex.sum(),
        (rois["nsdgeneral"] == 1).sum(),
    )
    return SubjectGeometry(
        shape=shape,
        affine=func_affine(shape),
        brainmask=brainmask,
        cortex=cortex,
        rois=rois,
        visual_field=visual_field,
        rf_scale=np.where(cortex, rf_scale, np.nan).astype(np.float32),
        mean_epi=_mean_epi(rng, uvw, radius, inner),
        frame=frame,
        cortex_inner=float(inner),
    )
