"""Stimulus metadata in NSD's formats: ``nsd_stim_info_merged.csv`` and COCO caption files.

Each synthetic stimulus gets a unique fake COCO id and split (``train2017`` or
``val2017``); the caption files hold five captions per image written from its
scene (``nsd.md`` sections 3c and 4).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .captions import scene_captions
from .design import presentation_trials
from .scenes import SceneTable

logger = logging.getLogger(__name__)

__all__ = ["COCO_SPLITS", "N_STIM_INFO_SUBJECTS", "coco_captions", "stim_info_table"]

COCO_SPLITS = ("train2017", "val2017")
N_STIM_INFO_SUBJECTS = 8
_VAL_FRACTION = 0.15
_MAX_COCO_ID = 581929  # largest COCO-2017 image id


def _crop_boxes(rng: np.random.Generator, n: int) -> list[str]:
    """NSD-style crop boxes "(top, bottom, left, right)": a square crop cuts one axis only."""
    amount = np.round(rng.uniform(0.0, 0.2, n), 7)
    vertical = rng.random(n) < 0.3
    boxes = []
    for cut, is_vertical in zip(amount, vertical):
        cut = float(cut) if cut > 0.01 else 0
        boxes.append(f"({cut}, {cut}, 0, 0)" if is_vertical else f"(0, 0, {cut}, {cut})")
    return boxes


def stim_info_table(rng: np.random.Generator, design: dict[str, np.ndarray]) -> pd.DataFrame:
    """The rows of ``nsd_stim_info_merged.csv`` for every stimulus of ``design``.

    Parameters
    ----------
    rng : numpy.random.Generator
    design : dict
        From :func:`nsdrecon.synthetic.design.make_expdesign`.

    Returns
    -------
    pandas.DataFrame
        One row per stimulus, index = 0-based ``nsdId``; columns ``cocoId``,
        ``cocoSplit``, ``cropBox``, ``loss``, ``nsdId``, ``flagged``, ``BOLD5000``,
        ``shared1000``, ``subject1..8`` (0/1) and ``subjectS_repR`` (1-based
        global trial of the R-th presentation, 0 if none) for S = 1..8, R = 0..2.
        Subjects beyond the design's rows are all 0.
    """
    subjectim = design["subjectim"]
    n_subjects = subjectim.shape[0]
    if n_subjects > N_STIM_INFO_SUBJECTS:
        raise ValueError(
            f"nsd_stim_info_merged.csv has {N_STIM_INFO_SUBJECTS} subject columns, design has {n_subjects}"
        )
    n_stimuli = int(subjectim.max())
    nsd_id = np.arange(n_stimuli)
    table = pd.DataFrame(
        {
            "cocoId": rng.choice(_MAX_COCO_ID, size=n_stimuli, replace=False) + 1,
            "cocoSplit": np.where(rng.random(n_stimuli) < _VAL_FRACTION, "val2017", "train2017"),
            "cropBox": _crop_boxes(rng, n_stimuli),
            "loss": np.round(rng.uniform(0, 0.15, n_stimuli), 6),
            "nsdId": nsd_id,
            "flagged": np.zeros(n_stimuli, dtype=bool),
            "BOLD5000": rng.random(n_stimuli) < 0.01,
            "shared1000": np.isin(nsd_id + 1, design["sharedix"]),
        }
    )
    # 1-based trial numbers of each 10k image's presentations, common to all subjects
    trials = presentation_trials(design["masterordering"]) + 1
    seen = np.zeros((N_STIM_INFO_SUBJECTS, n_stimuli), dtype=np.int64)
    reps = np.zeros((N_STIM_INFO_SUBJECTS, n_stimuli, trials.shape[1]), dtype=np.int64)
    for row, images in enumerate(subjectim):
        seen[row, images - 1] = 1
        reps[row, images - 1] = trials
    for s in range(N_STIM_INFO_SUBJECTS):
        table[f"subject{s + 1}"] = seen[s]
    for s in range(N_STIM_INFO_SUBJECTS):
        for r in range(trials.shape[1]):
            table[f"subject{s + 1}_rep{r}"] = reps[s, :, r]
    return table


def coco_captions(stim_info: pd.DataFrame, scenes: SceneTable, image_size: int, rng: np.random.Generator) -> dict:
    """COCO-format caption annotations, one dict per split.

    Parameters
    ----------
    stim_info : pandas.DataFrame
        From :func:`stim_info_table` (``cocoId``, ``cocoSplit`` by ``nsdId``).
    scenes : SceneTable
        The scene of each stimulus, by ``nsdId``.
    image_size : int
        Reported as each image's height and width.
    rng : numpy.random.Generator
        Draws the caption wording.

    Returns
    -------
    dict of str to dict
        ``{"train2017": {...}, "val2017": {...}}``, each with ``info``,
        ``licenses``, ``images`` (``id``, ``file_name``, ``height``, ``width``,
        ``license``) and ``annotations`` (``image_id``, ``id``, ``caption``).
    """
    files = {
        split: {
            "info": {
                "description": "Synthetic NSD-format captions (procedural scenes), COCO 2017 layout",
                "version": "1.0",
                "year": 2017,
            },
            "licenses": [{"id": 1, "name": "CC0 (synthetic)", "url": ""}],
            "images": [],
            "annotations": [],
        }
        for split in COCO_SPLITS
    }
    annotation_id = 1
    rows = zip(stim_info["nsdId"], stim_info["cocoId"], stim_info["cocoSplit"])
    for nsd_id, coco_id, split in tqdm(rows, total=len(stim_info), desc="captions", unit="image", disable=None):
        coco_id = int(coco_id)
        files[split]["images"].append(
            {"license": 1, "file_name": f"{coco_id:012d}.jpg", "height": image_size, "width": image_size, "id": coco_id}
        )
        for caption in scene_captions(scenes.spec(int(nsd_id)), rng):
            files[split]["annotations"].append({"image_id": coco_id, "id": annotation_id, "caption": caption})
            annotation_id += 1
    return files
