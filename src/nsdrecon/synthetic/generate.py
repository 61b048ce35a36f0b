"""Write a synthetic dataset in NSD's exact key layout and file formats.

:func:`write_synthetic_nsd` writes, under one root, every file the pipeline
reads from NSD (``nsd.md`` section 7 checklist) at the keys of
:mod:`nsdrecon.layout`, plus ``synthetic_truth.h5`` (ground truth of the
encoding model; synthetic-only, not an NSD key).

Random streams are keyed by (seed, purpose[, subject]) so a subject's brain,
behaviour and betas do not depend on which other subjects are generated.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
from tqdm.auto import tqdm

from nsdrecon import layout
from nsdrecon.atomic import atomic_path, write_text

from .behaviour import responses_table
from .cortex import write_fsaverage_labels, write_subject_cortex
from .design import make_expdesign, save_expdesign
from .encoding import (
    FEATURE_GRID,
    LOW_LEVEL_CHANNELS,
    SubjectEncoding,
    low_level_features,
    make_subject_encoding,
    write_truth,
)
from .geometry import ROI_LABELS, SubjectGeometry, make_subject_geometry
from .metadata import COCO_SPLITS, coco_captions, stim_info_table
from .rng import stream_rng
from .scenes import SceneTable, render_scenes, sample_scenes, semantic_feature_names, semantic_features

logger = logging.getLogger(__name__)

__all__ = ["TRUTH_FILE", "stimulus_scenes", "write_synthetic_nsd"]

TRUTH_FILE = layout.SYNTHETIC_TRUTH
PSC_SCALE = 300  # NSD betas are int16 round(PSC * 300)
_RENDER_CHUNK = 1024
_INT16 = np.iinfo(np.int16)

# random-stream purposes
_DESIGN, _SCENES, _STIM_INFO, _CAPTIONS, _GEOMETRY, _ENCODING, _BEHAVIOUR, _NOISE, _CORTEX = range(9)
_TEMPLATE = 0  # subject key of the template brain whose ROIs become the fsaverage labels (subjects are 1..8)


def stimulus_scenes(seed: int, n_stimuli: int) -> SceneTable:
    """The scenes of the dataset's ``n_stimuli`` stimuli (row i is 0-based nsd id i) for ``seed``."""
    return sample_scenes(stream_rng(seed, _SCENES), n_stimuli)


def _save_nifti(path: Path, volume: np.ndarray, affine: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        nib.save(nib.Nifti1Image(volume, affine), tmp)


def _write_stimuli(path: Path, scenes: SceneTable, image_size: int, feature_ids: np.ndarray) -> np.ndarray:
    """Render every scene into ``imgBrick`` (n, S, S, 3) uint8, chunk by chunk.

    Returns the low-level features (len(feature_ids), 4, G, G) of the images
    ``feature_ids`` (sorted 0-based ids), computed while their chunk is in memory.
    """
    n = len(scenes)
    features = np.empty((len(feature_ids), len(LOW_LEVEL_CHANNELS), FEATURE_GRID, FEATURE_GRID), dtype=np.float32)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        brick = f.create_dataset(
            "imgBrick", shape=(n, image_size, image_size, 3), dtype=np.uint8, chunks=(1, image_size, image_size, 3)
        )
        for start in tqdm(range(0, n, _RENDER_CHUNK), desc="stimuli", unit="chunk", disable=None):
            images = render_scenes(scenes.subset(slice(start, start + _RENDER_CHUNK)), image_size)
            brick[start : start + len(images)] = images
            wanted = np.flatnonzero((feature_ids >= start) & (feature_ids < start + len(images)))
            features[wanted] = low_level_features(images[feature_ids[wanted] - start])
    return features


def _write_subject_volumes(root: Path, subject: str, geometry: SubjectGeometry) -> list[Path]:
    written = []
    for name, labels in ROI_LABELS.items():
        path = root / layout.roi(subject, name)
        _save_nifti(path, geometry.rois[name], geometry.affine)
        ctab = root / layout.ctab(subject, name)
        write_text(ctab, "".join(f"{value} {label}\n" for value, label in enumerate(("Unknown", *labels))))
        written += [path, ctab]
    for path, volume in (
        (root / layout.brainmask(subject), geometry.brainmask.astype(np.int16)),
        (root / layout.mean_volume(subject), geometry.mean_epi),
    ):
        _save_nifti(path, volume, geometry.affine)
        written.append(path)
    return written


def _write_betas(
    root: Path,
    subject: str,
    geometry: SubjectGeometry,
    encoding: SubjectEncoding,
    trial_images: np.ndarray,
    low_level: np.ndarray,
    semantic: np.ndarray,
    trials_per_session: int,
    beta_version: str,
    seed: int,
) -> list[Path]:
    """Simulate and write every session's betas in both NSD formats.

    ``trial_images`` holds each trial's row into ``low_level``/``semantic``.
    """
    written = []
    n_sessions = len(trial_images) // trials_per_session
    for session in tqdm(range(n_sessions), desc=f"{subject} betas", unit="session", disable=None):
        rows = trial_images[session * trials_per_session : (session + 1) * trials_per_session]
        response = encoding.predict(low_level[rows], semantic[rows])
        psc = encoding.simulate_betas(response, session, stream_rng(seed, _NOISE, layout.subject_index(subject), session))
        betas = np.clip(np.round(psc * PSC_SCALE), _INT16.min, _INT16.max).astype(np.int16)
        volume = np.zeros(geometry.shape + (trials_per_session,), dtype=np.int16)  # (X, Y, Z, T)
        volume[geometry.brainmask] = betas.T
        nifti = root / layout.betas(subject, session + 1, "nifti", beta_version)
        _save_nifti(nifti, volume, geometry.affine)
        hdf5 = root / layout.betas(subject, session + 1, "hdf5", beta_version)
        with atomic_path(hdf5) as tmp, h5py.File(tmp, "w") as f:
            f.create_dataset(
                "betas", data=np.ascontiguousarray(volume.transpose(3, 2, 1, 0)), chunks=(trials_per_session, 1, 1, 1)
            )
        written += [nifti, hdf5]
    return written


def write_synthetic_nsd(
    root: str | os.PathLike,
    subjects: list[str | int],
    *,
    seed: int = 0,
    n_images_per_subject: int = 1000,
    n_shared: int = 100,
    trials_per_session: int = 750,
    image_size: int = 64,
    volume_shape: tuple[int, int, int] = (18, 22, 18),
    snr: float = 0.6,
    beta_version: str = layout.DEFAULT_BETA_VERSION,
    n_design_subjects: int = 8,
) -> list[Path]:
    """Generate a synthetic NSD-format dataset under ``root``.

    Parameters
    ----------
    root : path-like
        Plays the bucket root: files land at ``root / layout.<key>(...)``.
    subjects : list of str or int
        Subjects to give brains, behaviour and betas (``"subj01"`` or ``1``);
        each must be one of the design's ``1..n_design_subjects``.
    seed : int, default=0
    n_images_per_subject : int, default=1000
        Images per subject, each shown three times (NSD: 10000).
    n_shared : int, default=100
        Images shared by all subjects, the test set (NSD: 1000).
    trials_per_session : int, default=750
        Sessions = 3 * n_images_per_subject / trials_per_session (must be whole).
    image_size : int, default=64
        Side of each ``imgBrick`` image (NSD: 425).
    volume_shape : tuple of 3 int, default=(18, 22, 18)
        Nominal (X, Y, Z) of the 1.8-mm volumes; each subject's is jittered.
    snr : float, default=0.6
        Single-trial signal std / noise std of structural and semantic voxels.
    beta_version : str, default="betas_fithrf_GLMdenoise_RR"
        Folder name of the betas.
    n_design_subjects : int, default=8
        Subjects in the design (rows of ``subjectim``; NSD: 8).

    Returns
    -------
    list of pathlib.Path
        Every file written.

    Raises
    ------
    ValueError
        Parameters that do not fit together (see
        :func:`nsdrecon.synthetic.design.make_expdesign`) or a subject outside the design.
    """
    root = Path(root)
    subject_names = [layout.subject_name(s) for s in subjects]
    indices = [layout.subject_index(s) for s in subject_names]
    if len(set(indices)) != len(indices) or not all(1 <= i <= n_design_subjects for i in indices):
        raise ValueError(
            f"subjects must be distinct and within subj01..subj{n_design_subjects:02d} "
            f"(n_design_subjects={n_design_subjects}), got {list(subjects)}"
        )
    if image_size < 8:
        raise ValueError(f"image_size must be >= 8 pixels, got {image_size}")
    written: list[Path] = []

    design = make_expdesign(stream_rng(seed, _DESIGN), n_images_per_subject, n_shared, trials_per_session, n_design_subjects)
    save_expdesign(root / layout.expdesign(), design)
    written.append(root / layout.expdesign())
    n_stimuli = int(design["subjectim"].max())

    scenes = stimulus_scenes(seed, n_stimuli)
    logger.info("rendering %d stimuli at %d px", n_stimuli, image_size)
    seen_ids = np.unique(design["subjectim"][np.asarray(indices) - 1]) - 1  # 0-based ids the subjects see
    seen_low_level = _write_stimuli(root / layout.stimuli(), scenes, image_size, seen_ids)
    written.append(root / layout.stimuli())
    semantic = semantic_features(scenes)
    names = semantic_feature_names()

    stim_info = stim_info_table(stream_rng(seed, _STIM_INFO), design)
    with atomic_path(root / layout.stim_info()) as tmp:
        stim_info.to_csv(tmp)
    written.append(root / layout.stim_info())
    captions = coco_captions(stim_info, scenes, image_size, stream_rng(seed, _CAPTIONS))
    for split in COCO_SPLITS:
        with atomic_path(root / layout.captions(split)) as tmp:
            tmp.write_text(json.dumps(captions[split]))
        written.append(root / layout.captions(split))

    masterordering = design["masterordering"].ravel()
    n_sessions = len(masterordering) // trials_per_session
    encodings = {}
    for subject, index in zip(subject_names, indices):
        logger.info("subject %s", subject)
        geometry = make_subject_geometry(stream_rng(seed, _GEOMETRY, index), tuple(volume_shape))
        written += _write_subject_volumes(root, subject, geometry)
        written += write_subject_cortex(root, subject, geometry, stream_rng(seed, _CORTEX, index))

        images = design["subjectim"][index - 1] - 1  # 0-based nsd ids of the subject's 10k list
        low_level = seen_low_level[np.searchsorted(seen_ids, images)]
        encoding = make_subject_encoding(
            stream_rng(seed, _ENCODING, index), geometry, low_level, semantic[images], names, n_sessions, snr
        )
        encodings[subject] = encoding

        responses = responses_table(stream_rng(seed, _BEHAVIOUR, index), design, index, trials_per_session)
        with atomic_path(root / layout.responses(subject)) as tmp:
            responses.to_csv(tmp, sep="\t", index=False, na_rep="NaN", float_format="%.15g")
        written.append(root / layout.responses(subject))

        written += _write_betas(
            root,
            subject,
            geometry,
            encoding,
            masterordering.astype(np.int64) - 1,
            low_level,
            semantic[images],
            trials_per_session,
            beta_version,
            seed,
        )

    template = make_subject_geometry(stream_rng(seed, _GEOMETRY, _TEMPLATE), tuple(volume_shape))
    written += write_fsaverage_labels(root, template, stream_rng(seed, _CORTEX, _TEMPLATE))

    write_truth(root / TRUTH_FILE, semantic, names, encodings)
    written.append(root / TRUTH_FILE)
    logger.info("wrote %d files under %s", len(written), root)
    return written
