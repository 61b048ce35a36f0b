"""Correlation statistics: feature-space comparison of reconstructions with their stimuli (``nsd.md`` §6a),
also the decoders' held-out scores (a foundation module: metrics and decoders both use it).

Two-way identification (AlexNet, Inception, CLIP) and correlation distance
(EffNet-B, SwAV), written to match Brain-Diffuser's ``pairwise_corr_all`` and
``scipy.spatial.distance.correlation`` exactly, but streamed over the feature
dimension in float64 so a (982, 184,512) AlexNet layer never needs a float64
copy or the (2N, 2N) matrix ``np.corrcoef`` builds.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pearson_matrix", "rowwise_pearson", "two_way_identification", "correlation_distance"]

_BLOCK = 16384  # feature columns converted to float64 at a time


def _check_pair(a: np.ndarray, b: np.ndarray, same_rows: bool) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a).reshape(len(a), -1)
    b = np.asarray(b).reshape(len(b), -1)
    if a.shape[1] != b.shape[1] or (same_rows and len(a) != len(b)):
        raise ValueError(f"feature arrays do not match: ground truth {a.shape} vs prediction {b.shape}")
    return a, b


def _centred_blocks(a: np.ndarray, b: np.ndarray):
    """Yield float64 column blocks of ``a`` and ``b`` with each row's mean removed."""
    mean_a = a.mean(axis=1, dtype=np.float64)[:, None]
    mean_b = b.mean(axis=1, dtype=np.float64)[:, None]
    for start in range(0, a.shape[1], _BLOCK):
        stop = start + _BLOCK
        yield a[:, start:stop].astype(np.float64) - mean_a, b[:, start:stop].astype(np.float64) - mean_b


def pearson_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of every row of ``a`` with every row of ``b``.

    Parameters
    ----------
    a : array of shape (N, D) (further axes are flattened)
    b : array of shape (M, D)

    Returns
    -------
    float64 array of shape (N, M); ``r[i, j] = pearson(a[i], b[j])`` (NaN for a constant row).
    """
    a, b = _check_pair(a, b, same_rows=False)
    cross = np.zeros((len(a), len(b)))
    ss_a = np.zeros(len(a))
    ss_b = np.zeros(len(b))
    for block_a, block_b in _centred_blocks(a, b):
        cross += block_a @ block_b.T
        ss_a += np.einsum("ij,ij->i", block_a, block_a)
        ss_b += np.einsum("ij,ij->i", block_b, block_b)
    with np.errstate(invalid="ignore", divide="ignore"):
        return cross / np.sqrt(np.outer(ss_a, ss_b))


def rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of ``a[i]`` with ``b[i]`` for each row.

    Parameters
    ----------
    a, b : arrays of shape (N, D) (further axes are flattened)

    Returns
    -------
    float64 array of shape (N,) (NaN where a row is constant).
    """
    a, b = _check_pair(a, b, same_rows=True)
    cross = np.zeros(len(a))
    ss_a = np.zeros(len(a))
    ss_b = np.zeros(len(b))
    for block_a, block_b in _centred_blocks(a, b):
        cross += np.einsum("ij,ij->i", block_a, block_b)
        ss_a += np.einsum("ij,ij->i", block_a, block_a)
        ss_b += np.einsum("ij,ij->i", block_b, block_b)
    with np.errstate(invalid="ignore", divide="ignore"):
        return cross / np.sqrt(ss_a * ss_b)


def two_way_identification(feats_gt: np.ndarray, feats_pred: np.ndarray) -> np.ndarray:
    """Per-reconstruction two-way identification accuracy.

    For prediction ``j`` the fraction of the other ``N - 1`` ground-truth images
    ``i`` whose correlation with ``pred_j`` is strictly lower than that of its
    own ground truth: ``sum_i [r(gt_i, pred_j) < r(gt_j, pred_j)] / (N - 1)``.
    Ties count as failures. The mean over ``j`` is Brain-Diffuser's / MindEye's
    ``pairwise_corr_all`` value.

    Parameters
    ----------
    feats_gt, feats_pred : arrays of shape (N, D), N >= 2 (further axes are flattened)

    Returns
    -------
    float64 array of shape (N,) with values in [0, 1].
    """
    if len(feats_gt) < 2:
        raise ValueError(f"two-way identification needs at least 2 images, found {len(feats_gt)}")
    r = pearson_matrix(feats_gt, feats_pred)
    if r.shape[0] != r.shape[1]:
        raise ValueError(f"expected as many predictions as ground-truth images, found {r.shape[1]} vs {r.shape[0]}")
    congruent = np.diag(r)
    return (r < congruent[None, :]).sum(axis=0) / (len(r) - 1)


def correlation_distance(feats_gt: np.ndarray, feats_pred: np.ndarray) -> np.ndarray:
    """``1 - pearson(gt_i, pred_i)`` per row (``scipy.spatial.distance.correlation``); 0 best, 2 worst.

    Parameters
    ----------
    feats_gt, feats_pred : arrays of shape (N, D) (further axes are flattened)

    Returns
    -------
    float64 array of shape (N,).
    """
    return 1.0 - rowwise_pearson(feats_gt, feats_pred)
