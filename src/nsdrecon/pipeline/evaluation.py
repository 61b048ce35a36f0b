"""Stage ``evaluate``: the eight metrics for one subject and method; figure panels."""

from __future__ import annotations

import logging

import numpy as np

from ..atomic import write_text
from ..h5io import load_arrays
from ..metrics import evaluate_reconstructions, load_feature_networks
from ..models import resolve_device
from ..nsd import read_stimuli

logger = logging.getLogger(__name__)


def load_reconstructions(path) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (N,H,W,3), nsd_ids (N,))`` of a reconstruction file."""
    arrays, _ = load_arrays(path, ["images", "nsd_id"])
    return arrays["images"], arrays["nsd_id"]


def run_evaluate(*, reconstructions, stimuli, subject, method, settings, device, out_path) -> None:
    """Per-image metrics of ``reconstructions`` against the ground-truth stimuli, as TSV."""
    images, ids = load_reconstructions(reconstructions)
    gt = read_stimuli(stimuli, ids)
    dev = resolve_device(device)
    networks = load_feature_networks(
        weights=settings["feature_weights"],
        clip_source=settings["clip_id"],
        clip_random_init=settings["clip_random_init"],
        device=dev,
        convention=settings["convention"],
    )
    table = evaluate_reconstructions(
        gt, images, networks,
        convention=settings["convention"], ssim_variant=settings["ssim"],
        batch_size=settings["batch_size"], device=dev,
    )
    table.insert(0, "nsd_id", ids)
    table.insert(0, "method", method)
    table.insert(0, "subject", subject)
    write_text(out_path, table.to_csv(sep="\t", index=False))
    logger.info("%s %s: %d images evaluated", subject, method, len(ids))


def reconstruction_panel(stimuli, recon_paths: dict, n_images: int = 8):
    """Ground truth and each method's images for the first ``n_images`` common test ids."""
    loaded = {m: load_reconstructions(p) for m, p in recon_paths.items()}
    common = sorted(set.intersection(*(set(ids.tolist()) for _, ids in loaded.values())))[:n_images]
    recons = {}
    for method, (images, ids) in loaded.items():
        row = {int(i): k for k, i in enumerate(ids)}
        recons[method] = images[[row[i] for i in common]]
    return read_stimuli(stimuli, np.asarray(common)), recons
