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
group's targets) on held-out folds (K-fold), by efficient leave-one-out
(``e_loo = (y - y_hat) / (1 - h)``, ``h`` the hat matrix diagonal, intercept
included), or by generalised cross-validation (GCV: leave-one-out with ``h``
replaced by its mean ``df / n``), which needs only ``(Xc V)^T Yc`` (or ``U^T Yc``)
per block and costs O(n t) per alpha.

Two front ends share that machinery: :func:`fit_ridge` returns the weight
matrix (p x t) for problems where it fits in memory; :func:`fit_ridge_low_rank`
never forms it: it predicts held-out inputs in the kernel form
``Y_test = K_test U diag(1 / (s + alpha_t)) U^T Yc`` and returns the best rank-r
factorisation ``W ~ A B`` (the SVD of W), both streamed over target blocks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import scipy.linalg
import torch
from safetensors import safe_open
from safetensors.numpy import load_file, save_file
from tqdm.auto import tqdm

from .atomic import atomic_path
from .devices import resolve_device

logger = logging.getLogger(__name__)

__all__ = [
    "LowRankRidgeFit",
    "RidgeFit",
    "RidgeSelection",
    "RowSubset",
    "fit_ridge",
    "fit_ridge_low_rank",
    "kfold_splits",
    "load_ridge",
    "sample_labels",
    "save_ridge",
]

SCORINGS = ("r2", "mse")
ALPHA_PER = ("group", "target")
SINGLE_DECOMPOSITION_CV = ("loo", "gcv")
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


def _as_tensor(a, device: torch.device) -> torch.Tensor:
    """A tensor on ``device`` from a tensor or anything numpy reads (any strides, h5py slices)."""
    return a.to(device) if torch.is_tensor(a) else torch.as_tensor(np.ascontiguousarray(a), device=device)


def kfold_splits(
    n_samples: int, n_folds: int, seed: int, sample_groups: Sequence | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffled K-fold (train, test) index pairs; test folds partition ``range(n_samples)``.

    The shuffle is ``numpy.random.default_rng(seed)``.  Without
    ``sample_groups`` fold sizes differ by at most one sample; with them the
    groups (e.g. the NSD image of each single trial) are shuffled and split, so
    all samples of one group fall in the same fold and no image is both fitted
    and scored.
    """
    if sample_groups is None:
        order = np.random.default_rng(seed).permutation(n_samples)
        tests = [np.sort(fold) for fold in np.array_split(order, n_folds)]
        return [(np.setdiff1d(order, test), test) for test in tests]
    labels = sample_labels(sample_groups, n_samples)
    if labels.max() + 1 < n_folds:
        raise ValueError(f"{n_folds} folds need at least {n_folds} sample groups, got {labels.max() + 1}")
    order = np.random.default_rng(seed).permutation(labels.max() + 1)
    folds = np.empty(len(order), dtype=np.int64)
    for fold, members in enumerate(np.array_split(order, n_folds)):
        folds[members] = fold
    sample_fold = folds[labels]
    return [(np.flatnonzero(sample_fold != k), np.flatnonzero(sample_fold == k)) for k in range(n_folds)]


def sample_labels(sample_groups: Sequence, n_samples: int) -> np.ndarray:
    """Each sample's group as 0..n_groups-1 (groups in sorted label order), checked to be one label per sample."""
    groups = np.asarray(sample_groups)
    if groups.shape != (n_samples,):
        raise ValueError(f"sample_groups must have shape ({n_samples},) (one label per sample), got {groups.shape}")
    return np.unique(groups, return_inverse=True)[1].reshape(-1)


class RowSubset:
    """Some rows of a 2-D target array, read one block of targets at a time.

    ``RowSubset(Y, rows)[:, cols]`` is ``Y[rows, cols]``.  Passed as a ridge's
    ``Y`` it fits on a subset of the samples (e.g. the training part of a
    validation split) without copying all targets of that subset at once: at
    NSD scale the CLIP image tokens of 8,859 images are 7 GB in float32.
    """

    def __init__(self, Y, rows: Sequence[int] | np.ndarray):
        self.Y, self.rows = Y, np.asarray(rows)
        self.shape = (len(self.rows), Y.shape[1])
        self.ndim = 2

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        rows, columns = key
        if rows != slice(None):
            raise IndexError("a RowSubset is read by blocks of whole columns: subset[:, start:stop]")
        return self.Y[self.rows, columns]


@dataclass(kw_only=True)
class RidgeSelection:
    """What every ridge fit records: input/target statistics and the alpha chosen for each target.

    Attributes
    ----------
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
        ``"loo"``, ``"gcv"`` or the number of folds.
    target_scores : ndarray of shape (n_targets,), optional
        Each target's own held-out score at its chosen alpha (e.g. to rank
        targets by decodability); None for fits saved without it.
    """

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
    target_scores: np.ndarray | None = None

    @property
    def best_cv_scores(self) -> np.ndarray:
        """Held-out score at the chosen alpha, shape (n_groups,)."""
        best = self.cv_scores.argmax(0) if self.scoring == "r2" else self.cv_scores.argmin(0)
        return self.cv_scores[best, np.arange(self.cv_scores.shape[1])]


def _check_n_features(X, n_features: int) -> None:
    if X.shape[-1] != n_features:
        raise ValueError(f"ridge expects {n_features} input features, got array of shape {tuple(X.shape)}")


@dataclass(kw_only=True)
class RidgeFit(RidgeSelection):
    """A fitted multi-target ridge regression; ``predict(X) = X @ coef + intercept``.

    Attributes (besides :class:`RidgeSelection`'s)
    ----------
    coef : ndarray of shape (n_features, n_targets), float32
        Weights acting on raw (unstandardised) inputs; standardisation of X and
        Y and the optional prediction re-standardisation are folded in.
    intercept : ndarray of shape (n_targets,), float32
    """

    coef: np.ndarray
    intercept: np.ndarray

    @property
    def n_features(self) -> int:
        return self.coef.shape[0]

    @property
    def n_targets(self) -> int:
        return self.coef.shape[1]

    def predict(self, X: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Predict targets for inputs X of shape (n_samples, n_features).

        Returns an array of shape (n_samples, n_targets): a float32 ndarray for
        an ndarray input, a tensor on X's device for a tensor input.
        """
        _check_n_features(X, self.n_features)
        if isinstance(X, torch.Tensor):
            coef = torch.as_tensor(self.coef, device=X.device)
            return X.to(coef.dtype) @ coef + torch.as_tensor(self.intercept, device=X.device)
        return np.asarray(X, dtype=np.float32) @ self.coef + self.intercept

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        """Arrays and string metadata that :meth:`from_state` rebuilds the fit from."""
        arrays = {name: np.ascontiguousarray(getattr(self, name)) for name in _ARRAY_FIELDS}
        if self.target_scores is not None:
            arrays["target_scores"] = np.ascontiguousarray(self.target_scores)
        return arrays, {"scoring": self.scoring, "cv": self.cv}

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], metadata: dict[str, str], source: str = "state") -> RidgeFit:
        missing = [name for name in _ARRAY_FIELDS if name not in arrays]
        missing += [key for key in ("scoring", "cv") if key not in metadata]
        if missing:
            raise ValueError(f"{source}: not a ridge fit, missing entries {missing}")
        return cls(
            **{name: arrays[name] for name in _ARRAY_FIELDS},
            target_scores=arrays.get("target_scores"),
            scoring=metadata["scoring"],
            cv=metadata["cv"],
        )


@dataclass(kw_only=True)
class LowRankRidgeFit(RidgeSelection):
    """A ridge fit held as its best rank-r factorisation, never as the full weight matrix.

    ``predict(X) = ((X - x_mean) / x_scale) @ a @ b + bias``: exact (up to
    float32 rounding) when ``rank`` equals the rank of the ridge weights, the
    best rank-r approximation (Eckart-Young) otherwise.

    Attributes (besides :class:`RidgeSelection`'s)
    ----------
    a : ndarray of shape (n_features, rank), float32
    b : ndarray of shape (rank, n_targets), float32
        ``a @ b`` is the weight matrix acting on standardised inputs; ``a``'s
        columns are orthogonal, scaled by the square roots of the singular values.
    bias : ndarray of shape (n_targets,), float32
    kept_fraction : float
        Share of the weight matrix's squared Frobenius norm that the rank-r factors keep.
    test_predictions : ndarray of shape (n_test, n_targets), optional
        Exact ridge predictions (full rank, kernel form) for the ``X_test``
        given to :func:`fit_ridge_low_rank`.
    """

    a: np.ndarray
    b: np.ndarray
    bias: np.ndarray
    kept_fraction: float
    test_predictions: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        return self.a.shape[0]

    @property
    def n_targets(self) -> int:
        return self.b.shape[1]

    @property
    def rank(self) -> int:
        return self.a.shape[1]

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Rank-r predictions (n_samples, n_targets), float32, for inputs of shape (n_samples, n_features)."""
        _check_n_features(X, self.n_features)
        Xs = (np.asarray(X, dtype=np.float32) - self.x_mean.astype(np.float32)) / self.x_scale.astype(np.float32)
        return (Xs @ self.a) @ self.b + self.bias


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
    In both forms ``left^T left`` is diagonal (identity, or ``diag(evals)``).
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


def _eigh(gram: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (ascending) and eigenvectors of a symmetric matrix.

    On CPU through SciPy's LAPACK MRRR driver (``syevr``): torch's CPU eigh
    (MKL ``syevd``) measured 6x slower in float64 on the 2-core AMD EPYC used
    for development (65 s vs 11 s at 2000 x 2000); torch on GPU.
    """
    if gram.device.type != "cpu":
        return torch.linalg.eigh(gram)
    evals, evecs = scipy.linalg.eigh(gram.numpy(), driver="evr", overwrite_a=True, check_finite=False)
    return torch.from_numpy(evals), torch.from_numpy(evecs)


def _decompose(Xc: torch.Tensor, decomposition_dtype: torch.dtype) -> _Spectral:
    """Eigendecomposition of the smaller Gram matrix of a centred design (n, p)."""
    n, p = Xc.shape
    X = Xc.to(decomposition_dtype)
    if p <= n:
        evals, v = _eigh(X.T @ X)
        left, right = v, X @ v
    else:
        evals, u = _eigh(X @ X.T)
        left, right = X.T @ u, u
    logger.debug("ridge decomposition of a %d x %d design (%s form)", n, p, "primal" if p <= n else "dual")
    return _Spectral(left, right, evals.clamp(min=0), dual=p > n)


class _StandardisedTargets:
    """Blocks of ``(Y - y_mean) / y_scale`` on the compute device.

    The statistics of a block of targets are computed the first time it is
    read (a block holds every sample of its targets), so streaming Y from disk
    needs no extra pass; ``mean``, ``std`` and ``scale`` are complete once
    every block has been read.
    """

    def __init__(self, Y, block: int, device: torch.device, standardize: bool):
        self.Y, self.block, self.device, self.standardize = Y, block, device, standardize
        t = Y.shape[1]
        self.mean, self.std, self.scale = np.full(t, np.nan), np.full(t, np.nan), np.full(t, np.nan)

    def slices(self, desc: str | None = None) -> Iterator[slice]:
        t = self.Y.shape[1]
        starts = range(0, t, self.block)
        for start in tqdm(starts, desc=desc, disable=None if desc else True, leave=False):
            yield slice(start, min(start + self.block, t))

    def __getitem__(self, sl: slice) -> torch.Tensor:
        raw = _as_tensor(self.Y[:, sl], self.device).to(torch.float64)
        if np.isnan(self.mean[sl.start]):
            mean = raw.mean(0)
            std = ((raw - mean) ** 2).mean(0).sqrt().cpu().numpy()
            self.mean[sl], self.std[sl] = mean.cpu().numpy(), std
            self.scale[sl] = np.where(std > 0, std, 1.0) if self.standardize else 1.0
        mean = torch.as_tensor(self.mean[sl], device=self.device)
        scale = torch.as_tensor(self.scale[sl], device=self.device)
        return ((raw - mean) / scale).to(COMPUTE_DTYPE)


class _HeldOutStats:
    """Sums over held-out samples, per alpha (rows) and target (columns), in standardised target units."""

    def __init__(self, n_alphas: int, n_targets: int):
        self.sse = np.zeros((n_alphas, n_targets))
        self.pred_sum = np.zeros((n_alphas, n_targets))
        self.pred_sq = np.zeros((n_alphas, n_targets))

    def add(self, a: int, sl: slice, y: torch.Tensor, pred: torch.Tensor) -> None:
        self.sse[a, sl] += ((y - pred) ** 2).sum(0).double().cpu().numpy()
        self.pred_sum[a, sl] += pred.sum(0).double().cpu().numpy()
        self.pred_sq[a, sl] += (pred**2).sum(0).double().cpu().numpy()


def _kfold_stats(Xs, targets, alphas, splits, stats: _HeldOutStats) -> None:
    n_folds = len(splits)
    for fold, (train, test) in enumerate(splits):
        train_t = torch.as_tensor(train, device=Xs.device)
        test_t = torch.as_tensor(test, device=Xs.device)
        x_mean = Xs[train_t].mean(0)
        spec = _decompose(Xs[train_t] - x_mean, Xs.dtype)
        test_proj = (Xs[test_t] - x_mean) @ spec.left  # (n_test, k)
        gains = 1.0 / (spec.evals[None] + torch.as_tensor(alphas, device=Xs.device, dtype=Xs.dtype)[:, None])
        # every alpha's held-out predictions in one product: (n_alphas * n_test, k) @ (k, t_block)
        test_maps = (test_proj[None] * gains[:, None]).reshape(-1, test_proj.shape[1]).to(COMPUTE_DTYPE)
        right = spec.right.to(COMPUTE_DTYPE)
        del spec, test_proj
        for sl in targets.slices(desc=f"ridge fold {fold + 1}/{n_folds}"):
            Yb = targets[sl]
            y_train_mean = Yb[train_t].mean(0)
            rhs = right.T @ (Yb[train_t] - y_train_mean)  # (k, t_block)
            preds = (test_maps @ rhs).view(len(alphas), len(test), -1) + y_train_mean
            y_test = Yb[test_t]
            for a in range(len(alphas)):
                stats.add(a, sl, y_test, preds[a])


def _loo_parts(spec: _Spectral) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample factors of the leave-one-out residual (float32): ``(proj, hat_parts)``.

    The residual of sample i left out is ``e_i = r_i / (1 - h_ii)`` (hat
    matrix with the intercept's ``1/n``).  In the dual form both are
    proportional to alpha and are computed without that factor, ``r = P U G
    U^T P y`` and ``1 - h = diag(P U G U^T P)`` with ``G = diag(1 / (s +
    alpha))`` and P the centring projector (``proj = P U``), so
    near-interpolating fits (p > n, small alpha) lose no precision to
    cancellation.  In the primal form ``proj = Xc V`` and ``h = 1/n + diag(Xc V
    G V^T Xc^T)``.
    """
    proj = spec.right - spec.right.mean(0) if spec.dual else spec.right
    return proj.to(COMPUTE_DTYPE), (proj**2).to(COMPUTE_DTYPE)


def _loo_block(spec, parts, rhs, Yb, alphas, n) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact leave-one-out (sse, pred_sum, pred_sq), each (n_alphas, t_block); O(n k t) per alpha."""
    proj, hat_parts = parts
    out = np.zeros((3, len(alphas), Yb.shape[1]))
    for a, alpha in enumerate(alphas):
        gain = spec.gain(alpha)
        if spec.dual:
            resid = (proj @ (gain[:, None] * rhs)) / (hat_parts @ gain)[:, None]
        else:
            resid = (Yb - proj @ (gain[:, None] * rhs)) / (1.0 - 1.0 / n - hat_parts @ gain)[:, None]
        pred = Yb - resid
        for i, value in enumerate((resid**2, pred, pred**2)):
            out[i, a] = value.sum(0).double().cpu().numpy()
    return out[0], out[1], out[2]


def _gcv_block(spec, rhs, Yb, alphas, n) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generalised cross-validation (sse, pred_sum, pred_sq), each (n_alphas, t_block); O(k t) per alpha.

    With ``z = right^T yc`` the in-sample residual ``r`` of every alpha has
    ``||r||^2 = sum_k (alpha g_k)^2 z_k^2`` in the dual form (U is a complete
    basis, so nothing cancels) and ``||yc||^2 - sum_k (2 g_k - s_k g_k^2) z_k^2``
    in the primal form, ``g = 1 / (s + alpha)``.  GCV replaces every leverage
    by the mean, ``h = df / n`` with ``df = 1 + sum_k s_k g_k`` (intercept
    included), so the held-out residual is ``c r`` with ``c = 1 / (1 - df / n)``
    and the held-out prediction ``y - c r``, whose sum of squares needs
    ``y^T r`` too.  Alphas with ``df >= n`` (interpolation) score ``inf``.
    """
    evals = spec.evals.double()
    alpha = torch.as_tensor(np.asarray(alphas), dtype=torch.float64, device=evals.device)[:, None]
    g = 1.0 / (evals[None] + alpha)  # (n_alphas, k)
    z2 = rhs.double() ** 2
    yy = (Yb.double() ** 2).sum(0)
    if spec.dual:
        rss = ((alpha * g) ** 2) @ z2
        yr = (alpha * g) @ z2
    else:
        rss = yy - (2 * g - evals * g**2) @ z2
        yr = yy - g @ z2
    rss, yr, yy = rss.clamp(min=0).cpu().numpy(), yr.cpu().numpy(), yy.cpu().numpy()
    denominator = 1.0 - (1.0 + (evals * g).sum(1).cpu().numpy()) / n
    with np.errstate(divide="ignore"):
        c = np.where(denominator > 1e-12, 1.0 / denominator, np.inf)[:, None]
    sse = np.where(np.isfinite(c), c**2 * rss, np.inf)
    pred_sq = np.where(np.isfinite(c), yy - 2 * c * yr + c**2 * rss, np.inf)
    return sse, np.zeros_like(sse), pred_sq


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
    if cv not in SINGLE_DECOMPOSITION_CV and not (isinstance(cv, (int, np.integer)) and 2 <= cv <= X.shape[0]):
        raise ValueError(f"cv must be 'loo', 'gcv' or an integer number of folds in [2, {X.shape[0]}], got {cv!r}")


class _RidgeProblem:
    """A standardised design, its full-data decomposition, streamed targets and each target's chosen alpha.

    Alphas are chosen before any solution block is produced, except for
    single-decomposition scores (``loo``/``gcv``) with one alpha per target:
    then scoring and solving share one read of each target block and one
    product ``right^T Yc`` (:meth:`solved_blocks`).
    """

    def __init__(
        self, X, Y, alphas, *, cv, alpha_per, groups, scoring, standardize_x, standardize_y,
        restandardize_predictions, target_block, device, seed, sample_groups, decomposition_dtype,
    ):  # fmt: skip
        _check_inputs(X, Y, alphas, cv, alpha_per, scoring)
        self.device = resolve_device(device)
        self.alpha_grid = np.asarray(alphas, dtype=np.float64)
        self.n, self.p = X.shape
        t = Y.shape[1]
        self.cv, self.alpha_per, self.scoring = cv, alpha_per, scoring
        self.restandardize = restandardize_predictions
        logger.info(
            "ridge: %d samples, %d features, %d targets, %d alphas, cv=%s on %s",
            self.n, self.p, t, len(self.alpha_grid), cv, self.device,
        )  # fmt: skip

        X = _as_tensor(X, self.device).to(decomposition_dtype)
        self.x_mean = X.mean(0)
        x_std = X.std(0, correction=0)
        self.x_scale = (
            torch.where(x_std > 0, x_std, torch.ones_like(x_std)) if standardize_x else torch.ones_like(x_std)
        )
        Xs = (X - self.x_mean) / self.x_scale
        del X
        self.targets = _StandardisedTargets(Y, target_block, self.device, standardize_y)
        self.group_index = _group_index(groups, alpha_per, t)
        n_columns = t if alpha_per == "target" else int(self.group_index.max()) + 1
        self.cv_scores = np.full((len(self.alpha_grid), n_columns), np.nan)
        self.stats = _HeldOutStats(len(self.alpha_grid), t)
        self.best = np.zeros(t, dtype=np.int64)
        self.target_scores = np.full(t, np.nan)
        self.gain, self.offset = np.ones(t), np.zeros(t)
        self.per_block = cv in SINGLE_DECOMPOSITION_CV and alpha_per == "target"

        if cv not in SINGLE_DECOMPOSITION_CV:
            splits = kfold_splits(self.n, int(cv), seed, sample_groups)
            _kfold_stats(Xs, self.targets, self.alpha_grid, splits, self.stats)
        elif sample_groups is not None and len(np.unique(sample_groups)) < self.n:
            logger.warning(
                "ridge: cv=%s leaves out one sample at a time, but samples repeat (e.g. single trials of one image): "
                "the repeats left in favour small alphas; cv=<folds> keeps each group in one fold", cv,
            )  # fmt: skip
        full = _decompose(Xs, decomposition_dtype)
        del Xs
        self.loo_parts = _loo_parts(full) if cv == "loo" else None
        self.full = full.to(COMPUTE_DTYPE)
        del full
        if cv in SINGLE_DECOMPOSITION_CV and not self.per_block:
            for sl in self.targets.slices(desc=f"ridge {cv} scores"):
                Yb = self.targets[sl]
                self._score_block(sl, Yb, self.full.right.T @ Yb)
        if not self.per_block:
            self._choose(slice(0, t))

    def _score_block(self, sl: slice, Yb: torch.Tensor, rhs: torch.Tensor) -> None:
        if self.cv == "gcv":
            sse, pred_sum, pred_sq = _gcv_block(self.full, rhs, Yb, self.alpha_grid, self.n)
        else:
            sse, pred_sum, pred_sq = _loo_block(self.full, self.loo_parts, rhs, Yb, self.alpha_grid, self.n)
        self.stats.sse[:, sl], self.stats.pred_sum[:, sl], self.stats.pred_sq[:, sl] = sse, pred_sum, pred_sq

    def _choose(self, sl: slice) -> None:
        """Alpha, CV scores and optional re-standardisation of the targets in ``sl``."""
        target_sd = self.targets.std[sl] / self.targets.scale[sl]  # std of the standardised targets
        sse = self.stats.sse[:, sl]
        if self.scoring == "mse":
            per_target = sse / self.n
        else:
            sst = self.n * target_sd**2
            with np.errstate(divide="ignore", invalid="ignore"):
                per_target = np.where(sst > 0, 1.0 - sse / sst, 0.0)
        pick = np.argmax if self.scoring == "r2" else np.argmin
        if self.alpha_per == "target":
            self.cv_scores[:, sl] = per_target
            best = pick(per_target, axis=0)
        else:
            index = self.group_index[sl]
            counts = np.bincount(index)
            self.cv_scores[:] = np.stack([np.bincount(index, weights=row) / counts for row in per_target])
            best = pick(self.cv_scores, axis=0)[index]
        self.best[sl] = best
        self.target_scores[sl] = per_target[best, np.arange(per_target.shape[1])]
        if self.restandardize:
            cols = np.arange(sl.start, sl.stop)
            pred_mean = self.stats.pred_sum[best, cols] / self.n
            pred_sd = np.sqrt(np.maximum(self.stats.pred_sq[best, cols] / self.n - pred_mean**2, 0.0))
            ok = (pred_sd > 0) & (target_sd > 0)
            gain = np.where(ok, target_sd / np.where(ok, pred_sd, 1.0), 1.0)
            self.gain[sl], self.offset[sl] = gain, np.where(ok, -pred_mean * gain, 0.0)

    @property
    def chosen(self) -> np.ndarray:
        return self.alpha_grid[self.best]

    def out_gain(self, sl: slice) -> torch.Tensor:
        """Per-target factor from standardised-target solutions to raw target units (re-standardisation included)."""
        return torch.as_tensor(self.targets.scale[sl] * self.gain[sl], device=self.device, dtype=COMPUTE_DTYPE)

    def bias(self) -> np.ndarray:
        """Prediction at the training input mean, per target (complete after a full pass over the targets)."""
        return self.targets.mean + self.targets.scale * self.offset

    def solved_blocks(self, desc: str) -> Iterator[tuple[slice, torch.Tensor]]:
        """``(sl, theta)`` per target block: the weights on standardised inputs are ``full.left @ theta``.

        ``theta`` (k, t_block) is in raw target units, re-standardisation included.
        """
        for sl in self.targets.slices(desc=desc):
            Yb = self.targets[sl]
            rhs = self.full.right.T @ Yb
            if self.per_block:
                self._score_block(sl, Yb, rhs)
                self._choose(sl)
            alpha = torch.as_tensor(self.chosen[sl], device=self.device, dtype=COMPUTE_DTYPE)
            yield sl, self.full.gain(alpha[None]) * rhs * self.out_gain(sl)

    def selection(self) -> dict:
        """The :class:`RidgeSelection` fields."""
        logger.info("ridge: chosen alphas %s", dict(zip(*np.unique(self.chosen, return_counts=True))))
        return dict(
            alphas=self.chosen,
            x_mean=self.x_mean.cpu().numpy(),
            x_scale=self.x_scale.cpu().numpy(),
            y_mean=self.targets.mean,
            y_scale=self.targets.scale,
            cv_scores=self.cv_scores,
            alpha_grid=self.alpha_grid,
            group_index=self.group_index,
            scoring=self.scoring,
            cv=str(self.cv),
            target_scores=self.target_scores,
        )


_COMMON_PARAMETERS = """X : array of shape (n_samples, n_features)
    Y : array of shape (n_samples, n_targets)
        Anything sliceable as ``Y[:, start:stop]`` into an array (ndarray,
        memmap, h5py dataset, tensor, :class:`RowSubset`); read one block of targets at a time
        (for HDF5, chunk the dataset along targets so that a block is cheap).
    alphas : sequence of float
        Candidate regularisation strengths (positive).
    cv : int, "loo" or "gcv", default=5
        Number of shuffled K-fold splits (:func:`kfold_splits`), efficient
        leave-one-out, or generalised cross-validation; "loo" and "gcv" use
        the one full-data decomposition.
    alpha_per : {"group", "target"}, default="group"
        Choose one alpha per group of targets (the mean held-out score over the
        group's targets) or one per target.
    groups : sequence of shape (n_targets,), optional
        Group label of each target; None with ``alpha_per="group"`` puts all
        targets in one group.
    scoring : {"r2", "mse"}, default="r2"
        Held-out R^2 of the pooled held-out predictions, or their mean squared
        error (in standardised target units when ``standardize_y``).
    standardize_x, standardize_y : bool
        Divide inputs / targets by their training standard deviation (means are
        always removed: the intercept is fitted and not penalised).
    restandardize_predictions : bool, default=False
        Brain-Diffuser's re-scaling of predictions to the training targets' mean
        and standard deviation.  Brain-Diffuser uses the statistics of the test
        predictions themselves; here the mean and std of the held-out
        predictions at the chosen alpha (out-of-fold, leave-one-out, or for
        GCV ``y - r / (1 - df / n)``) stand in for them, so the rescaling is a
        fixed per-target affine map and a prediction does not depend on which
        other samples share its batch.
    target_block : int, default=4096
        Number of targets processed at once; bounds memory.
    device : str or torch.device, default="cpu"
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    seed : int, default=0
        Seed of the K-fold shuffle.
    sample_groups : sequence of shape (n_samples,), optional
        Label of each sample (e.g. its NSD image id); K-fold keeps each label
        in one fold (:func:`kfold_splits`), so repeated trials of an image
        never score their own image.
    decomposition_dtype : torch.dtype, default=torch.float64
        Precision of the Gram matrix and its eigendecomposition; products with
        the targets run in float32."""


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
    sample_groups: Sequence | None = None,
    decomposition_dtype: torch.dtype = torch.float64,
) -> RidgeFit:
    """Fit ridge regressions from X to every column of Y, choosing alpha by cross-validation.

    Returns the weight matrix (n_features x n_targets, float32); for target
    counts where it does not fit in memory use :func:`fit_ridge_low_rank`.

    Parameters
    ----------
    {parameters}

    Returns
    -------
    RidgeFit
    """
    problem = _RidgeProblem(
        X, Y, alphas, cv=cv, alpha_per=alpha_per, groups=groups, scoring=scoring, standardize_x=standardize_x,
        standardize_y=standardize_y, restandardize_predictions=restandardize_predictions,
        target_block=target_block, device=device, seed=seed, sample_groups=sample_groups,
        decomposition_dtype=decomposition_dtype,
    )  # fmt: skip
    t = Y.shape[1]
    coef = np.empty((problem.p, t), dtype=np.float32)
    weight_sums = np.empty(t)  # x_mean @ coef per target
    x_scale = problem.x_scale.to(COMPUTE_DTYPE)
    for sl, theta in problem.solved_blocks("ridge final fit"):
        coef_raw = (problem.full.left @ theta) / x_scale[:, None]
        coef[:, sl] = coef_raw.cpu().numpy()
        weight_sums[sl] = (problem.x_mean @ coef_raw.to(problem.x_mean.dtype)).cpu().numpy()
    intercept = (problem.bias() - weight_sums).astype(np.float32)
    return RidgeFit(coef=coef, intercept=intercept, **problem.selection())


def fit_ridge_low_rank(
    X: np.ndarray | torch.Tensor,
    Y,
    alphas: Sequence[float],
    *,
    rank: int | None = None,
    X_test: np.ndarray | torch.Tensor | None = None,
    cv: int | str = "gcv",
    alpha_per: str = "target",
    groups: Sequence | None = None,
    scoring: str = "r2",
    standardize_x: bool = True,
    standardize_y: bool = False,
    restandardize_predictions: bool = False,
    target_block: int = 4096,
    device: str | torch.device = "cpu",
    seed: int = 0,
    sample_groups: Sequence | None = None,
    decomposition_dtype: torch.dtype = torch.float64,
) -> LowRankRidgeFit:
    """Ridge from X to every column of Y without ever forming the (n_features x n_targets) weights.

    The weights on standardised inputs are ``W = left @ Theta`` with ``Theta``
    (k x t) made block by block from ``right^T Yc`` (k = min(n, p)).  Since
    ``left^T left = R^2`` is diagonal (``R = I`` primal, ``diag(sqrt(s))``
    dual), the SVD of W follows from the k x k matrix ``C = R (Theta Theta^T)
    R = E diag(lam) E^T``, accumulated over target blocks:
    ``A = left (Theta Theta^T) R E_r lam_r^(-1/2)`` and ``B = lam_r^(-1/2) E_r^T R
    Theta`` (nothing divided by a singular value of X).  A second pass over the
    targets forms B with one (r x n) matrix per chosen alpha, at O(r n) per
    target.  Test predictions use the kernel form ``(X_test - x_mean) / x_scale
    @ left @ Theta`` (``K_test U G U^T Yc`` in the dual form), exact at full rank.

    Peak memory: X, a few k x k and k x max(n, p) matrices, one target block,
    B (rank x t) and the test predictions (n_test x t).

    Parameters
    ----------
    {parameters}
    rank : int, optional
        Rank r of the factors; None keeps min(n_features, n_targets, k).
    X_test : array of shape (n_test, n_features), optional
        Inputs whose exact (full-rank) predictions are returned in ``test_predictions``.

    Returns
    -------
    LowRankRidgeFit
    """
    if rank is not None and int(rank) < 1:
        raise ValueError(f"rank must be a positive integer or None, got {rank!r}")
    if X_test is not None:
        _check_n_features(X_test, X.shape[1])
    problem = _RidgeProblem(
        X, Y, alphas, cv=cv, alpha_per=alpha_per, groups=groups, scoring=scoring, standardize_x=standardize_x,
        standardize_y=standardize_y, restandardize_predictions=restandardize_predictions,
        target_block=target_block, device=device, seed=seed, sample_groups=sample_groups,
        decomposition_dtype=decomposition_dtype,
    )  # fmt: skip
    full, device, t = problem.full, problem.device, Y.shape[1]
    test_proj = None
    if X_test is not None:
        Xt = (_as_tensor(X_test, device).to(problem.x_mean.dtype) - problem.x_mean) / problem.x_scale
        test_proj = Xt.to(COMPUTE_DTYPE) @ full.left  # (n_test, k)
        test_predictions = np.empty((len(Xt), t), dtype=np.float32)
        del Xt

    k = full.evals.shape[0]
    theta_gram = torch.zeros(k, k, dtype=torch.float64, device=device)
    for sl, theta in problem.solved_blocks("ridge solution"):
        theta_gram += (theta @ theta.T).double()
        if test_proj is not None:
            test_predictions[:, sl] = (test_proj @ theta).cpu().numpy()
    del test_proj
    bias = problem.bias().astype(np.float32)

    r_scale = (
        full.evals.double().clamp(min=0).sqrt() if full.dual else torch.ones(k, dtype=torch.float64, device=device)
    )
    lam, vec = torch.linalg.eigh(r_scale[:, None] * theta_gram * r_scale[None])
    r = min(problem.p, t, k) if rank is None else min(problem.p, t, k, int(rank))
    total = float(lam.clamp(min=0).sum())
    lam, vec = lam.flip(0)[:r].clamp(min=0), vec.flip(1)[:, :r]
    # directions with (numerically) zero singular value carry nothing: zero them in both factors
    inv_root = torch.where(lam > lam[0] * k * torch.finfo(torch.float64).eps, lam.rsqrt(), 0.0)
    a = full.left @ ((theta_gram @ (r_scale[:, None] * vec)) * inv_root).to(COMPUTE_DTYPE)
    del theta_gram
    to_b = (vec * inv_root).T * r_scale  # (r, k): B = to_b @ Theta
    b = np.empty((r, t), dtype=np.float32)
    per_alpha = {}  # alpha index -> (r, n) map from standardised targets to B
    right_t = full.right.T.double()
    for sl in problem.targets.slices(desc="ridge low-rank factors"):
        Yb = problem.targets[sl]
        best = problem.best[sl]
        block = torch.empty(r, Yb.shape[1], dtype=COMPUTE_DTYPE, device=device)
        for index in np.unique(best):
            if index not in per_alpha:
                gain = full.gain(float(problem.alpha_grid[index])).double()
                per_alpha[index] = ((to_b * gain) @ right_t).to(COMPUTE_DTYPE)
            cols = torch.as_tensor(np.flatnonzero(best == index), device=device)
            block[:, cols] = per_alpha[index] @ Yb[:, cols]
        b[:, sl] = (block * problem.out_gain(sl)).cpu().numpy()
    kept = float(lam.sum()) / total if total > 0 else 1.0
    logger.info(
        "ridge weights (%d x %d) factored at rank %d, keeping %.4f of their squared norm", problem.p, t, r, kept
    )
    if X_test is not None:
        test_predictions += bias
    return LowRankRidgeFit(
        a=a.cpu().numpy(),
        b=b,
        bias=bias,
        kept_fraction=kept,
        test_predictions=test_predictions if X_test is not None else None,
        **problem.selection(),
    )


fit_ridge.__doc__ = fit_ridge.__doc__.format(parameters=_COMMON_PARAMETERS)
fit_ridge_low_rank.__doc__ = fit_ridge_low_rank.__doc__.format(parameters=_COMMON_PARAMETERS)
