"""Stages from the data files to a subject's inputs: masks, betas, captions and stimulus subset."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from ..atomic import write_text
from ..betas import extract_stream_betas, save_betas
from ..download import RetryPolicy
from ..masks import load_mask, save_mask, stream_masks, voxel_count_table
from ..nsd import read_expdesign, read_roi, read_stim_info
from ..nsd.stimuli import write_caption_table
from ..nsd.stimulus_subset import subject_images, write_stimulus_subset
from ..settings import Betas, Masks

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike


def run_masks(*, subject: str, rois: Mapping[str, tuple[PathLike, PathLike]], masks: Masks, outputs: Mapping[str, PathLike]) -> None:
    """The subject's structural and semantic masks from its ROI files (name -> (volume, ctab)), and voxel counts.

    ``outputs``: ``structural``, ``semantic`` (NIfTI) and ``counts`` (TSV) paths.
    """
    volumes = {name: read_roi(*rois[name]) for name in sorted(rois)}  # fixed order: same table bytes on every run
    label_sets = {"structural": masks.structural, "semantic": masks.semantic}
    streams = stream_masks(volumes, label_sets, volumes[masks.intersect], overlap=masks.overlap)
    for stream, mask in streams.items():
        save_mask(mask, volumes[masks.intersect].affine, outputs[stream])
    write_text(outputs["counts"], voxel_count_table(streams, volumes, subject).to_csv(sep="\t", index=False))


def run_betas(
    *, subject: str, sessions: list[PathLike], expdesign: PathLike, masks: Mapping[str, PathLike], betas: Betas,
    trials_per_session: int, out_path: PathLike,
) -> None:
    """Each stream's z-scored train/test betas (test repeats averaged) from the session files, as NetCDF."""
    stream_masks = {stream: load_mask(path)[0] for stream, path in masks.items()}
    dataset = extract_stream_betas(
        list(sessions), read_expdesign(expdesign), subject, stream_masks,
        zscore=betas.zscore, train_trials=betas.train_trials, trials_per_session=trials_per_session,
    )  # fmt: skip
    save_betas(dataset, out_path)


def run_subject_captions(
    *, subject: str, captions: list[PathLike], stim_info: PathLike, expdesign: PathLike, sessions: int,
    trials_per_session: int, out_path: PathLike,
) -> None:
    """The COCO captions of the images the subject saw in its first ``sessions`` sessions (TSV)."""
    ids = subject_images(read_expdesign(expdesign), subject, sessions, trials_per_session)
    rows = write_caption_table(out_path, list(captions), read_stim_info(stim_info), ids)
    logger.info("%d captions of %d images -> %s", rows, len(ids), out_path)


def run_subset_stimuli(
    *, subject: str, expdesign: PathLike, source: PathLike, sessions: int, trials_per_session: int,
    parallel: int, retries: int, out_path: PathLike,
) -> None:
    """The images the subject saw, copied out of imgBrick: ``source`` a local file or the bucket's URL (range requests)."""
    ids = subject_images(read_expdesign(expdesign), subject, sessions, trials_per_session)
    write_stimulus_subset(source, ids, out_path, parallel=parallel, policy=RetryPolicy(retries=retries))
