"""Reconstruction metrics of the field (``nsd.md`` §6): PixCorr, SSIM, two-way
identification on AlexNet / Inception / CLIP features, correlation distance on
EffNet-B / SwAV features, under Brain-Diffuser's or MindEye's resizing conventions."""

from importlib import import_module

from nsdrecon.stats import (
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
    SSIM_VARIANTS,
    WEIGHTS_COLUMN_PREFIX,
    WEIGHTS_PRETRAINED,
    WEIGHTS_RANDOM_CONFIGURED,
    WEIGHTS_RANDOM_MISSING,
    WEIGHTS_RANDOM,
    WEIGHTS_TINY_TRAINED,
    weights_column,
)

# Parts that need torch / torchvision, imported on first use: tables and figures
# (which only need the names above) then run in an environment without them.
_LAZY = {
    "evaluate_reconstructions": "evaluate",
    "reference_features": "evaluate",
    "FeatureNetwork": "feature_nets",
    "cached_checkpoint": "feature_nets",
    "load_feature_networks": "feature_nets",
    "pixcorr": "pixel",
    "ssim": "pixel",
    "network_inputs": "resize",
    "pixel_metric_inputs": "resize",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f"nsdrecon.metrics.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    "WEIGHTS_RANDOM",
    "WEIGHTS_TINY_TRAINED",
    "FeatureNetwork",
    "cached_checkpoint",
    "correlation_distance",
    "evaluate_reconstructions",
    "load_feature_networks",
    "network_inputs",
    "pearson_matrix",
    "pixcorr",
    "pixel_metric_inputs",
    "reference_features",
    "rowwise_pearson",
    "ssim",
    "two_way_identification",
    "weights_column",
]
