"""Reconstruction metrics of the field (``nsd.md`` §6): PixCorr, SSIM, two-way
identification on AlexNet / Inception / CLIP features, correlation distance on
EffNet-B / SwAV features, under Brain-Diffuser's or MindEye's resizing conventions."""

from nsdrecon.metrics.evaluate import evaluate_reconstructions
from nsdrecon.metrics.feature_nets import FeatureNetwork, cached_checkpoint, load_feature_networks
from nsdrecon.metrics.identification import (
    correlation_distance,
    pearson_matrix,
    rowwise_pearson,
    two_way_identification,
)
from nsdrecon.metrics.names import (
    CONVENTIONS,
    DISTANCE_METRICS,
    IDENTIFICATION_METRICS,
    LOWER_IS_BETTER,
    METRICS,
    NETWORK_OF_METRIC,
    NETWORKS,
    PIXEL_METRICS,
    WEIGHTS_COLUMN_PREFIX,
    WEIGHTS_PRETRAINED,
    WEIGHTS_RANDOM_CONFIGURED,
    WEIGHTS_RANDOM_MISSING,
    weights_column,
)
from nsdrecon.metrics.pixel import SSIM_VARIANTS, pixcorr, ssim
from nsdrecon.metrics.resize import network_inputs, pixel_metric_inputs

__all__ = [
    "CONVENTIONS",
    "DISTANCE_METRICS",
    "IDENTIFICATION_METRICS",
    "LOWER_IS_BETTER",
    "METRICS",
    "NETWORK_OF_METRIC",
    "NETWORKS",
    "PIXEL_METRICS",
    "SSIM_VARIANTS",
    "WEIGHTS_COLUMN_PREFIX",
    "WEIGHTS_PRETRAINED",
    "WEIGHTS_RANDOM_CONFIGURED",
    "WEIGHTS_RANDOM_MISSING",
    "FeatureNetwork",
    "cached_checkpoint",
    "correlation_distance",
    "evaluate_reconstructions",
    "load_feature_networks",
    "network_inputs",
    "pearson_matrix",
    "pixcorr",
    "pixel_metric_inputs",
    "rowwise_pearson",
    "ssim",
    "two_way_identification",
    "weights_column",
]
