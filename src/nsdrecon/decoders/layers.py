"""Building blocks shared by the ridge-initialised decoders.

* :class:`LowRankLinear` holds a ridge weight matrix as ``A @ B`` (exact at
  full rank ``min(p, t)``, the best rank-r approximation otherwise);
* :class:`ResidualMLP` is the refinement trunk: linear projection, LayerNorm,
  SiLU, Dropout, then pre-norm residual MLP blocks;
* :class:`RidgeDecoder` is the base class: it standardises voxels with the ridge
  fit's statistics, records its constructor arguments (``config``) so a saved
  decoder can be rebuilt without pickle, and seeds its own initialisation.
"""

from __future__ import annotations

import contextlib
import logging
import math
from typing import Iterator

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..devices import resolve_device
from ..ridge import LowRankRidgeFit, RidgeFit, RidgeSelection

logger = logging.getLogger(__name__)

__all__ = [
    "LowRankLinear",
    "ResidualMLP",
    "RidgeDecoder",
    "check_same_inputs",
    "ridge_low_rank_factors",
    "seeded",
    "zero_init",
]

_FACTOR_BLOCK = 8192  # ridge target columns streamed at a time while factorising


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Draw layer initialisations from ``seed`` without touching the global RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def ridge_low_rank_factors(
    fit: RidgeFit, rank: int | None = None, device: str | torch.device = "cpu"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Factor the ridge map on standardised voxels as ``A @ B`` via its SVD.

    The ridge prediction is ``xs @ W + bias`` with ``xs = (x - x_mean) / x_scale``,
    ``W = coef * x_scale[:, None]`` and ``bias = intercept + x_mean @ coef``.
    With ``W = P diag(s) Q^T`` the factors are ``A = P_r diag(sqrt(s_r))`` and
    ``B = diag(sqrt(s_r)) Q_r^T`` for ``r = min(p, t, rank)``: exact when
    ``r = min(p, t)``, the best rank-r approximation otherwise.  The SVD comes
    from the float64 eigendecomposition of the smaller Gram matrix; when
    ``p <= t`` it is accumulated over blocks of targets, so ``W`` (15,000 x
    197,376 for CLIP image tokens) is never held whole on ``device``.

    Returns
    -------
    A : tensor of shape (p, r)
    B : tensor of shape (r, t)
    bias : tensor of shape (t,)
        float32, on ``device``.
    """
    device = resolve_device(device)
    p, t = fit.coef.shape
    r = min(p, t) if rank is None else min(p, t, int(rank))
    x_scale = torch.as_tensor(fit.x_scale, device=device, dtype=torch.float64)
    x_mean = torch.as_tensor(fit.x_mean, device=device, dtype=torch.float64)
    blocks = [slice(start, min(start + _FACTOR_BLOCK, t)) for start in range(0, t, _FACTOR_BLOCK)]

    def weight(sl: slice) -> torch.Tensor:
        return torch.as_tensor(fit.coef[:, sl], device=device).to(torch.float64) * x_scale[:, None]

    bias = torch.as_tensor(fit.intercept, device=device, dtype=torch.float64)
    bias += torch.cat([x_mean @ torch.as_tensor(fit.coef[:, sl], device=device).to(torch.float64) for sl in blocks])
    if p <= t:
        gram = sum(W @ W.T for W in map(weight, tqdm(blocks, desc="ridge weight Gram", disable=None, leave=False)))
    else:
        W_all = weight(slice(0, t))
        gram = W_all.T @ W_all
    evals, evecs = torch.linalg.eigh(gram)
    total = evals.clamp(min=0).sum()
    evals, evecs = evals.flip(0)[:r].clamp(min=0), evecs.flip(1)[:, :r]
    root = evals.sqrt()
    # directions with (numerically) zero singular value carry nothing: zero them in both factors
    inv_root = torch.where(evals > evals[0] * min(p, t) * torch.finfo(torch.float64).eps, 1.0 / root, 0.0)
    if p <= t:
        A = evecs * root
        B = torch.cat([(evecs.T @ weight(sl)) * inv_root[:, None] for sl in blocks], 1)
    else:
        A = (W_all @ evecs) * inv_root
        B = (evecs * root).T
    logger.info(
        "ridge weights (%d x %d) factored at rank %d, keeping %.4f of their squared norm",
        p,
        t,
        r,
        float(evals.sum() / total) if total > 0 else 1.0,
    )
    return A.float(), B.float(), bias.float()


class LowRankLinear(nn.Module):
    """``y = (x @ a) @ b + bias``: a linear map from ``in_features`` to ``out_features`` of rank ``rank``."""

    def __init__(self, in_features: int, out_features: int, rank: int | None = None):
        super().__init__()
        r = min(in_features, out_features) if rank is None else min(in_features, out_features, int(rank))
        self.a = nn.Parameter(torch.empty(in_features, r))
        self.b = nn.Parameter(torch.empty(r, out_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        nn.init.normal_(self.a, std=1.0 / math.sqrt(in_features))
        nn.init.normal_(self.b, std=1.0 / math.sqrt(r))

    @property
    def rank(self) -> int:
        return self.a.shape[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x @ self.a) @ self.b + self.bias

    @torch.no_grad()
    def copy_ridge(self, fit: RidgeFit | LowRankRidgeFit, device: str | torch.device = "cpu") -> None:
        """Set the weights to the (rank-r factored) ridge map on standardised inputs.

        A :class:`~nsdrecon.ridge.RidgeFit` is factored here
        (:func:`ridge_low_rank_factors`); a :class:`~nsdrecon.ridge.LowRankRidgeFit`
        brings its factors, sorted by singular value, and is cut to this layer's rank.
        """
        expected = (self.a.shape[0], self.b.shape[1])
        if (fit.n_features, fit.n_targets) != expected:
            raise ValueError(
                f"ridge fit maps {fit.n_features} voxels to {fit.n_targets} targets; "
                f"this layer expects {expected[0]} -> {expected[1]}"
            )
        if isinstance(fit, LowRankRidgeFit):
            # beyond the fit's rank the singular values are zero: those rows of b start at zero
            # (their columns of a keep the random init, so they can still learn)
            r = min(fit.rank, self.rank)
            self.b.zero_()
            self.a[:, :r] = torch.as_tensor(fit.a[:, :r])
            self.b[:r] = torch.as_tensor(fit.b[:r])
            self.bias.copy_(torch.as_tensor(fit.bias))
            return
        A, B, bias = ridge_low_rank_factors(fit, self.rank, device)
        self.a.copy_(A)
        self.b.copy_(B)
        self.bias.copy_(bias)


class ResidualMLP(nn.Module):
    """Voxels (standardised) -> hidden features of width ``hidden``.

    ``Linear -> LayerNorm -> SiLU -> Dropout``, then ``n_blocks`` residual
    blocks ``h + Dropout(SiLU(Linear(LayerNorm(h))))``.
    """

    def __init__(self, in_features: int, hidden: int, n_blocks: int, dropout: float):
        super().__init__()
        self.stem = nn.Sequential(nn.Linear(in_features, hidden), nn.LayerNorm(hidden), nn.SiLU(), nn.Dropout(dropout))
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, hidden), nn.SiLU(), nn.Dropout(dropout))
            for _ in range(n_blocks)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for block in self.blocks:
            h = h + block(h)
        return h


def zero_init(module: nn.Module) -> nn.Module:
    """Zero a layer's weight and bias so a residual branch starts as the identity's complement (0)."""
    for parameter in module.parameters():
        nn.init.zeros_(parameter)
    return module


class RidgeDecoder(nn.Module):
    """Base of the ridge-initialised decoders: voxel standardisation, config, seeded init.

    Subclasses call ``super().__init__(n_voxels, seed, **config)`` with every
    other constructor argument (JSON-able) before creating their layers inside
    ``with seeded(seed):``, and define
    ``target_shapes`` (name -> per-sample shape), ``forward(x) -> dict`` and
    ``loss(pred, target) -> (total, parts)`` where ``parts["mse"]`` is the mean
    over targets of each target's mean squared error.
    """

    target_shapes: dict[str, tuple[int, ...]]

    def __init__(self, n_voxels: int, seed: int, **config):
        super().__init__()
        self.config = {"n_voxels": int(n_voxels), "seed": int(seed), **config}
        self.register_buffer("x_mean", torch.zeros(n_voxels))
        self.register_buffer("x_scale", torch.ones(n_voxels))

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.x_mean.shape[0]:
            raise ValueError(
                f"{type(self).__name__} expects {self.x_mean.shape[0]} voxels, got input of shape {tuple(x.shape)}"
            )
        return (x - self.x_mean) / self.x_scale

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @torch.no_grad()
    def copy_input_scaling(self, fit: RidgeSelection) -> None:
        self.x_mean.copy_(torch.as_tensor(fit.x_mean, dtype=torch.float32))
        self.x_scale.copy_(torch.as_tensor(fit.x_scale, dtype=torch.float32))


def check_same_inputs(fits: dict[str, RidgeSelection]) -> RidgeSelection:
    """The fits of one decoder must share the voxel statistics; return the first."""
    names = list(fits)
    first = fits[names[0]]
    for name in names[1:]:
        other = fits[name]
        if other.x_mean.shape != first.x_mean.shape or not (
            np.allclose(other.x_mean, first.x_mean) and np.allclose(other.x_scale, first.x_scale)
        ):
            raise ValueError(
                f"ridge fits {names[0]!r} and {name!r} were not fitted on the same voxels (x_mean/x_scale differ)"
            )
    return first
