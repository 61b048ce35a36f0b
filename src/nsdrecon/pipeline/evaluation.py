"""Stage ``evaluate``: the eight metrics for every test image of one subject, for each of its methods.

The metric networks are loaded once and the stimuli's features through them
computed once per subject, then every method's reconstructions are compared
with them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import numpy as np

from ..atomic import write_text
from ..devices import resolve_device
from ..h5io import load_arrays
from ..metrics import evaluate_reconstructions, load_feature_networks, reference_features
from ..nsd import read_stimuli
from ..prediction_files import read_reconstructions
from ..settings import Metrics

logger = logging.getLogger(__name__)


def run_evaluate(
    *,
    reconstructions: Mapping[str, str | os.PathLike],
    stimuli: str | os.PathLike,
    subject: str,
    metrics: Metrics,
    device: str,
    batch_size: int,
    out_paths: Mapping[str, str | os.PathLike],
) -> None:
    """Per-image metrics of each method's ``reconstructions`` against the stimuli, one TSV per method."""
    dev = resolve_device(device)
    # the union of the methods' test ids; each method's images are read only when it is evaluated (NSD: ~0.8 GB each)
    ids = np.unique(np.concatenate([load_arrays(path, ["nsd_id"])[0]["nsd_id"] for path in reconstructions.values()]))
    networks = load_feature_networks(
        weights=metrics.feature_weights,
        clip_source=metrics.clip_id,
        clip_random_init=metrics.clip_random_init,
        device=dev,
        convention=metrics.convention,
        input_size=metrics.input_size,
    )
    gt_all = read_stimuli(stimuli, ids)
    features = reference_features(gt_all, networks, batch_size=batch_size)
    logger.info("%s: features of %d test stimuli through %s", subject, len(ids), [n.name for n in networks])
    for method, path in reconstructions.items():
        images, method_ids = read_reconstructions(path)
        rows = np.searchsorted(ids, method_ids)
        table = evaluate_reconstructions(
            gt_all[rows], images, networks,
            convention=metrics.convention, ssim_variant=metrics.ssim, batch_size=batch_size,
            device=dev, gt_features={net: {m: v[rows] for m, v in per.items()} for net, per in features.items()},
        )
        table.insert(0, "nsd_id", method_ids)
        table.insert(0, "method", method)
        table.insert(0, "subject", subject)
        write_text(out_paths[method], table.to_csv(sep="\t", index=False))
        logger.info("%s %s: %d images evaluated", subject, method, len(method_ids))
