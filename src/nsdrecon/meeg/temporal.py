"""When and where the sensors carry each decoding target.

:func:`temporal_decoding` fits, in every sliding window, a ridge from all channels x the window's samples to
each target (alpha chosen by cross-validation on the training images) and scores the test images by two-way
identification in the target's feature space (chance 0.5) and by the feature-wise correlation: per target
dimension, the Pearson r over test images of decoded and true value, averaged over dimensions (chance 0).
The two answer different questions: two-way identification compares whole feature vectors, so it follows the
components with most variance across images (for a VAE latent, an image's overall colours, which a scene's
semantics also predict); the feature-wise r weighs every dimension alike (for a VAE latent, every place and
channel of the image), so it follows the target's own content, and it is the one whose peak dates a target.
:func:`activation_pattern` turns a window's decoder into a per-channel map: the covariance of each
standardised channel-time input with the decoded target (the activation pattern of Haufe et al. 2014,
NeuroImage 87, without whitening by the prediction covariance), whose root mean square over the window's
samples and the target's dimensions is the channel's value. Unlike raw weights, a pattern is large only
where the signal is, not where noise is being cancelled.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from nsdrecon.ridge import fit_ridge_low_rank
from nsdrecon.stats import two_way_identification
from nsdrecon.things.sensor_data import in_window

logger = logging.getLogger(__name__)

__all__ = ["activation_pattern", "decode_window", "feature_correlation", "sliding_windows", "temporal_decoding"]


def feature_correlation(true: np.ndarray, predicted: np.ndarray) -> float:
    """Mean over dimensions of the Pearson r over images of ``true`` and ``predicted`` (n, d); constant ones skipped."""
    a, b = true - true.mean(axis=0), predicted - predicted.mean(axis=0)
    denominator = np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
    valid = denominator > 0
    return float(((a * b).sum(axis=0)[valid] / denominator[valid]).mean()) if valid.any() else float("nan")


def sliding_windows(times: np.ndarray, width: float, step: float) -> list[tuple[float, float]]:
    """Windows ``(start, start + width)`` every ``step`` seconds that lie inside ``times`` (each >= 1 sample)."""
    if width <= 0 or step <= 0:
        raise ValueError(f"width and step must be > 0, got {width}, {step}")
    starts = np.arange(times[0], times[-1] - width + 1e-9, step)
    windows = [(round(float(s), 6), round(float(s + width), 6)) for s in starts]
    windows = [w for w in windows if in_window(times, w).any()]
    if not windows:
        raise ValueError(f"no window of {width} s fits the time axis {times[0]:g} ... {times[-1]:g} s")
    return windows


def decode_window(
    X: np.ndarray, X_test: np.ndarray, Y: np.ndarray, *, alphas: Sequence[float], cv, device="cpu",
    predict_train: bool = False,
):  # fmt: skip
    """Ridge from ``X`` (n, p) to ``Y`` (n, d); the test predictions (and, if asked, the training ones)."""
    inputs = np.concatenate([X_test, X]) if predict_train else X_test
    fit = fit_ridge_low_rank(X, Y, alphas, rank=1, X_test=inputs, cv=cv, alpha_per="group", device=device)
    predictions = fit.test_predictions
    return (predictions[: len(X_test)], predictions[len(X_test) :]) if predict_train else predictions


def temporal_decoding(
    train: np.ndarray,
    test: np.ndarray,
    times: np.ndarray,
    targets: Mapping[str, tuple[np.ndarray, np.ndarray]],
    windows: Sequence[tuple[float, float]],
    *,
    alphas: Sequence[float],
    cv,
    device="cpu",
) -> pd.DataFrame:
    """Decoding accuracy of every target in every window.

    Parameters
    ----------
    train, test : ndarray of shape (n_train, n_channels, n_times), (n_test, n_channels, n_times)
    times : ndarray of shape (n_times,)
    targets : name -> (Y_train (n_train, ...), Y_test (n_test, ...))
    windows : (start, end) pairs in seconds
    alphas, cv : ridge penalties and how one is chosen (:func:`nsdrecon.ridge.fit_ridge_low_rank`)

    Returns
    -------
    pandas.DataFrame
        ``target, start, end, centre, two_way, feature_r`` per target and window.
    """
    rows = []
    for start, end in windows:
        samples = np.flatnonzero(in_window(times, (start, end)))
        X, X_test = train[..., samples].reshape(len(train), -1), test[..., samples].reshape(len(test), -1)
        for name, (y_train, y_test) in targets.items():
            Y, Y_test = y_train.reshape(len(y_train), -1), y_test.reshape(len(y_test), -1)
            pred = decode_window(X, X_test, Y, alphas=alphas, cv=cv, device=device)
            rows.append(
                {
                    "target": name, "start": start, "end": end, "centre": round((start + end) / 2, 6),
                    "two_way": float(two_way_identification(Y_test, pred).mean()),
                    "feature_r": feature_correlation(Y_test, pred),
                }
            )  # fmt: skip
        logger.info("window %.3f-%.3f s: %s", start, end, {r["target"]: round(r["two_way"], 3) for r in rows[-len(targets):]})
    return pd.DataFrame(rows)


def activation_pattern(X: np.ndarray, predictions: np.ndarray, n_channels: int) -> np.ndarray:
    """Per-channel activation pattern magnitude of a decoder, shape (n_channels,).

    Parameters
    ----------
    X : ndarray of shape (n, n_channels * n_samples)
        The decoder's training inputs, channel-major.
    predictions : ndarray of shape (n, d)
        Its predictions on ``X``.
    """
    Xs = (X - X.mean(axis=0)) / np.where(X.std(axis=0) > 0, X.std(axis=0), 1)
    P = predictions - predictions.mean(axis=0)
    pattern = Xs.T.astype(np.float64) @ P / len(X)  # (p, d): covariance of each input with each output
    return np.sqrt((pattern.reshape(n_channels, -1) ** 2).mean(axis=1))
