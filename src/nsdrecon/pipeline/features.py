"""Stage ``stimulus_features``: encode every image the configured subjects saw."""

from __future__ import annotations

import logging

import numpy as np

from ..models import load_versatile_diffusion, resolve_device, torch_dtype
from ..nsd import read_captions, read_expdesign, read_stim_info, trial_table
from ..features import compute_stimulus_features

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
    ids = images_seen(read_expdesign(expdesign), subjects, sessions, trials_per_session)
    logger.info("%d images seen by %s in %d sessions", len(ids), subjects, sessions)
    texts = read_captions(captions, read_stim_info(stim_info), ids)
    vd = load_versatile_diffusion(
        model["id"], random_init=model["random_init"], seed=model["seed"],
        device=resolve_device(device), dtype=torch_dtype(dtype),
        components=("vae", "image_encoder", "text_encoder", "tokenizer", "image_processor"),  # no UNets
    )
    compute_stimulus_features(vd, stimuli, texts, ids, out_path, batch_size=batch_size)
