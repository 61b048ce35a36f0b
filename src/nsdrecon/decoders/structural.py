"""HAVIR's Structural Generator: structural voxels -> VAE latent prior (C, h, w).

``latent = ridge(x) + refine(x)``: the ridge-initialised (optionally low-rank)
linear map plus a refinement branch (residual MLP, reshape to a coarse grid,
``n_upsample`` x [nearest upsampling, 3x3 conv, GroupNorm, SiLU], zero-initialised
3x3 output conv).  At initialisation the refinement is exactly zero, so the
decoder's output is the ridge prediction.  Loss: MSE + ``sobel_weight`` x MSE
between Sobel edge maps of predicted and true latents.
"""

from __future__ import annotations

import logging
import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..ridge import LowRankRidgeFit
from ..seeding import torch_seed
from .layers import LowRankLinear, ResidualMLP, RidgeDecoder, zero_init

logger = logging.getLogger(__name__)

__all__ = ["StructuralGenerator", "sobel_edges"]

_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8.0


def sobel_edges(latent: torch.Tensor) -> torch.Tensor:
    """Horizontal and vertical Sobel gradients of every channel (replicate padding).

    Parameters
    ----------
    latent : tensor of shape (batch, C, h, w)

    Returns
    -------
    tensor of shape (batch, 2 * C, h, w): the x gradients of all channels, then the y gradients.
    """
    channels = latent.shape[1]
    kernels = torch.stack([_SOBEL_X, _SOBEL_X.T]).to(latent)  # (2, 3, 3)
    weight = kernels.repeat(channels, 1, 1).unsqueeze(1)  # (2C, 1, 3, 3): x, y per channel
    edges = F.conv2d(F.pad(latent, (1, 1, 1, 1), mode="replicate"), weight, groups=channels)
    return torch.cat([edges[:, 0::2], edges[:, 1::2]], 1)


class StructuralGenerator(RidgeDecoder):
    """Structural voxels (batch, n_voxels) -> ``{"latent": (batch, C, h, w)}``.

    Parameters
    ----------
    n_voxels : int
    latent_shape : sequence of 3 int
        (C, h, w); h and w divisible by ``2 ** n_upsample``.
    rank : int, optional
        Rank of the linear path; None = full rank ``min(n_voxels, C*h*w)``.
    hidden, n_blocks, dropout : refinement trunk width, residual blocks, dropout rate.
    coarse_channels : int, default=64
        Channels of the coarse grid the trunk is reshaped to.
    n_upsample : int, default=2
        Upsampling stages; the coarse grid is ``(h, w) / 2 ** n_upsample``.
    sobel_weight : float, default=0.1
    seed : int, default=0
        Seed of the refinement branch's initialisation.
    """

    def __init__(
        self,
        n_voxels: int,
        latent_shape: Sequence[int],
        *,
        rank: int | None = None,
        hidden: int = 256,
        n_blocks: int = 2,
        dropout: float = 0.1,
        coarse_channels: int = 64,
        n_upsample: int = 2,
        sobel_weight: float = 0.1,
        seed: int = 0,
    ):
        latent_shape = tuple(int(s) for s in latent_shape)
        if len(latent_shape) != 3:
            raise ValueError(f"latent_shape must be (C, h, w), got {latent_shape}")
        channels, height, width = latent_shape
        factor = 2**n_upsample
        if height % factor or width % factor:
            raise ValueError(f"latent grid {height}x{width} is not divisible by 2**n_upsample = {factor}")
        super().__init__(
            n_voxels,
            seed,
            latent_shape=list(latent_shape),
            rank=rank,
            hidden=hidden,
            n_blocks=n_blocks,
            dropout=dropout,
            coarse_channels=coarse_channels,
            n_upsample=n_upsample,
            sobel_weight=sobel_weight,
        )
        self.target_shapes = {"latent": latent_shape}
        self.sobel_weight = sobel_weight
        self.coarse_shape = (coarse_channels, height // factor, width // factor)
        groups = math.gcd(32, coarse_channels)
        with torch_seed(seed):
            self.linear = LowRankLinear(n_voxels, math.prod(latent_shape), rank)
            self.trunk = ResidualMLP(n_voxels, hidden, n_blocks, dropout)
            self.to_coarse = nn.Linear(hidden, math.prod(self.coarse_shape))
            self.upsample = nn.Sequential(
                *[
                    layer
                    for _ in range(n_upsample)
                    for layer in (
                        nn.Upsample(scale_factor=2, mode="nearest"),
                        nn.Conv2d(coarse_channels, coarse_channels, 3, padding=1),
                        nn.GroupNorm(groups, coarse_channels),
                        nn.SiLU(),
                    )
                ]
            )
            self.head = zero_init(nn.Conv2d(coarse_channels, channels, 3, padding=1))

    @classmethod
    def from_ridge(
        cls,
        fit: LowRankRidgeFit,
        latent_shape: Sequence[int],
        *,
        device: str | torch.device = "cpu",
        **kwargs,
    ) -> StructuralGenerator:
        """A generator whose initial output is ``fit.predict`` reshaped to ``latent_shape``.

        ``fit`` maps voxels to the flattened latent (C*h*w targets, C-order);
        ``kwargs`` go to the constructor; the model is returned on ``device``.
        """
        model = cls(fit.n_features, latent_shape, **kwargs).to(device)
        model.copy_input_scaling(fit)
        model.linear.copy_ridge(fit)
        logger.info("%s: %d parameters, config %s", cls.__name__, model.n_parameters, model.config)
        return model

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        xs = self.standardise(x)
        ridge = self.linear(xs).view(-1, *self.target_shapes["latent"])
        coarse = self.to_coarse(self.trunk(xs)).view(-1, *self.coarse_shape)
        return {"latent": ridge + self.head(self.upsample(coarse))}

    def loss(self, pred: dict, target: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        mse = F.mse_loss(pred["latent"], target["latent"])
        edges = F.mse_loss(sobel_edges(pred["latent"]), sobel_edges(target["latent"]))
        return mse + self.sobel_weight * edges, {"mse": mse, "sobel": edges}
