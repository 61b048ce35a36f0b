"""Stage ``stimulus_features``: encode every image the configured subjects saw (HAVIR's and MindDiffuser's targets)."""

from __future__ import annotations

import logging

import numpy as np

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

logger = logging.getLogger(__name__)


def images_seen(design, subjects, sessions: int, trials_per_session: int = 750) -> np.ndarray:
    """Sorted 0-based nsd ids shown to any of ``subjects`` in their first ``sessions`` sessions."""
    ids = [
        trial_table(design, s, sessions, trials_per_session)["nsd_id"].to_numpy()
        for s in subjects
    ]
    return np.unique(np.concatenate(ids))


def run_stimulus_features(
    *, stimuli, stim_info, expdesign, captions, subjects, sessions, trials_per_session,
    model, device, dtype, batch_size, out_path,
) -> None:
    """Write VAE latents and CLIP image/text tokens of the seen images to ``out_path``."""
    ids, images, texts = _seen_stimuli(stimuli, expdesign, stim_info, captions, subjects, sessions, trials_per_session)
    vd = load_versatile_diffusion(
        model["id"], random_init=model["random_init"], seed=model["seed"],
        device=resolve_device(device), dtype=torch_dtype(dtype),
        components=("vae", "image_encoder", "text_encoder", "tokenizer", "image_processor"),  # no UNets
    )
    compute_stimulus_features(vd, images, texts, ids, out_path, batch_size=batch_size)


def run_minddiffuser_features(
    *, stimuli, stim_info, expdesign, captions, subjects, sessions, trials_per_session,
    model, clip, clip_layers, device, dtype, batch_size, out_path,
) -> None:
    """Write SD latents, SD text conditioning and CLIP ViT-B/32 layer features of the seen images."""
    ids, images, texts = _seen_stimuli(stimuli, expdesign, stim_info, captions, subjects, sessions, trials_per_session)
    device = resolve_device(device)
    sd = load_stable_diffusion(
        model["id"], random_init=model["random_init"], seed=model["seed"], device=device, dtype=torch_dtype(dtype),
        components=("vae", "text_encoder", "tokenizer"),
    )
    vision = load_clip_vision(clip["id"], random_init=clip["random_init"], seed=clip["seed"], device=device)
    compute_minddiffuser_features(
        sd, ClipLayerFeatures(vision, clip_layers), images, texts, ids, out_path, batch_size=batch_size
    )


def _seen_stimuli(stimuli, expdesign, stim_info, captions, subjects, sessions, trials_per_session):
    """The seen images' ids, a lazy view of their pixels (read batch by batch) and their captions."""
    ids = images_seen(read_expdesign(expdesign), subjects, sessions, trials_per_session)
    logger.info("%d images seen by %s in %d sessions", len(ids), subjects, sessions)
    return ids, StimulusImages(stimuli, ids), read_captions(captions, read_stim_info(stim_info), ids)
