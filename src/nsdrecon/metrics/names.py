"""Names of the eight reconstruction metrics and the feature networks behind them.

One place defines the metric order used by every table and figure, which
metrics are "lower is better", which network each feature metric comes from,
and the column that records a network's weights in per-image tables.
"""

from __future__ import annotations

__all__ = [
    "MEAN_SUBJECT",
    "SOURCE_OURS",
    "SOURCE_PUBLISHED",
    "METRICS",
    "PIXEL_METRICS",
    "IDENTIFICATION_METRICS",
    "DISTANCE_METRICS",
    "LOWER_IS_BETTER",
    "NETWORK_OF_METRIC",
    "NETWORKS",
    "CONVENTIONS",
    "SSIM_VARIANTS",
    "SSIM_VARIANT_NOTES",
    "WEIGHTS_PRETRAINED",
    "WEIGHTS_RANDOM_CONFIGURED",
    "WEIGHTS_RANDOM_MISSING",
    "WEIGHTS_RANDOM",
    "WEIGHTS_TINY_TRAINED",
    "WEIGHTS_COLUMN_PREFIX",
    "weights_column",
    "check_convention",
]

PIXEL_METRICS = ("PixCorr", "SSIM")
IDENTIFICATION_METRICS = ("AlexNet(2)", "AlexNet(5)", "Inception", "CLIP")
DISTANCE_METRICS = ("EffNet-B", "SwAV")
METRICS = [*PIXEL_METRICS, *IDENTIFICATION_METRICS, *DISTANCE_METRICS]
LOWER_IS_BETTER = frozenset(DISTANCE_METRICS)

NETWORK_OF_METRIC = {
    "AlexNet(2)": "AlexNet",
    "AlexNet(5)": "AlexNet",
    "Inception": "Inception",
    "CLIP": "CLIP",
    "EffNet-B": "EffNet-B",
    "SwAV": "SwAV",
}
NETWORKS = ("AlexNet", "Inception", "CLIP", "EffNet-B", "SwAV")

CONVENTIONS = ("brain_diffuser", "mindeye")
SSIM_VARIANTS = ("standard", "legacy")
"""2-D SSIM of the grey images (scikit-image >= 0.20: MindEye1/2's numbers), or the mean of 1-D SSIMs down each
column (scikit-image <= 0.18 with ``multichannel=True`` on grey images: Brain-Diffuser's numbers, nsd.md 6d)."""
SSIM_VARIANT_NOTES = {
    "standard": "2-D SSIM",
    "legacy": "per-column SSIM (Brain-Diffuser's code under scikit-image 0.17)",
    "unknown": "an SSIM variant the source does not state",
}

WEIGHTS_PRETRAINED = "pretrained"
WEIGHTS_RANDOM_CONFIGURED = "random (configured)"
WEIGHTS_RANDOM_MISSING = "random (no weights found)"
WEIGHTS_RANDOM = frozenset({WEIGHTS_RANDOM_CONFIGURED, WEIGHTS_RANDOM_MISSING})
WEIGHTS_TINY_TRAINED = "tiny, trained on generated scenes"
"""Label of the embedded default's trained tiny networks (a model folder with a ``training.json``)."""

WEIGHTS_COLUMN_PREFIX = "weights:"


def weights_column(network: str) -> str:
    """Column name holding the weights label of ``network``, e.g. ``"weights:AlexNet"``."""
    return f"{WEIGHTS_COLUMN_PREFIX}{network}"


def check_convention(convention: str) -> None:
    """Raise ``ValueError`` unless ``convention`` is one of :data:`CONVENTIONS`."""
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown evaluation convention {convention!r}; expected one of {list(CONVENTIONS)}")


MEAN_SUBJECT = "mean"
"""``subject`` of a metric table's row that averages the subject means (as the papers report)."""
SOURCE_OURS = "this run"
SOURCE_PUBLISHED = "published"
"""``source`` of a metric table's rows: this run's, or published reference results."""
