"""Stage ``evaluate``: the eight metrics for one subject and method."""

from __future__ import annotations

import logging

from ..atomic import write_text
from ..metrics import evaluate_reconstructions, load_feature_networks
from ..models import resolve_device
from ..nsd import read_stimuli
from .figures import load_reconstructions

logger = logging.getLogger(__name__)


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
