"""Stage ``stimulus_features``: encode every image the configured subjects saw (HAVIR's and MindDiffuser's targets)."""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd

from ..models import (
    ClipLayerFeatures,
    load_clip_vision,
    load_stable_diffusion,
    load_versatile_diffusion,
    resolve_device,
    torch_dtype,
)
from ..nsd import read_captions, read_expdesign, read_stim_info, trial_table
from ..nsd.stimuli import StimulusImages
from ..features import compute_minddiffuser_features, compute_stimulus_features
from ..fileformats import open_hdf5
from ..settings import FeatureEncoding, MindDiffuserTargets, ModelSource

logger = logging.getLogger(__name__)


def images_seen(design, subjects, sessions: int, trials_per_session: int = 750) -> np.ndarray:
    """Sorted 0-based nsd ids shown to any of ``subjects`` in their first ``sessions`` sessions."""
    ids = [
        trial_table(design, s, sessions, trials_per_session)["nsd_id"].to_numpy()
        for s in subjects
    ]
    return np.unique(np.concatenate(ids))


def stimulus_ids(stimuli) -> np.ndarray:
    """Sorted ids held by stimulus files in the subset layout (``nsd_id`` beside ``imgBrick``)."""
    paths = [stimuli] if isinstance(stimuli, (str, os.PathLike)) else list(stimuli)
    ids = []
    for path in paths:
        with open_hdf5(path) as f:  # names a missing or damaged file
            if "nsd_id" not in f:
                raise ValueError(f"{path}: no 'nsd_id' dataset; found {list(f)}")
            ids.append(f["nsd_id"][:])
    return np.unique(np.concatenate(ids)).astype(np.int64)


def read_caption_tables(tables, ids) -> list[list[str]]:
    """Captions of ``ids`` from TSV tables with columns ``nsd_id`` and ``caption``; an id without one is an error."""
    table = pd.concat([pd.read_csv(t, sep="\t", keep_default_na=False) for t in tables]).drop_duplicates()
    by_id = table.groupby("nsd_id")["caption"].apply(list).to_dict()
    missing = [int(i) for i in ids if int(i) not in by_id]
    if missing:
        raise ValueError(f"no caption of ids {missing[:10]} ({len(missing)} in all) in {list(map(str, tables))}")
    return [by_id[int(i)] for i in ids]


def run_stimulus_features(
    *, stimuli, stim_info, expdesign, captions, subjects, sessions, trials_per_session,
    model: ModelSource, encoding: FeatureEncoding, device, dtype, batch_size, out_path,
) -> None:
    """Write VAE latents and CLIP image/text tokens of the seen images to ``out_path``."""
    ids, images, texts = _seen_stimuli(stimuli, expdesign, stim_info, captions, subjects, sessions, trials_per_session)
    vd = load_versatile_diffusion(
        model.id, random_init=model.random_init, seed=model.seed,
        device=resolve_device(device), dtype=torch_dtype(dtype),
        components=("vae", "image_encoder", "text_encoder", "tokenizer", "image_processor"),  # no UNets
    )
    compute_stimulus_features(
        vd, images, texts, ids, out_path, batch_size=batch_size, vae_latent=encoding.vae_latent,
        clip_image_input=encoding.clip_image_input, seed=encoding.seed,
    )


def run_minddiffuser_features(
    *, stimuli, stim_info, expdesign, captions, subjects, sessions, trials_per_session,
    model: ModelSource, clip: ModelSource, targets: MindDiffuserTargets, encoding: FeatureEncoding,
    device, dtype, batch_size, out_path,
) -> None:
    """Write SD latents, SD text conditioning and CLIP ViT-B/32 layer features of the seen images."""
    ids, images, texts = _seen_stimuli(stimuli, expdesign, stim_info, captions, subjects, sessions, trials_per_session)
    device = resolve_device(device)
    sd = load_stable_diffusion(
        model.id, random_init=model.random_init, seed=model.seed, device=device, dtype=torch_dtype(dtype),
        components=("vae", "text_encoder", "tokenizer"),
    )
    vision = load_clip_vision(clip.id, random_init=clip.random_init, seed=clip.seed, device=device)
    features = ClipLayerFeatures(vision, targets.clip_layers, output=targets.clip_output, preprocess=targets.clip_input)
    compute_minddiffuser_features(
        sd, features, images, texts, ids, out_path, batch_size=batch_size, vae_latent=encoding.vae_latent,
        seed=encoding.seed, context_tokens=targets.context_tokens, captions_per_image=targets.captions,
    )


def _seen_stimuli(stimuli, expdesign, stim_info, captions, subjects, sessions, trials_per_session):
    """The seen images' ids, a lazy view of their pixels (read batch by batch) and their captions.

    NSD (``expdesign`` given): the images of the subjects' first ``sessions`` sessions, COCO captions checked
    against ``stim_info``. Otherwise (EEG/MEG): the ids held by the subjects' stimulus files and the captions of
    their caption tables (``nsd_id``, ``caption``).
    """
    if expdesign is None:
        ids = stimulus_ids(stimuli)
        logger.info("%d images in the stimulus files of %s", len(ids), subjects)
        return ids, StimulusImages(stimuli, ids), read_caption_tables(captions, ids)
    ids = images_seen(read_expdesign(expdesign), subjects, sessions, trials_per_session)
    logger.info("%d images seen by %s in %d sessions", len(ids), subjects, sessions)
    return ids, StimulusImages(stimuli, ids), read_captions(captions, read_stim_info(stim_info), ids)
