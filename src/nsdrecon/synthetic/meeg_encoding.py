"""The known encoding model of the generated EEG and MEG worlds: sensor responses with time courses.

Each image has two standardised feature vectors: low-level (the luminance,
colour-opponent and contrast maps of
:func:`nsdrecon.synthetic.encoding.low_level_features` pooled on a 4 x 4 grid)
and semantic (:func:`nsdrecon.synthetic.scenes.semantic_features`). Sensor
``c`` responds to image ``i`` at time ``t`` with::

    a_low[c] * s_low[i, c] * g_low(t) + a_sem[c] * s_sem[i, c] * g_sem(t) + noise

where ``s_low = low_level @ W_low[c]`` and ``s_sem = semantic @ W_sem[c]`` are
scaled to unit standard deviation over the world's images, ``g`` are Gaussian
time courses of peak 1 (:data:`LOW_LEVEL_TIME_COURSE` early, about 100 ms;
:data:`SEMANTIC_TIME_COURSE` later, about 300 ms), and the amplitudes follow
the sensor positions: ``a_low`` is largest over posterior midline (occipital)
sensors, ``a_sem`` over lateral ones. The weights mix a few random sources, so
neighbouring tuning is shared. Trial noise is Gaussian with standard deviation
``1 / snr`` (a sensor of amplitude 1 at its peak has signal std / noise std = snr).

Everything needed to recompute the noiseless responses is saved in the world's
``synthetic_truth.h5`` (:func:`write_sensor_truth`, :func:`read_sensor_truth`).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, fields

import h5py
import numpy as np

from nsdrecon.atomic import atomic_path

from .encoding import low_level_features
from .scenes import SceneTable, semantic_feature_names, semantic_features

logger = logging.getLogger(__name__)

__all__ = [
    "LOW_LEVEL_TIME_COURSE",
    "SEMANTIC_TIME_COURSE",
    "SensorEncoding",
    "StimulusFeatures",
    "TimeCourse",
    "make_sensor_encoding",
    "read_sensor_truth",
    "stimulus_features",
    "write_sensor_truth",
]

LOW_LEVEL_GRID = 4
_N_SOURCES = 4
_MIN_AMPLITUDE = 0.25


@dataclass(frozen=True)
class TimeCourse:
    """A Gaussian time course of peak 1 at ``peak_s`` seconds, standard deviation ``width_s``."""

    peak_s: float
    width_s: float

    def __call__(self, times: np.ndarray) -> np.ndarray:
        """Values at ``times`` (seconds), float32 of the same shape."""
        return np.exp(-0.5 * ((np.asarray(times) - self.peak_s) / self.width_s) ** 2).astype(np.float32)


LOW_LEVEL_TIME_COURSE = TimeCourse(peak_s=0.1, width_s=0.03)
SEMANTIC_TIME_COURSE = TimeCourse(peak_s=0.3, width_s=0.07)


@dataclass(frozen=True, eq=False)
class StimulusFeatures:
    """Standardised features of a world's images (zero mean, unit std per column over its images).

    Attributes
    ----------
    image_files : ndarray of str, shape (n,)
        Each image's path relative to the world's image folder.
    low_level : ndarray of float32, shape (n, 4 * 4 * 4)
    semantic : ndarray of float32, shape (n, F)
        Columns named by :func:`nsdrecon.synthetic.scenes.semantic_feature_names` (constant columns are 0).
    """

    image_files: np.ndarray
    low_level: np.ndarray
    semantic: np.ndarray


def _standardise(values: np.ndarray) -> np.ndarray:
    std = values.std(axis=0)
    return ((values - values.mean(axis=0)) / np.where(std > 0, std, 1)).astype(np.float32)


def stimulus_features(image_files: list[str], images: np.ndarray, scenes: SceneTable) -> StimulusFeatures:
    """Standardised low-level and semantic features of ``images`` (uint8 (n, S, S, 3)) drawn from ``scenes``."""
    low_level = low_level_features(images, grid=LOW_LEVEL_GRID).reshape(len(images), -1)
    return StimulusFeatures(np.asarray(image_files), _standardise(low_level), _standardise(semantic_features(scenes)))


@dataclass(frozen=True, eq=False)
class SensorEncoding:
    """One subject's ground-truth sensor encoding model over C sensors.

    Attributes
    ----------
    ch_names : ndarray of str, shape (C,)
    positions : ndarray of float32, shape (C, 3)
        Sensor positions (x right, y anterior, z up; metres) that set the amplitudes.
    low_level_weights : ndarray of float32, shape (C, F_low)
    semantic_weights : ndarray of float32, shape (C, F_sem)
        Scaled so that each sensor's feature score has unit std over the world's images.
    low_level_amplitude, semantic_amplitude : ndarray of float32, shape (C,)
    noise_std : float
        Trial noise standard deviation, ``1 / snr``.
    """

    ch_names: np.ndarray
    positions: np.ndarray
    low_level_weights: np.ndarray
    semantic_weights: np.ndarray
    low_level_amplitude: np.ndarray
    semantic_amplitude: np.ndarray
    noise_std: float

    def scores(self, features: StimulusFeatures) -> tuple[np.ndarray, np.ndarray]:
        """Each sensor's low-level and semantic score per image: two float32 arrays of shape (n, C)."""
        return features.low_level @ self.low_level_weights.T, features.semantic @ self.semantic_weights.T

    def predict(self, features: StimulusFeatures, times: np.ndarray) -> np.ndarray:
        """Noiseless responses, float32 of shape (n, C, T) for ``times`` (T,) in seconds."""
        low, semantic = self.scores(features)
        return (
            (low * self.low_level_amplitude)[:, :, None] * LOW_LEVEL_TIME_COURSE(times)
            + (semantic * self.semantic_amplitude)[:, :, None] * SEMANTIC_TIME_COURSE(times)
        ).astype(np.float32)

    def simulate(self, response: np.ndarray, repetitions: int, rng: np.random.Generator) -> np.ndarray:
        """Noisy trials of ``response`` (n, C, T): float32 (n, repetitions, C, T)."""
        noise = rng.standard_normal((len(response), repetitions, *response.shape[1:]), dtype=np.float32)
        return response[:, None] + np.float32(self.noise_std) * noise


def _unit_scores(rng: np.random.Generator, n_sensors: int, features: np.ndarray) -> np.ndarray:
    """Weights (C, F) mixing a few random sources, scaled so each sensor's score has unit std over ``features``."""
    weights = rng.normal(size=(n_sensors, _N_SOURCES)) @ rng.normal(size=(_N_SOURCES, features.shape[1]))
    scale = (features @ weights.T).std(axis=0)
    return (weights / np.where(scale > 0, scale, 1)[:, None]).astype(np.float32)


def make_sensor_encoding(
    rng: np.random.Generator, ch_names: list[str], positions: np.ndarray, features: StimulusFeatures, snr: float
) -> SensorEncoding:
    """Draw one subject's encoding model for sensors at ``positions`` (C, 3).

    ``a_low`` grows from :data:`_MIN_AMPLITUDE` to 1 towards posterior midline sensors, ``a_sem`` towards
    lateral ones (positions normalised over the subject's sensors).
    """
    if snr <= 0:
        raise ValueError(f"snr must be > 0, got {snr}")
    x, y = positions[:, 0], positions[:, 1]
    posterior = (y.max() - y) / np.ptp(y)
    lateral = np.abs(x) / np.abs(x).max()
    low_amplitude = _MIN_AMPLITUDE + (1 - _MIN_AMPLITUDE) * posterior * (1 - lateral)
    semantic_amplitude = _MIN_AMPLITUDE + (1 - _MIN_AMPLITUDE) * lateral
    return SensorEncoding(
        ch_names=np.asarray(ch_names),
        positions=np.asarray(positions, dtype=np.float32),
        low_level_weights=_unit_scores(rng, len(ch_names), features.low_level),
        semantic_weights=_unit_scores(rng, len(ch_names), features.semantic),
        low_level_amplitude=low_amplitude.astype(np.float32),
        semantic_amplitude=semantic_amplitude.astype(np.float32),
        noise_std=float(1.0 / snr),
    )


def write_sensor_truth(
    path: str | os.PathLike, features: StimulusFeatures, encodings: dict[str, SensorEncoding]
) -> None:
    """Save the ground truth (synthetic-only file, ``<root>/synthetic_truth.h5``).

    Layout: ``/stimuli/{image_files,low_level,semantic}`` (``semantic`` with attribute ``names``); one group per
    subject (``/sub-01``) holding every field of :class:`SensorEncoding` (``noise_std`` as an attribute); root
    attributes ``time_courses`` (JSON: ``low_level`` and ``semantic`` peak_s and width_s) and ``low_level_grid``.
    """
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["time_courses"] = json.dumps(
            {"low_level": vars(LOW_LEVEL_TIME_COURSE), "semantic": vars(SEMANTIC_TIME_COURSE)}
        )
        f.attrs["low_level_grid"] = LOW_LEVEL_GRID
        stimuli = f.create_group("stimuli")
        stimuli.create_dataset("image_files", data=features.image_files.astype(object), dtype=h5py.string_dtype())
        stimuli.create_dataset("low_level", data=features.low_level)
        stimuli.create_dataset("semantic", data=features.semantic).attrs["names"] = json.dumps(semantic_feature_names())
        for subject, encoding in encodings.items():
            group = f.create_group(subject)
            group.attrs["noise_std"] = encoding.noise_std
            group.create_dataset("ch_names", data=encoding.ch_names.astype(object), dtype=h5py.string_dtype())
            for field in fields(SensorEncoding):
                if field.name not in ("ch_names", "noise_std"):
                    group.create_dataset(field.name, data=getattr(encoding, field.name))


def read_sensor_truth(
    path: str | os.PathLike, subject: str
) -> tuple[SensorEncoding, StimulusFeatures, dict[str, TimeCourse]]:
    """One subject's encoding, the stimulus features and the time courses (``low_level``, ``semantic``)."""
    with h5py.File(path, "r") as f:
        if subject not in f:
            raise KeyError(f"{path}: no subject {subject!r}; found {sorted(k for k in f if k != 'stimuli')}")
        group = f[subject]
        values = {name: group[name][()] for name in group}
        values["ch_names"] = group["ch_names"].asstr()[()]
        encoding = SensorEncoding(**values, noise_std=float(group.attrs["noise_std"]))
        stimuli = f["stimuli"]
        features = StimulusFeatures(
            stimuli["image_files"].asstr()[()], stimuli["low_level"][()], stimuli["semantic"][()]
        )
        courses = {name: TimeCourse(**course) for name, course in json.loads(f.attrs["time_courses"]).items()}
    return encoding, features, courses
