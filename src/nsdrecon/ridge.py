"""Exact multi-alpha ridge regression for many targets (torch, CPU or CUDA).

For every alpha the solution of

    min_{W, b}  ||Y - X W - 1 b^T||_F^2 + alpha ||W||_F^2

(``sklearn.linear_model.Ridge(alpha, fit_intercept=True)``) is read off one
eigendecomposition of the centred design's smaller Gram matrix, ``Xc^T Xc =
V diag(s) V^T`` (p x p) or, when p > n (dual form), ``Xc Xc^T = U diag(s) U^T``
(n x n)::

    W(alpha) = V diag(1 / (s + alpha)) (Xc V)^T Yc  =  Xc^T U diag(1 / (s + alpha)) U^T Yc

It is computed once per cross-validation fold, in float64; every alpha and
every block of targets is then a few float32 matrix products.  Targets are
streamed in blocks of ``target_block`` columns, so memory stays bounded for
197,376 CLIP targets.

Alpha is chosen per target or per group of targets (mean score over the
group's targets) on held-out folds (K-fold) or by efficient leave-one-out,
which needs no refit: ``e_loo = (y - y_hat) / (1 - h)`` with ``h`` the diagonal
of the hat matrix, intercept included.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import load_file, save_file
from tqdm.auto import tqdm

from .atomic import atomic_path

logger = logging.getLogger(__name__)

__all__ = ["RidgeFit", "fit_ridge", "kfold_splits", "load_ridge", "resolve_device", "save_ridge"]

SCORINGS = ("r2", "mse")
ALPHA_PER = ("group", "target")
COMPUTE_DTYPE = torch.float32
_ARRAY_FIELDS = (
    "coef",
    "intercept",
    "alphas",
    "x_mean",
    "x_scale",
    "y_mean",
    "y_scale",
    "cv_scores",
    "alpha_grid",
    "group_index",
)


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else as torch reads it."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _as_tensor(a, device: torch.device) -> torch.Tensor:
    """A tensor on ``device`` from a tensor or anything numpy reads (any strides, h5py slices)."""
    return a.to(device) if torch.is_tensor(a) else torch.as_tensor(np.ascontiguousarray(a), device=device)


def kfold_splits(n_samples: int, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffled K-fold (train, test) index pairs; test folds partition ``range(n_samples)``.

    Fold sizes differ by at most one; the shuffle is ``numpy.random.default_rng(seed)``.
    """
    order = np.random.default_rng(seed).permutation(n_samples)
    tests = [np.sort(fold) for fold in np.array_split(order, n_folds)]
    return [(np.setdiff1d(order, test), test) for test in tests]


@dataclass
class RidgeFit:
    """A fitted multi-target ridge regression; ``predict(X) = X @ coef + intercept``.

    Attributes
    ----------
    coef : ndarray of shape (n_features, n_targets), float32
        Weights acting on raw (unstandardised) inputs; standardisation of X and
        Y and the optional prediction re-standardisation are folded in.
    intercept : ndarray of shape (n_targets,), float32
    alphas : ndarray of shape (n_targets,)
        The alpha chosen for each target.
    x_mean, x_scale : ndarray of shape (n_features,)
        Training input mean and the scale the inputs were divided by (1 when
        ``standardize_x`` was off or the feature is constant).
    y_mean, y_scale : ndarray of shape (n_targets,)
        Training target mean and scale (1 when ``standardize_y`` was off).
    cv_scores : ndarray of shape (n_alphas, n_groups)
        Held-out score (``scoring``) of every alpha for every group; with
        ``alpha_per="target"`` the groups are the targets.
    alpha_grid : ndarray of shape (n_alphas,)
    group_index : ndarray of shape (n_targets,), int64
        Column of ``cv_scores`` that each target belongs to.
    scoring : str
        ``"r2"`` (higher is better) or ``"mse"`` (lower is better).
    cv : str
        ``"loo"`` or the number of folds.
    """

    coef: np.ndarray
    intercept: np.ndarray
    alphas: np.ndarray
    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: np.ndarray
    y_scale: np.ndarray
    cv_scores: np.ndarray
    alpha_grid: np.ndarray
    group_index: np.ndarray
    scoring: str
    cv: str

    @property
    def n_features(self) -> int:
        return self.coef.shape[0]

    @property
    def n_targets(self) -> int:
        return self.coef.shape[1]

    @property
    def best_cv_scores(self) -> np.ndarray:
        """Held-out score at the chosen alpha, shape (n_groups,)."""
        best = self.cv_scores.argmax(0) if self.scoring == "r2" else self.cv_scores.argmin(0)
        return self.cv_scores[best, np.arange(self.cv_scores.shape[1])]

    def predict(self, X: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Predict targets for inputs X of shape (n_samples, n_features).

        Returns an array of shape (n_samples, n_targets): a float32 ndarray for
        an ndarray input, a tensor on X's device for a tensor input.
        """
        if X.shape[-1] != self.n_features:
            raise ValueError(f"ridge expects {self.n_features} input features, got array of shape {tuple(X.shape)}")
        if isinstance(X, torch.Tensor):
            coef = torch.as_tensor(self.coef, device=X.device)
            return X.to(coef.dtype) @ coef + torch.as_tensor(self.intercept, device=X.device)
        return np.asarray(X, dtype=np.float32) @ self.coef + self.intercept

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        """Arrays and string metadata that :meth:`from_state` rebuilds the fit from."""
        arrays = {name: np.ascontiguousarray(getattr(self, name)) for name in _ARRAY_FIELDS}
        return arrays, {"scoring": self.scoring, "cv": self.cv}

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], metadata: dict[str, str], source: str = "state") -> RidgeFit:
        missing = [name for name in _ARRAY_FIELDS if name not in arrays]
        missing += [key for key in ("scoring", "cv") if key not in metadata]
        if missing:
            raise ValueError(f"{source}: not a ridge fit, missing entries {missing}")
        return cls(**{name: arrays[name] for name in _ARRAY_FIELDS}, scoring=metadata["scoring"], cv=metadata["cv"])


def save_ridge(fit: RidgeFit, path: str | Path) -> None:
    """Write ``fit`` to a safetensors file (atomically)."""
    arrays, metadata = fit.state()
    with atomic_path(path) as tmp:
        save_file(arrays, str(tmp), metadata=metadata)


def load_ridge(path: str | Path) -> RidgeFit:
    """Read a fit written by :func:`save_ridge` (no pickle involved)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such ridge file")
    with safe_open(str(path), framework="numpy") as f:
        metadata = f.metadata() or {}
    return RidgeFit.from_state(load_file(str(path)), metadata, source=str(path))


@dataclass
class _Spectral:
    """Ridge solutions of one centred design Xc (n, p) for any alpha.

    ``coef(alpha) = left @ diag(1 / (evals + alpha)) @ right.T @ Yc``, from the
    eigendecomposition of the smaller Gram matrix: primal (p <= n)
    ``Xc^T Xc = V diag(evals) V^T`` gives ``left = V``, ``right = Xc V``; dual
    ``Xc Xc^T = U diag(evals) U^T`` gives ``left = Xc^T U``, ``right = U``.
    Nothing is divided by a singular value, so the solve is as accurate as a
    Cholesky solve of ``Xc^T Xc + alpha I`` even for rank-deficient designs.
    """

    left: torch.Tensor  # (p, k)
    right: torch.Tensor  # (n, k)
    evals: torch.Tensor  # (k,)
    dual: bool

    def to(self, dtype: torch.dtype) -> _Spectral:
        return _Spectral(self.left.to(dtype), self.right.to(dtype), self.evals.to(dtype), self.dual)

    def gain(self, alpha: float | torch.Tensor) -> torch.Tensor:
        """``1 / (evals + alpha)``: (k,) for a scalar alpha, (k, t) for alphas of shape (1, t)."""
        return _gain(self.evals, alpha)


def _gain(evals: torch.Tensor, alpha: float | torch.Tensor) -> torch.Tensor:
    if torch.is_tensor(alpha) and alpha.ndim > 0:
        evals = evals[:, None]
    return 1.0 / (evals + alpha)


def _decompose(Xc: torch.Tensor, decomposition_dtype: torch.dtype) -> _Spectral:
    """Eigendecomposition of the smaller Gram matrix of a centred design (n, p)."""
    n, p = Xc.shape
    X = Xc.to(decomposition_dtype)
    if p <= n:
        evals, v = torch.linalg.eigh(X.T @ X)
        left, right = v, X @ v
    else:
        evals, u = torch.linalg.eigh(X @ X.T)
        left, right = X.T @ u, u
    logger.debug("ridge decomposition of a %d x %d design (%s form)", n, p, "primal" if p <= n else "dual")
    return _Spectral(left, right, evals.clamp(min=0), dual=p > n)


class _StandardisedTargets:
    """Blocks of ``(Y - y_mean) / y_scale`` on the compute device."""

    def __init__(self, Y, block: int, device: torch.device, standardize: bool):
        self.Y, self.block, self.device = Y, block, device
        n, t = Y.shape
        mean, sq = np.zeros(t), np.zeros(t)
        for sl in self.slices():
            Yb = self._raw(sl)
            mean[sl] = Yb.mean(0).cpu().numpy()
            sq[sl] = ((Yb - Yb.mean(0)) ** 2).mean(0).cpu().numpy()
        self.mean, self.std = mean, np.sqrt(sq)
        self.scale = np.where(self.std > 0, self.std, 1.0) if standardize else np.ones(t)

    def slices(self, desc: str | None = None):
        t = self.Y.shape[1]
        starts = range(0, t, self.block)
        for start in tqdm(starts, desc=desc, disable=None if desc else True, leave=False):
            yield slice(start, min(start + self.block, t))

    def _raw(self, sl: slice) -> torch.Tensor:
        return _as_tensor(self.Y[:, sl], self.device).to(torch.float64)

    def __getitem__(self, sl: slice) -> torch.Tensor:
        mean = torch.as_tensor(self.mean[sl], device=self.device)
        scale = torch.as_tensor(self.scale[sl], device=self.device)
        return ((self._raw(sl) - mean) / scale).to(COMPUTE_DTYPE)


class _HeldOutStats:
    """Sums over held-out samples, per alpha and target, in standardised target units."""

    def __init__(self, n_alphas: int, n_targets: int):
        self.sse = np.zeros((n_alphas, n_targets))
        self.pred_sum = np.zeros((n_alphas, n_targets))
        self.pred_sq = np.zeros((n_alphas, n_targets))

    def add(self, a: int, sl: slice, y: torch.Tensor, pred: torch.Tensor) -> None:
        self.sse[a, sl] += ((y - pred) ** 2).sum(0).double().cpu().numpy()
        self.pred_sum[a, sl] += pred.sum(0).double().cpu().numpy()
        self.pred_sq[a, sl] += (pred**2).sum(0).double().cpu().numpy()


def _kfold_stats(Xs, targets, alphas, n_folds, seed) -> _HeldOutStats:
    n = Xs.shape[0]
    stats = _HeldOutStats(len(alphas), targets.Y.shape[1])
    for fold, (train, test) in enumerate(kfold_splits(n, n_folds, seed)):
        train_t = torch.as_tensor(train, device=Xs.device)
        test_t = torch.as_tensor(test, device=Xs.device)
        x_mean = Xs[train_t].mean(0)
        spec = _decompose(Xs[train_t] - x_mean, Xs.dtype)
        test_proj = ((Xs[test_t] - x_mean) @ spec.left).to(COMPUTE_DTYPE)  # (n_test, k)
        spec = spec.to(COMPUTE_DTYPE)
        for sl in targets.slices(desc=f"ridge fold {fold + 1}/{n_folds}"):
            Yb = targets[sl]
            y_train_mean = Yb[train_t].mean(0)
            rhs = spec.right.T @ (Yb[train_t] - y_train_mean)  # (k, t_block)
            for a, alpha in enumerate(alphas):
                pred = (test_proj * spec.gain(alpha)) @ rhs + y_train_mean
                stats.add(a, sl, Yb[test_t], pred)
    return stats


def _loo_stats(spec: _Spectral, Xs: torch.Tensor, targets, alphas) -> _HeldOutStats:
    """Efficient leave-one-out from the full-data decomposition (in its decomposition dtype).

    The residual of sample i left out is ``e_i = r_i / (1 - h_ii)`` (hat matrix
    with the intercept's ``1/n``).  In the dual form both are proportional to
    alpha and are computed without that factor, ``r = P U G U^T P y`` and
    ``1 - h = diag(P U G U^T P)`` with ``G = diag(1 / (s + alpha))`` and P the
    centring projector, so near-interpolating fits (p > n, small alpha) lose
    no precision to cancellation.
    """
    n = Xs.shape[0]
    if spec.dual:
        proj = (spec.right - spec.right.mean(0)).to(COMPUTE_DTYPE)  # P U
        right, hat_parts = proj, proj**2
    else:
        proj = (Xs @ spec.left).to(COMPUTE_DTYPE)  # Xc V
        right = spec.right.to(COMPUTE_DTYPE)
        hat_parts = proj * right
    evals = spec.evals.to(COMPUTE_DTYPE)
    stats = _HeldOutStats(len(alphas), targets.Y.shape[1])
    for sl in targets.slices(desc="ridge leave-one-out"):
        Yb = targets[sl]  # centred
        rhs = right.T @ Yb
        for a, alpha in enumerate(alphas):
            gain = _gain(evals, alpha)
            if spec.dual:
                loo_resid = (proj @ (gain[:, None] * rhs)) / (hat_parts @ gain)[:, None]
            else:
                loo_resid = (Yb - proj @ (gain[:, None] * rhs)) / (1.0 - 1.0 / n - hat_parts @ gain)[:, None]
            stats.add(a, sl, Yb, Yb - loo_resid)
    return stats


def _per_target_scores(stats: _HeldOutStats, sst: np.ndarray, n: int, scoring: str) -> np.ndarray:
    if scoring == "mse":
        return stats.sse / n
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sst > 0, 1.0 - stats.sse / sst, 0.0)


def _group_index(groups, alpha_per: str, n_targets: int) -> np.ndarray:
    if alpha_per == "target":
        if groups is not None:
            raise ValueError("groups are only used with alpha_per='group'; got groups with alpha_per='target'")
        return np.arange(n_targets)
    if groups is None:
        return np.zeros(n_targets, dtype=np.int64)
    groups = np.asarray(groups)
    if groups.shape != (n_targets,):
        raise ValueError(f"groups must have shape ({n_targets},) (one label per target), got {groups.shape}")
    return np.unique(groups, return_inverse=True)[1].astype(np.int64)


def _check_inputs(X, Y, alphas, cv, alpha_per, scoring) -> None:
    if X.ndim != 2 or Y.ndim != 2:
        raise ValueError(
            f"X and Y must be 2-D (n_samples, n_features/targets), got {tuple(X.shape)} and {tuple(Y.shape)}"
        )
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} samples but Y has {Y.shape[0]}")
    if len(alphas) == 0 or min(alphas) <= 0:
        raise ValueError(f"alphas must be a non-empty list of positive numbers, got {list(alphas)}")
    if alpha_per not in ALPHA_PER:
        raise ValueError(f"alpha_per must be one of {ALPHA_PER}, got {alpha_per!r}")
    if scoring not in SCORINGS:
        raise ValueError(f"scoring must be one of {SCORINGS}, got {scoring!r}")
    if cv != "loo" and not (isinstance(cv, (int, np.integer)) and 2 <= cv <= X.shape[0]):
        raise ValueError(f"cv must be 'loo' or an integer number of folds in [2, {X.shape[0]}], got {cv!r}")


def fit_ridge(
    X: np.ndarray | torch.Tensor,
    Y,
    alphas: Sequence[float],
    *,
    cv: int | str = 5,
    alpha_per: str = "group",
    groups: Sequence | None = None,
    scoring: str = "r2",
    standardize_x: bool = True,
    standardize_y: bool = False,
    restandardize_predictions: bool = False,
    target_block: int = 4096,
    device: str | torch.device = "cpu",
    seed: int = 0,
    decomposition_dtype: torch.dtype = torch.float64,
) -> RidgeFit:
    """Fit ridge regressions from X to every column of Y, choosing alpha by cross-validation.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    Y : array of shape (n_samples, n_targets)
        Anything sliceable as ``Y[:, start:stop]`` into an array (ndarray,
        memmap, h5py dataset, tensor); read one block of targets at a time.
    alphas : sequence of float
        Candidate regularisation strengths (positive).
    cv : int or "loo", default=5
        Number of shuffled K-fold splits (:func:`kfold_splits`), or efficient
        leave-one-out.
    alpha_per : {"group", "target"}, default="group"
        Choose one alpha per group of targets (the mean held-out score over the
        group's targets) or one per target.
    groups : sequence of shape (n_targets,), optional
        Group label of each target; None with ``alpha_per="group"`` puts all
        targets in one group.
    scoring : {"r2", "mse"}, default="r2"
        Held-out R^2 of the pooled out-of-fold predictions, or their mean
        squared error (in standardised target units when ``standardize_y``).
    standardize_x, standardize_y : bool
        Divide inputs / targets by their training standard deviation (means are
        always removed: the intercept is fitted and not penalised).
    restandardize_predictions : bool, default=False
        Brain-Diffuser's re-scaling of predictions to the training targets' mean
        and standard deviation.  Brain-Diffuser uses the statistics of the test
        predictions themselves; here the mean and std of the out-of-fold
        predictions at the chosen alpha stand in for them, so the rescaling is
        a fixed per-target affine map folded into ``coef`` and ``intercept`` and
        a prediction does not depend on which other samples share its batch.
    target_block : int, default=4096
        Number of targets processed at once; bounds memory.
    device : str or torch.device, default="cpu"
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    seed : int, default=0
        Seed of the K-fold shuffle.
    decomposition_dtype : torch.dtype, default=torch.float64
        Precision of the Gram matrix and its eigendecomposition; products with
        the targets run in float32.

    Returns
    -------
    RidgeFit
    """
    _check_inputs(X, Y, alphas, cv, alpha_per, scoring)
    device = resolve_device(device)
    alpha_grid = np.asarray(alphas, dtype=np.float64)
    n, p = X.shape
    t = Y.shape[1]
    logger.info(
        "ridge: %d samples, %d features, %d targets, %d alphas, cv=%s on %s", n, p, t, len(alpha_grid), cv, device
    )

    X = _as_tensor(X, device).to(decomposition_dtype)
    x_mean = X.mean(0)
    x_std = X.std(0, correction=0)
    x_scale = torch.where(x_std > 0, x_std, torch.ones_like(x_std)) if standardize_x else torch.ones_like(x_std)
    Xs = (X - x_mean) / x_scale
    del X
    targets = _StandardisedTargets(Y, target_block, device, standardize_y)
    group_index = _group_index(groups, alpha_per, t)

    if cv == "loo":
        full = _decompose(Xs, decomposition_dtype)
        stats = _loo_stats(full, Xs, targets, alpha_grid)
    else:
        stats = _kfold_stats(Xs, targets, alpha_grid, int(cv), seed)
        full = _decompose(Xs, decomposition_dtype)
    full = full.to(COMPUTE_DTYPE)

    target_sd = targets.std / targets.scale  # std of the standardised targets
    per_target = _per_target_scores(stats, n * target_sd**2, n, scoring)
    counts = np.bincount(group_index)
    cv_scores = np.stack([np.bincount(group_index, weights=row) / counts for row in per_target])
    best_group = cv_scores.argmax(0) if scoring == "r2" else cv_scores.argmin(0)
    best = best_group[group_index]  # (t,) index into alpha_grid
    chosen = alpha_grid[best]

    gain, offset = np.ones(t), np.zeros(t)
    if restandardize_predictions:
        cols = np.arange(t)
        pred_mean = stats.pred_sum[best, cols] / n
        pred_sd = np.sqrt(np.maximum(stats.pred_sq[best, cols] / n - pred_mean**2, 0.0))
        ok = (pred_sd > 0) & (target_sd > 0)
        gain[ok] = target_sd[ok] / pred_sd[ok]
        offset[ok] = -pred_mean[ok] * gain[ok]

    coef = np.empty((p, t), dtype=np.float32)
    intercept = np.empty(t, dtype=np.float32)
    alpha_t = torch.as_tensor(chosen, device=device, dtype=COMPUTE_DTYPE)
    x_scale_c = x_scale.to(COMPUTE_DTYPE)
    for sl in targets.slices(desc="ridge final fit"):
        rhs = full.right.T @ targets[sl]
        coef_std = full.left @ (full.gain(alpha_t[None, sl]) * rhs)  # acts on standardised X and Y
        out_gain = torch.as_tensor(targets.scale[sl] * gain[sl], device=device, dtype=COMPUTE_DTYPE)
        coef_raw = coef_std / x_scale_c[:, None] * out_gain
        coef[:, sl] = coef_raw.cpu().numpy()
        bias = targets.mean[sl] + targets.scale[sl] * offset[sl]
        intercept[sl] = bias - (x_mean @ coef_raw.to(x_mean.dtype)).cpu().numpy()

    logger.info("ridge: chosen alphas %s", dict(zip(*np.unique(chosen, return_counts=True))))
    return RidgeFit(
        coef=coef,
        intercept=intercept,
        alphas=chosen,
        x_mean=x_mean.cpu().numpy(),
        x_scale=x_scale.cpu().numpy(),
        y_mean=targets.mean,
        y_scale=targets.scale,
        cv_scores=cv_scores,
        alpha_grid=alpha_grid,
        group_index=group_index,
        scoring=scoring,
        cv=str(cv),
    )
