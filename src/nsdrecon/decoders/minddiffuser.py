"""MindDiffuser's decoders: L2 (ridge) regression with voxel selection, per target group or per target.

MindDiffuser decodes each of its targets (SD text conditioning tokens, the SD
VAE latent, CLIP ViT-B/32 layer features) with an L2 linear regression from
the voxels most related to that target (``methods.md``). Two ways here:

* :func:`fit_voxel_selected_ridge`: each target group (a token, a latent
  channel, a CLIP layer; or every target on its own) keeps the ``n_voxels``
  voxels whose training responses correlate best with the group's targets
  (mean squared Pearson correlation over the group's targets, computed on the
  training rows only), then a ridge from those voxels with alpha chosen by
  cross-validation (:func:`nsdrecon.ridge.fit_ridge`);
* :func:`fit_per_target_l2`: MindDiffuser's own, ``fastl2lir.FastL2LiR().fit(x,
  y, alpha=0.15, n_feat=n)`` on z-scored voxels and targets (``Feature
  decoding/*_decoding.py``): every target keeps the ``n`` voxels of largest
  absolute correlation and solves ``(Xs'Xs + alpha I) w = Xs'y`` with an
  intercept column that the penalty covers too. Golden values from FastL2LiR:
  ``tests/test_authors_protocols.py``.

:func:`top_decodable_targets` keeps the best-decoded share of targets, as
MindDiffuser keeps the top 25% of each CLIP layer's dims.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..ridge import RidgeFit, fit_ridge, sample_labels

logger = logging.getLogger(__name__)

__all__ = [
    "PerTargetL2",
    "VoxelSelectedRidge",
    "fit_per_target_l2",
    "solve_per_target_l2",
    "fit_voxel_selected_ridge",
    "rank_voxels",
    "top_decodable_targets",
]


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


@dataclass
class PerTargetL2:
    """MindDiffuser's decoder of a target set: z-scoring, then one L2 fit per target on its own voxels.

    Attributes
    ----------
    coef : ndarray (n_voxels, n_targets), float32
        Weights on z-scored voxels, zero outside each target's voxels.
    intercept : ndarray (n_targets,), float32
        Intercept in z-scored target units.
    x_mean, x_scale, y_mean, y_scale : ndarray
        The training rows' means and standard deviations (ddof 0, as scikit-learn's ``StandardScaler``;
        1 for a constant column).
    n_voxels : int
        Voxels per target.
    cv_scores : ndarray (n_targets,) or None
        Each target's mean absolute held-out Pearson r over contiguous folds of the training rows
        (MindDiffuser's decodability for its top-25 % selection), when asked for.
    """

    coef: np.ndarray
    intercept: np.ndarray
    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: np.ndarray
    y_scale: np.ndarray
    n_voxels: int
    cv_scores: np.ndarray | None = None

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predictions in target units (n_samples, n_targets), float32; X is standardised with the training statistics."""
        z = (np.asarray(X, dtype=np.float64) - self.x_mean) / self.x_scale
        return ((z @ self.coef + self.intercept) * self.y_scale + self.y_mean).astype(np.float32)

    def target_scores(self) -> np.ndarray:
        """Cross-validated decodability per target (for :func:`top_decodable_targets`)."""
        if self.cv_scores is None:
            raise ValueError("fitted without cv_folds: no cross-validated scores")
        return self.cv_scores


def _standardize(A: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Columns z-scored with their own mean and std (ddof 0); a constant column keeps scale 1."""
    A = np.asarray(A, dtype=np.float64)
    mean, std = A.mean(axis=0), A.std(axis=0)
    scale = np.where(std > 0, std, 1.0)
    return (A - mean) / scale, mean, scale


def solve_per_target_l2(
    X: torch.Tensor, Y: torch.Tensor, alpha: float, n_voxels: int, memory_bytes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """FastL2LiR's fit (``FastL2LiR.fit(X, Y, alpha, n_feat)``) of every column of Y from the ``n_voxels`` columns of X
    it correlates with most in absolute value.

    X (n, p) and Y (n, t) float64 on one device, used as given (:func:`fit_per_target_l2` z-scores first). Returns coef (p, t) and intercept (t,). Every target solves
    ``G[I, I] wb = (Xa' y)[I]`` with ``Xa = [X, 1]``, ``G = Xa'Xa + alpha I`` and ``I`` its voxels plus the
    intercept column; the (k+1)^2 systems of a block of targets are gathered from G and solved together.
    """
    n, p = X.shape
    k = min(n_voxels, p)
    Xa = torch.cat([X, torch.ones(n, 1, dtype=X.dtype, device=X.device)], dim=1)
    G = Xa.T @ Xa + alpha * torch.eye(p + 1, dtype=X.dtype, device=X.device)
    Xc = X - X.mean(dim=0)
    x_norm = torch.linalg.vector_norm(Xc, dim=0)
    constant = x_norm < 1e-12  # FastL2LiR: var < 1e-8 gets correlation 0
    Xu = Xc / torch.where(constant, torch.ones_like(x_norm), x_norm)
    coef = torch.zeros((p, Y.shape[1]), dtype=X.dtype, device=X.device)
    intercept = torch.zeros(Y.shape[1], dtype=X.dtype, device=X.device)
    block = max(1, memory_bytes // (8 * (k + 1) ** 2))
    bias_index = torch.full((1,), p, device=X.device)
    for start in tqdm(range(0, Y.shape[1], block), desc=f"per-target L2 ({k} voxels)", unit="block", disable=None, leave=False):
        Yb = Y[:, start : start + block]
        Yc = Yb - Yb.mean(dim=0)
        corr = (Xu.T @ (Yc / torch.linalg.vector_norm(Yc, dim=0).clamp_min(1e-300))).abs()
        corr[constant] = 0.0
        chosen = torch.topk(corr, k, dim=0).indices.T  # (b, k)
        index = torch.cat([chosen, bias_index.expand(len(chosen), 1)], dim=1)  # (b, k + 1)
        system = G[index[:, :, None], index[:, None, :]]
        rhs = torch.gather((Xa.T @ Yb).T, 1, index)
        solution = torch.linalg.solve(system, rhs.unsqueeze(-1)).squeeze(-1)
        columns = torch.arange(start, start + len(chosen), device=X.device)
        coef[chosen, columns[:, None]] = solution[:, :k]
        intercept[columns] = solution[:, k]
    return coef, intercept


def fit_per_target_l2(
    X: np.ndarray,
    Y: np.ndarray,
    alpha: float,
    n_voxels: int,
    *,
    cv_folds: int | None = None,
    sample_groups: Sequence | None = None,
    device: str | torch.device = "cpu",
    memory_bytes: int = 2**28,
) -> PerTargetL2:
    """MindDiffuser's decoder: z-score X and Y on the training rows, then FastL2LiR's per-target fit.

    Parameters
    ----------
    X : array (n_samples, n_voxels)
    Y : array (n_samples, n_targets)
    alpha : float
        The penalty on ``Xa'Xa`` (MindDiffuser: 0.15 on z-scored data, i.e. nearly none).
    n_voxels : int
        Voxels per target (MindDiffuser's training scripts: 3000 for the latent, 450 for the text, 850 for
        CLIP); all voxels when there are fewer, as FastL2LiR.
    cv_folds : int, optional
        Also score every target by its mean absolute held-out Pearson r over this many contiguous folds of
        the rows (``KFold(5, shuffle=False)`` in MindDiffuser's feature selection); an image's rows
        (``sample_groups``) stay in one fold.
    device : torch device of the solves (float64).
    memory_bytes : int
        Bound on the gathered systems of one block of targets.
    """
    X, Y = np.asarray(X), np.asarray(Y)
    if X.ndim != 2 or Y.ndim != 2 or len(X) != len(Y):
        raise ValueError(f"X (n, voxels) and Y (n, targets) must be 2-D with equal n, got {X.shape} and {Y.shape}")
    if n_voxels < 1:
        raise ValueError(f"n_voxels must be positive, got {n_voxels}")
    if n_voxels > X.shape[1]:
        logger.warning("n_voxels %d exceeds the %d voxels: every target uses all of them", n_voxels, X.shape[1])
    as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float64, device=device)  # noqa: E731
    Xz, x_mean, x_scale = _standardize(X)
    Yz, y_mean, y_scale = _standardize(Y)
    coef, intercept = solve_per_target_l2(as_tensor(Xz), as_tensor(Yz), alpha, n_voxels, memory_bytes)
    scores = None
    if cv_folds is not None:
        labels = sample_labels(sample_groups, len(X)) if sample_groups is not None else np.arange(len(X))
        order = np.unique(labels, return_index=True)[1]
        groups = labels[np.sort(order)]  # first-appearance order: contiguous folds as KFold(shuffle=False)
        total = np.zeros(Y.shape[1])
        for held in np.array_split(groups, cv_folds):
            test = np.isin(labels, held)
            fold_coef, fold_intercept = solve_per_target_l2(as_tensor(Xz[~test]), as_tensor(Yz[~test]), alpha, n_voxels, memory_bytes)
            pred = (as_tensor(Xz[test]) @ fold_coef + fold_intercept).cpu().numpy()
            total += np.abs(_columnwise_r(Yz[test], pred))
        scores = total / cv_folds
    logger.info("per-target L2: %d targets, %d of %d voxels each, alpha %g", Y.shape[1], min(n_voxels, X.shape[1]), X.shape[1], alpha)
    return PerTargetL2(
        coef=coef.cpu().numpy().astype(np.float32), intercept=intercept.cpu().numpy().astype(np.float32),
        x_mean=x_mean, x_scale=x_scale, y_mean=y_mean, y_scale=y_scale, n_voxels=min(n_voxels, X.shape[1]),
        cv_scores=scores,
    )


def _columnwise_r(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Pearson r of every column of A with the same column of B (0 for a constant column)."""
    return np.nan_to_num((_unit_columns(A) * _unit_columns(B)).sum(axis=0))
