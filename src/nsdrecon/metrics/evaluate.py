"""Per-image table of the eight reconstruction metrics."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from nsdrecon.metrics.feature_nets import FeatureNetwork
from nsdrecon.stats import correlation_distance, two_way_identification
from nsdrecon.metrics.names import DISTANCE_METRICS, METRICS, check_convention, weights_column
from nsdrecon.metrics.pixel import pixcorr, ssim
from nsdrecon.images import check_images

__all__ = ["evaluate_reconstructions", "reference_features"]

logger = logging.getLogger(__name__)


def evaluate_reconstructions(
    gt: np.ndarray,
    rec: np.ndarray,
    networks: Sequence[FeatureNetwork],
    *,
    convention: str = "brain_diffuser",
    ssim_variant: str = "standard",
    batch_size: int = 32,
    device: str | torch.device | None = None,
    gt_features: Mapping[str, Mapping[str, np.ndarray]] | None = None,
) -> pd.DataFrame:
    """Score each reconstruction against its stimulus.

    Parameters
    ----------
    gt : uint8 array of shape (N, H, W, 3), the stimuli (N >= 2)
    rec : uint8 array of shape (N, h, w, 3), reconstruction ``i`` of stimulus ``i``
    networks : feature networks from :func:`load_feature_networks`, built for ``convention``
    convention : ``"brain_diffuser"`` or ``"mindeye"`` (resizing, ``nsd.md`` §6e)
    ssim_variant : ``"standard"`` (2-D SSIM) or ``"legacy"`` (Brain-Diffuser's per-column SSIM)
    batch_size : images per forward pass of a feature network
    device : if given, the networks are moved there first
    gt_features : the stimuli's features from :func:`reference_features` with the
        same networks (network name -> metric -> array), computed once for every
        method instead of once per method; default: extracted here

    Returns
    -------
    DataFrame with one row per image (index 0..N-1) and columns :data:`METRICS`
    in order (PixCorr, SSIM, per-image two-way identification fractions for
    AlexNet(2), AlexNet(5), Inception, CLIP, and correlation distances for
    EffNet-B, SwAV), then one ``"weights:<network>"`` label column per network.
    A metric whose network is not in ``networks`` is NaN.
    """
    check_convention(convention)
    gt = check_images("ground truth", gt)
    rec = check_images("reconstructions", rec)
    if len(gt) != len(rec) or len(gt) < 2:
        raise ValueError(f"expected N >= 2 stimuli and as many reconstructions, found {len(gt)} and {len(rec)}")
    for network in networks:
        if network.convention != convention:
            raise ValueError(
                f"{network.name} was built for convention {network.convention!r}, evaluation uses {convention!r}"
            )

    table = pd.DataFrame(np.nan, index=pd.RangeIndex(len(gt), name="image"), columns=METRICS)
    table["PixCorr"] = pixcorr(gt, rec, convention)
    table["SSIM"] = ssim(gt, rec, convention, variant=ssim_variant)
    for network in networks:
        if device is not None:
            network.to(device)
        if gt_features is None:
            feats_gt = network.extract(gt, batch_size=batch_size)
        else:
            feats_gt = gt_features[network.name]
            if any(len(feats_gt[metric]) != len(gt) for metric in network.metrics):
                raise ValueError(f"{network.name}: gt_features hold another number of images than the {len(gt)} stimuli")
        feats_rec = network.extract(rec, batch_size=batch_size)
        for metric in network.metrics:
            score = correlation_distance if metric in DISTANCE_METRICS else two_way_identification
            table[metric] = score(feats_gt[metric], feats_rec[metric])
        means = table[list(network.metrics)].mean().round(4).to_dict()
        logger.info("%s (%s weights): mean %s", network.name, network.weights_label, means)
    covered = {"PixCorr", "SSIM"}.union(*(network.metrics for network in networks))
    missing = [metric for metric in METRICS if metric not in covered]
    if missing:
        logger.warning("no feature network given for %s: left as NaN", missing)
    for network in networks:
        table[weights_column(network.name)] = network.weights_label
    return table


def reference_features(
    gt: np.ndarray, networks: Sequence[FeatureNetwork], *, batch_size: int = 32
) -> dict[str, dict[str, np.ndarray]]:
    """Every network's features of the stimuli (network name -> metric -> (N, D)), for ``gt_features``."""
    gt = check_images("ground truth", gt)
    return {network.name: network.extract(gt, batch_size=batch_size) for network in networks}
