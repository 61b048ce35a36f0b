"""Synthetic NSD-format data: the embedded default world.

A generator writes, in NSD's exact key layout and formats, procedural scenes
(``imgBrick``), their captions (COCO json), an experimental design following
NSD's rules (``nsd_expdesign.mat``, ``nsd_stim_info_merged.csv``,
``responses.tsv``), per-subject brain geometry (ROI volumes with label tables,
brain mask, mean EPI) and int16 single-trial betas in both NIfTI and HDF5,
simulated from a known encoding model whose parameters are saved to
``synthetic_truth.h5`` for tests.
"""

from .design import make_expdesign, save_expdesign
from .encoding import SubjectEncoding, low_level_features, read_truth
from .generate import TRUTH_FILE, write_synthetic_nsd
from .geometry import ROI_LABELS
from .scenes import SceneSpec, SceneTable, render_scenes, sample_scenes, semantic_feature_names, semantic_features

__all__ = [
    "ROI_LABELS",
    "TRUTH_FILE",
    "SceneSpec",
    "SceneTable",
    "SubjectEncoding",
    "low_level_features",
    "make_expdesign",
    "read_truth",
    "render_scenes",
    "sample_scenes",
    "save_expdesign",
    "semantic_feature_names",
    "semantic_features",
    "write_synthetic_nsd",
]
