"""Stages ``reference_features`` and ``evaluate``: the eight metrics for one subject and method.

The stimuli's features through the metric networks are computed once per
subject (``reference_features``) and read by every method's ``evaluate`` job,
instead of being recomputed for each method.
"""

from __future__ import annotations

import logging

import numpy as np

from ..atomic import write_text
from ..betas import test_ids
from ..h5io import load_arrays, save_arrays
from ..metrics import evaluate_reconstructions, load_feature_networks, reference_features
from ..metrics.names import weights_column
from ..devices import resolve_device
from ..nsd import read_stimuli
from .figures import load_reconstructions

logger = logging.getLogger(__name__)


def _networks(settings, device):
    return load_feature_networks(
        weights=settings["feature_weights"],
        clip_source=settings["clip_id"],
        clip_random_init=settings["clip_random_init"],
        device=device,
        convention=settings["convention"],
        input_size=settings["input_size"],
    )


def run_reference_features(*, betas, stimuli, settings, device, out_path) -> None:
    """The test stimuli's features through every metric network: datasets ``<network>/<metric>`` and ``nsd_id``."""
    ids = test_ids(betas)
    networks = _networks(settings, resolve_device(device))
    features = reference_features(read_stimuli(stimuli, ids), networks, batch_size=settings["batch_size"])
    arrays = {f"{net}/{metric}": value for net, per_metric in features.items() for metric, value in per_metric.items()}
    labels = {weights_column(network.name): network.weights_label for network in networks}
    save_arrays(out_path, {"nsd_id": ids, **arrays}, labels)
    logger.info("reference features of %d test stimuli through %s", len(ids), [n.name for n in networks])


def run_evaluate(*, reconstructions, stimuli, reference, subject, method, settings, device, out_path) -> None:
    """Per-image metrics of ``reconstructions`` against the ground-truth stimuli, as TSV."""
    images, ids = load_reconstructions(reconstructions)
    gt = read_stimuli(stimuli, ids)
    dev = resolve_device(device)
    networks = _networks(settings, dev)
    names = ["nsd_id"] + [f"{network.name}/{metric}" for network in networks for metric in network.metrics]
    cached, labels = load_arrays(reference, names)
    rows = {int(i): row for row, i in enumerate(cached["nsd_id"])}
    missing = [int(i) for i in ids if int(i) not in rows]
    if missing:
        raise ValueError(f"{reference} has no features of test images {missing[:10]} of {reconstructions}")
    order = np.array([rows[int(i)] for i in ids])
    for network in networks:
        if labels.get(weights_column(network.name)) != network.weights_label:
            raise ValueError(f"{reference}: {network.name} features were made with other weights; rerun its rule")
    gt_features = {network.name: {metric: cached[f"{network.name}/{metric}"][order] for metric in network.metrics}
                   for network in networks}
    table = evaluate_reconstructions(
        gt, images, networks,
        convention=settings["convention"], ssim_variant=settings["ssim"],
        batch_size=settings["batch_size"], device=dev, gt_features=gt_features,
    )
    table.insert(0, "nsd_id", ids)
    table.insert(0, "method", method)
    table.insert(0, "subject", subject)
    write_text(out_path, table.to_csv(sep="\t", index=False))
    logger.info("%s %s: %d images evaluated", subject, method, len(ids))
