"""MindDiffuser's decoders: L2 (ridge) regression with voxel selection per target group.

MindDiffuser decodes each of its targets (SD text conditioning tokens, the SD
VAE latent, CLIP ViT-B/32 layer features) with an L2 linear regression from
the voxels most related to that target (``methods.md``).  Here each target
group (a token, a latent channel, a CLIP layer; or every target on its own)
keeps the ``n_voxels`` voxels whose training responses correlate best with
the group's targets (mean squared Pearson correlation over the group's
targets, computed on the training rows only), then a ridge from those voxels
(:func:`nsdrecon.ridge.fit_ridge`; MindDiffuser's fixed alpha is
``alphas=[0.15]``).  :func:`top_decodable_targets` keeps the best-decoded
share of targets, as MindDiffuser keeps the top 25% of each CLIP layer's dims.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from ..ridge import RidgeFit, fit_ridge

logger = logging.getLogger(__name__)

__all__ = ["VoxelSelectedRidge", "fit_voxel_selected_ridge", "rank_voxels", "top_decodable_targets"]


def _unit_columns(A: np.ndarray) -> np.ndarray:
    """Centred float64 columns scaled to unit norm (constant columns stay zero)."""
    Ac = np.asarray(A, dtype=np.float64) - np.mean(A, axis=0)
    norm = np.linalg.norm(Ac, axis=0)
    return Ac / np.where(norm > 0, norm, 1.0)


def _ranked(X_unit: np.ndarray, Y: np.ndarray, block: int = 2048) -> np.ndarray:
    """Voxels by decreasing mean squared correlation with Y's columns, summed over blocks of targets:
    the voxels x targets correlations of one CLIP layer would be 4.8 GB in float64 at NSD scale."""
    score = np.zeros(X_unit.shape[1])
    for start in range(0, Y.shape[1], block):
        score += ((X_unit.T @ _unit_columns(Y[:, start : start + block])) ** 2).sum(axis=1)
    return np.argsort(-score / Y.shape[1], kind="stable")


def rank_voxels(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Voxels ordered by decreasing mean squared correlation with the targets.

    Parameters
    ----------
    X : array of shape (n_samples, n_voxels)
    Y : array of shape (n_samples, n_targets)

    Returns
    -------
    ndarray of int64, shape (n_voxels,)
        Voxel indices, best first (ties keep voxel order); constant voxels last.
    """
    return _ranked(_unit_columns(X), Y)


@dataclass
class VoxelSelectedRidge:
    """One ridge per target group, each on its own voxels.

    Attributes
    ----------
    voxels : list of ndarray of int64
        Selected voxel indices per group (sorted).
    targets : list of ndarray of int64
        Target columns per group.
    fits : list of RidgeFit
        Ridge from ``X[:, voxels[g]]`` to ``Y[:, targets[g]]``.
    n_targets : int
    """

    voxels: list[np.ndarray]
    targets: list[np.ndarray]
    fits: list[RidgeFit]
    n_targets: int

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predictions (n_samples, n_targets), float32, from all voxels (n_samples, n_voxels)."""
        out = np.empty((len(X), self.n_targets), dtype=np.float32)
        for voxels, targets, fit in zip(self.voxels, self.targets, self.fits):
            out[:, targets] = fit.predict(np.asarray(X)[:, voxels])
        return out

    def target_scores(self) -> np.ndarray:
        """Each target's held-out training score at its chosen alpha, shape (n_targets,) (for
        :func:`top_decodable_targets`; one score per target whatever ``alpha_per`` was)."""
        out = np.empty(self.n_targets)
        for targets, fit in zip(self.targets, self.fits):
            out[targets] = fit.target_scores
        return out

    def selection_mask(self, n_voxels: int) -> np.ndarray:
        """Boolean (n_groups, n_voxels): which voxels each group uses."""
        mask = np.zeros((len(self.voxels), n_voxels), dtype=bool)
        for g, voxels in enumerate(self.voxels):
            mask[g, voxels] = True
        return mask


def fit_voxel_selected_ridge(
    X: np.ndarray,
    Y: np.ndarray,
    alphas: Sequence[float],
    *,
    groups: Sequence | None = None,
    n_voxels: int | float = 0.25,
    **ridge_kwargs,
) -> VoxelSelectedRidge:
    """Select voxels per target group by training correlation, then fit ridge on them.

    Parameters
    ----------
    X : array of shape (n_samples, n_voxels)
        Training voxels.
    Y : array of shape (n_samples, n_targets)
        Training targets.
    alphas : sequence of float
        Ridge alphas (one value, e.g. MindDiffuser's 0.15, for a fixed alpha).
    groups : sequence of shape (n_targets,), optional
        Group label of each target; None gives every target its own voxels.
    n_voxels : int or float, default=0.25
        Voxels kept per group: a count, or a fraction (0, 1] of all voxels.
    **ridge_kwargs
        Passed to :func:`nsdrecon.ridge.fit_ridge` (cv, standardize_x, ...).
    """
    X, Y = np.asarray(X), np.asarray(Y)
    if X.ndim != 2 or Y.ndim != 2 or len(X) != len(Y):
        raise ValueError(f"X (n, voxels) and Y (n, targets) must be 2-D with equal n, got {X.shape} and {Y.shape}")
    total = X.shape[1]
    keep = int(round(n_voxels * total)) if isinstance(n_voxels, float) else int(n_voxels)
    if not 1 <= keep <= total:
        raise ValueError(f"n_voxels must give between 1 and {total} voxels, got {n_voxels!r} ({keep} voxels)")
    labels = np.arange(Y.shape[1]) if groups is None else np.asarray(groups)
    if labels.shape != (Y.shape[1],):
        raise ValueError(f"groups must have shape ({Y.shape[1]},) (one label per target), got {labels.shape}")
    X_unit = _unit_columns(X)  # once, not once per group: it is the size of the betas in float64
    voxels, targets, fits = [], [], []
    for label in tqdm(np.unique(labels), desc="voxel-selected ridge", disable=None, leave=False):
        columns = np.flatnonzero(labels == label)
        chosen = np.sort(_ranked(X_unit, Y[:, columns])[:keep])
        voxels.append(chosen)
        targets.append(columns)
        fits.append(fit_ridge(X[:, chosen], Y[:, columns], alphas, **ridge_kwargs))
    logger.info("voxel-selected ridge: %d groups, %d of %d voxels each", len(fits), keep, total)
    return VoxelSelectedRidge(voxels=voxels, targets=targets, fits=fits, n_targets=Y.shape[1])


def top_decodable_targets(scores: np.ndarray, fraction: float = 0.25) -> np.ndarray:
    """Indices (sorted) of the best-decoded ``fraction`` of targets by a held-out score (higher is better).

    MindDiffuser keeps the top 25% of each CLIP layer's dimensions by decodability;
    ``scores`` would be per-target held-out R^2 on the training set
    (:meth:`VoxelSelectedRidge.target_scores`, ``RidgeFit.target_scores``), never test scores.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    scores = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=-np.inf)
    keep = max(1, int(round(fraction * len(scores))))
    return np.sort(np.argsort(-scores, kind="stable")[:keep])
