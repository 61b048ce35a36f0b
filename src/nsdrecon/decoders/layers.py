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

import math

import numpy as np
import torch
from torch import nn

from ..ridge import LowRankRidgeFit, RidgeSelection

__all__ = [
    "LowRankLinear",
    "ResidualMLP",
    "RidgeDecoder",
    "check_same_inputs",
    "zero_init",
]

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
    def copy_ridge(self, fit: LowRankRidgeFit) -> None:
        """Set the weights to the ridge map on standardised inputs, factored by
        :func:`~nsdrecon.ridge.fit_ridge_low_rank` (sorted by singular value) and cut to this layer's rank."""
        expected = (self.a.shape[0], self.b.shape[1])
        if (fit.n_features, fit.n_targets) != expected:
            raise ValueError(
                f"ridge fit maps {fit.n_features} voxels to {fit.n_targets} targets; "
                f"this layer expects {expected[0]} -> {expected[1]}"
            )
        # beyond the fit's rank the singular values are zero: those rows of b start at zero
        # (their columns of a keep the random init, so they can still learn)
        r = min(fit.rank, self.rank)
        self.b.zero_()
        self.a[:, :r] = torch.as_tensor(fit.a[:, :r])
        self.b[:r] = torch.as_tensor(fit.b[:r])
        self.bias.copy_(torch.as_tensor(fit.bias))


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
    ``with torch_seed(seed):``, and define
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
