"""The known encoding model that turns synthetic stimuli into voxel responses.

Every brain-mask voxel gets one class from its subject's ROI volumes:

* ``structural`` (``prf-visualrois`` > 0 or ``streams`` early): a retinotopic
  Gaussian receptive field (centre from the voxel's place in its visual area,
  size growing with eccentricity and from V1 to hV4) pooling low-level image
  features on a 16 x 16 grid: luminance, red-green and blue-yellow opponent
  colour, and local contrast (luminance gradient magnitude);
* ``semantic`` (``streams`` ventral/lateral/parietal or any ``floc-*`` label,
  and not structural): sparse random linear weights on the scene's semantic
  feature vector, with each floc ROI preferring its category
  (:data:`FLOC_PREFERENCES`);
* ``other`` (remaining cortex): weak mixed tuning (a broad receptive field
  plus semantic weights) at amplitude 0.35;
* ``non-cortical``: no signal.

Each voxel's noiseless response is normalised to zero mean and standard
deviation ``amplitude`` over the subject's images (1 for structural and
semantic voxels), so Gaussian trial noise of standard deviation ``1 / snr``
gives ``signal std / noise std = snr``. A single-trial beta in percent signal
change is ``baseline + offset[session] + gain[session] * (response + noise)``:
per-session voxel offsets and gain drifts make per-session z-scoring matter.

The parameters are saved to ``synthetic_truth.h5`` (a synthetic-only file,
not an NSD key) so tests can check what decoders recover.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, fields

import h5py
import numpy as np
from skimage.transform import resize

from nsdrecon.atomic import atomic_path

from .geometry import SubjectGeometry

logger = logging.getLogger(__name__)

__all__ = [
    "FEATURE_GRID",
    "FLOC_PREFERENCES",
    "LOW_LEVEL_CHANNELS",
    "VOXEL_CLASSES",
    "SubjectEncoding",
    "low_level_features",
    "make_subject_encoding",
    "read_truth",
    "write_truth",
]

FEATURE_GRID = 16
LOW_LEVEL_CHANNELS = ("luminance", "red-green", "blue-yellow", "contrast")
VOXEL_CLASSES = ("non-cortical", "other", "structural", "semantic")
FLOC_PREFERENCES = {
    "floc-faces": ("shape=circle", "shape=ring"),
    "floc-bodies": ("shape=cross", "shape=triangle"),
    "floc-places": ("background_style=vertical gradient", "background_style=horizontal gradient", "size=large"),
    "floc-words": ("texture=striped", "texture=dotted"),
}
"""Semantic features each category-selective ROI prefers (weight boosted by :data:`_PREFERENCE_WEIGHT`)."""

_PREFERENCE_WEIGHT = 2.5
_SEMANTIC_DENSITY = 0.4
_OTHER_AMPLITUDE = 0.35
_OTHER_RF_SIZE = 0.6
_RF_SIZE_FOVEA, _RF_SIZE_SLOPE = 0.06, 0.12  # V1 sigma = 0.06 + 0.12 * eccentricity (half image widths)
_FEATURE_BATCH = 512


def low_level_features(images: np.ndarray, grid: int = FEATURE_GRID) -> np.ndarray:
    """Low-level features of images pooled on a coarse grid.

    Parameters
    ----------
    images : ndarray of uint8, shape (n, S, S, 3)
    grid : int, default=16

    Returns
    -------
    ndarray of float32, shape (n, 4, grid, grid)
        Channels :data:`LOW_LEVEL_CHANNELS`: luminance, red-green, blue-yellow,
        contrast (luminance gradient magnitude per pixel), each averaged onto
        the grid (block means when S is a multiple of ``grid``, else an
        anti-aliased resize); rows are image y, columns x.
    """
    out = np.empty((len(images), len(LOW_LEVEL_CHANNELS), grid, grid), dtype=np.float32)
    for start in range(0, len(images), _FEATURE_BATCH):
        rgb = images[start : start + _FEATURE_BATCH].astype(np.float32) / 255
        red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
        luminance = 0.299 * red + 0.587 * green + 0.114 * blue
        gy, gx = np.gradient(luminance, axis=(1, 2))
        maps = np.stack([luminance, red - green, blue - (red + green) / 2, np.hypot(gx, gy)], axis=1)
        out[start : start + len(rgb)] = _pool_to_grid(maps, grid)
    return out


def _pool_to_grid(maps: np.ndarray, grid: int) -> np.ndarray:
    """Average (n, C, S, S) maps onto (n, C, grid, grid)."""
    size = maps.shape[-1]
    if size % grid == 0:
        block = size // grid
        return maps.reshape(*maps.shape[:2], grid, block, grid, block).mean(axis=(3, 5))
    return resize(maps, maps.shape[:2] + (grid, grid), order=1, anti_aliasing=True)


@dataclass(frozen=True, eq=False)
class SubjectEncoding:
    """One subject's ground-truth encoding model over its brain-mask voxels (V of them).

    Attributes
    ----------
    voxel_ijk : ndarray of int16, shape (V, 3)
        Voxel indices (X, Y, Z), C order of the NIfTI volume (as ``volume[brainmask]``).
    voxel_class : ndarray of int8, shape (V,)
        Index into :data:`VOXEL_CLASSES`.
    rf_centre : ndarray of float32, shape (V, 2)
        Receptive-field centre (x, y) in image coordinates [-1, 1] (y down); NaN without one.
    rf_size : ndarray of float32, shape (V,)
        Gaussian sigma in half image widths; NaN without a receptive field.
    channel_weights : ndarray of float32, shape (V, 4)
        Weights on the pooled, standardised low-level channels.
    semantic_weights : ndarray of float32, shape (V, F)
        Weights on the semantic feature vector.
    channel_mean, channel_std : ndarray of float32, shape (4,)
        Standardisation of the low-level channels (over the subject's images).
    signal_mean, signal_scale : ndarray of float32, shape (V,)
        Mean and standard deviation of the raw response over the subject's images.
    amplitude : ndarray of float32, shape (V,)
        Standard deviation of the noiseless response (1 structural/semantic, 0.35 other, 0 non-cortical).
    baseline : ndarray of float32, shape (V,)
        Mean beta in percent signal change.
    session_offset, session_gain : ndarray of float32, shape (n_sessions, V)
        Per-session additive offset (PSC) and multiplicative gain.
    noise_std : float
        Trial noise standard deviation, ``1 / snr``.
    """

    voxel_ijk: np.ndarray
    voxel_class: np.ndarray
    rf_centre: np.ndarray
    rf_size: np.ndarray
    channel_weights: np.ndarray
    semantic_weights: np.ndarray
    channel_mean: np.ndarray
    channel_std: np.ndarray
    signal_mean: np.ndarray
    signal_scale: np.ndarray
    amplitude: np.ndarray
    baseline: np.ndarray
    session_offset: np.ndarray
    session_gain: np.ndarray
    noise_std: float

    def raw_response(self, low_level: np.ndarray, semantic: np.ndarray) -> np.ndarray:
        """Un-normalised model response.

        Parameters
        ----------
        low_level : ndarray of float32, shape (n, 4, G, G)
            From :func:`low_level_features`.
        semantic : ndarray of float32, shape (n, F)
            From :func:`nsdrecon.synthetic.scenes.semantic_features`.

        Returns
        -------
        ndarray of float32, shape (n, V)
        """
        grid = low_level.shape[-1]
        standard = (low_level - self.channel_mean[:, None, None]) / self.channel_std[:, None, None]
        response = semantic.astype(np.float32) @ self.semantic_weights.T
        has_rf = np.flatnonzero(~np.isnan(self.rf_size))
        if has_rf.size:
            axis = (np.arange(grid, dtype=np.float32) + 0.5) / grid * 2 - 1
            gy, gx = np.meshgrid(axis, axis, indexing="ij")
            points = np.stack([gx.ravel(), gy.ravel()], axis=1)  # (G*G, 2), row-major like the features
            distance2 = ((points[:, None, :] - self.rf_centre[has_rf][None]) ** 2).sum(-1)
            fields_ = np.exp(-distance2 / (2 * self.rf_size[has_rf] ** 2))
            fields_ /= fields_.sum(axis=0, keepdims=True)  # (G*G, V_rf)
            n, n_channels = standard.shape[:2]
            pooled = (standard.reshape(n * n_channels, -1) @ fields_).reshape(n, n_channels, -1)  # (n, 4, V_rf)
            response[:, has_rf] += np.einsum("ncv,vc->nv", pooled, self.channel_weights[has_rf])
        return response

    def predict(self, low_level: np.ndarray, semantic: np.ndarray) -> np.ndarray:
        """Noiseless response in model units (zero mean, std ``amplitude`` over the subject's images).

        Parameters and shapes as :meth:`raw_response`; returns float32 (n, V).
        """
        raw = self.raw_response(low_level, semantic)
        return (self.amplitude * (raw - self.signal_mean) / self.signal_scale).astype(np.float32)

    def simulate_betas(self, response: np.ndarray, session: int, rng: np.random.Generator) -> np.ndarray:
        """Noisy single-trial betas of one session in percent signal change.

        Parameters
        ----------
        response : ndarray of float32, shape (n_trials, V)
            :meth:`predict` for each trial's image.
        session : int
            0-based session index (row of ``session_offset``/``session_gain``).
        rng : numpy.random.Generator
            Draws the trial noise.

        Returns
        -------
        ndarray of float32, shape (n_trials, V)
        """
        noise = rng.standard_normal(response.shape, dtype=np.float32) * np.float32(self.noise_std)
        gain = self.session_gain[session]
        return self.baseline + self.session_offset[session] + gain * (response + noise)


def _voxel_classes(geometry: SubjectGeometry, ijk: tuple[np.ndarray, ...]) -> np.ndarray:
    rois = {name: volume[ijk] for name, volume in geometry.rois.items()}
    structural = (rois["prf-visualrois"] > 0) | (rois["streams"] == 1)
    floc = np.any([rois[name] > 0 for name in FLOC_PREFERENCES], axis=0)
    semantic = (np.isin(rois["streams"], [5, 6, 7]) | floc) & ~structural
    cortical = geometry.cortex[ijk]
    return np.select(
        [~cortical, structural, semantic],
        [VOXEL_CLASSES.index(c) for c in ("non-cortical", "structural", "semantic")],
        default=VOXEL_CLASSES.index("other"),
    ).astype(np.int8)


def make_subject_encoding(
    rng: np.random.Generator,
    geometry: SubjectGeometry,
    low_level: np.ndarray,
    semantic: np.ndarray,
    semantic_names: list[str],
    n_sessions: int,
    snr: float,
) -> SubjectEncoding:
    """Draw one subject's encoding model and nuisance parameters.

    Parameters
    ----------
    rng : numpy.random.Generator
    geometry : SubjectGeometry
    low_level : ndarray of float32, shape (n_images, 4, G, G)
        Low-level features of the subject's images (sets the normalisations).
    semantic : ndarray of float32, shape (n_images, F)
        Semantic features of the same images.
    semantic_names : list of str, length F
        Column names of ``semantic`` (to find the floc preferences).
    n_sessions : int
    snr : float
        Single-trial signal std / noise std of structural and semantic voxels.

    Returns
    -------
    SubjectEncoding
    """
    if snr <= 0:
        raise ValueError(f"snr must be > 0, got {snr}")
    ijk = np.nonzero(geometry.brainmask)
    voxel_class = _voxel_classes(geometry, ijk)
    n_voxels, n_features = len(voxel_class), semantic.shape[1]
    is_class = {name: voxel_class == code for code, name in enumerate(VOXEL_CLASSES)}

    rf_centre = np.full((n_voxels, 2), np.nan, dtype=np.float32)
    rf_size = np.full(n_voxels, np.nan, dtype=np.float32)
    structural = is_class["structural"]
    rf_centre[structural] = geometry.visual_field[ijk][structural]
    eccentricity = np.linalg.norm(rf_centre[structural], axis=1)
    rf_size[structural] = (_RF_SIZE_FOVEA + _RF_SIZE_SLOPE * eccentricity) * geometry.rf_scale[ijk][structural]
    other = is_class["other"]
    rf_centre[other] = rng.uniform(-0.7, 0.7, size=(other.sum(), 2))
    rf_size[other] = _OTHER_RF_SIZE

    channel_weights = np.zeros((n_voxels, len(LOW_LEVEL_CHANNELS)), dtype=np.float32)
    tuned = structural | other
    channel_weights[tuned, :3] = rng.normal(0.0, 0.5, size=(tuned.sum(), 3))
    channel_weights[tuned, 3] = rng.uniform(0.5, 1.0, size=tuned.sum())

    semantic_weights = np.zeros((n_voxels, n_features), dtype=np.float32)
    mixed = is_class["semantic"] | other
    sparse = rng.normal(size=(mixed.sum(), n_features)) * (rng.random((mixed.sum(), n_features)) < _SEMANTIC_DENSITY)
    semantic_weights[mixed] = sparse
    for roi, preferred in FLOC_PREFERENCES.items():
        in_roi = (geometry.rois[roi][ijk] > 0) & is_class["semantic"]
        columns = [semantic_names.index(name) for name in preferred]
        semantic_weights[np.ix_(in_roi, columns)] += _PREFERENCE_WEIGHT

    channel_mean = low_level.mean(axis=(0, 2, 3)).astype(np.float32)
    channel_std = low_level.std(axis=(0, 2, 3)).astype(np.float32)
    amplitude = np.select([structural | is_class["semantic"], other], [1.0, _OTHER_AMPLITUDE], 0.0).astype(np.float32)
    cortical = ~is_class["non-cortical"]
    encoding = SubjectEncoding(
        voxel_ijk=np.stack(ijk, axis=1).astype(np.int16),
        voxel_class=voxel_class,
        rf_centre=rf_centre,
        rf_size=rf_size,
        channel_weights=channel_weights,
        semantic_weights=semantic_weights,
        channel_mean=channel_mean,
        channel_std=channel_std,
        signal_mean=np.zeros(n_voxels, dtype=np.float32),
        signal_scale=np.ones(n_voxels, dtype=np.float32),
        amplitude=amplitude,
        baseline=np.where(cortical, rng.normal(1.5, 0.5, n_voxels), rng.normal(0.3, 0.2, n_voxels)).astype(np.float32),
        session_offset=(rng.normal(0, 0.75, (n_sessions, n_voxels)) + rng.normal(0, 0.5, (n_sessions, 1))).astype(
            np.float32
        ),
        session_gain=np.exp(rng.normal(0, 0.15, (n_sessions, n_voxels)) + rng.normal(0, 0.1, (n_sessions, 1))).astype(
            np.float32
        ),
        noise_std=float(1.0 / snr),
    )
    raw = encoding.raw_response(low_level, semantic)
    encoding.signal_mean[:] = raw.mean(axis=0)
    scale = raw.std(axis=0)
    encoding.signal_scale[:] = np.where(scale > 0, scale, 1.0)
    logger.info(
        "encoding: %s",
        ", ".join(f"{is_class[name].sum()} {name}" for name in VOXEL_CLASSES),
    )
    return encoding


def write_truth(
    path: str | os.PathLike,
    semantic: np.ndarray,
    semantic_names: list[str],
    encodings: dict[str, SubjectEncoding],
) -> None:
    """Save the ground truth (synthetic-only file, e.g. ``<root>/synthetic_truth.h5``).

    Layout: ``/semantic_features`` (n_stimuli, F) float32 by 0-based nsd_id
    (attribute ``names``); one group per subject (``/subj01``) holding every
    field of :class:`SubjectEncoding` as a dataset (``noise_std`` as an
    attribute); root attributes ``voxel_classes``, ``low_level_channels``,
    ``feature_grid``.
    """
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["voxel_classes"] = json.dumps(VOXEL_CLASSES)
        f.attrs["low_level_channels"] = json.dumps(LOW_LEVEL_CHANNELS)
        f.attrs["feature_grid"] = FEATURE_GRID
        dataset = f.create_dataset("semantic_features", data=semantic.astype(np.float32))
        dataset.attrs["names"] = json.dumps(list(semantic_names))
        for subject, encoding in encodings.items():
            group = f.create_group(subject)
            for field in fields(SubjectEncoding):
                value = getattr(encoding, field.name)
                if field.name == "noise_std":
                    group.attrs[field.name] = value
                else:
                    group.create_dataset(field.name, data=value)


def read_truth(path: str | os.PathLike, subject: str) -> tuple[SubjectEncoding, np.ndarray, list[str]]:
    """Load one subject's encoding and the semantic features of all stimuli.

    Returns
    -------
    encoding : SubjectEncoding
    semantic : ndarray of float32, shape (n_stimuli, F)
    names : list of str, length F
    """
    with h5py.File(path, "r") as f:
        if subject not in f:
            raise KeyError(f"{path}: no subject {subject!r}; found {sorted(k for k in f if k.startswith('subj'))}")
        group = f[subject]
        values = {field.name: group[field.name][()] for field in fields(SubjectEncoding) if field.name != "noise_std"}
        encoding = SubjectEncoding(**values, noise_std=float(group.attrs["noise_std"]))
        semantic = f["semantic_features"][()]
        names = json.loads(f["semantic_features"].attrs["names"])
    return encoding, semantic, names
