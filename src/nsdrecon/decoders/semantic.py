"""HAVIR's Semantic Extractor: semantic voxels -> CLIP image tokens and CLIP text tokens.

Each output is ``ridge(x) + refine(x)``: a ridge-initialised (optionally
low-rank) linear map plus a zero-initialised linear head on a shared residual
MLP trunk, so the initial output equals the ridge predictions.  Loss per
modality: MSE + ``contrastive_weight`` x symmetric InfoNCE between predicted
and true pooled embeddings (token 0, the class token, for images; the token
mean for text) over the batch, with a learnable or fixed temperature.
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
from .layers import LowRankLinear, ResidualMLP, RidgeDecoder, check_same_inputs, zero_init

logger = logging.getLogger(__name__)

__all__ = ["SemanticExtractor", "info_nce", "pooled_embedding"]

MODALITIES = ("image", "text")
MIN_TEMPERATURE = 0.01  # CLIP's bound on its learnable logit scale (100)


def pooled_embedding(tokens: torch.Tensor, modality: str) -> torch.Tensor:
    """(batch, n_tokens, d) -> (batch, d): class token for ``"image"``, token mean for ``"text"``."""
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    return tokens[:, 0] if modality == "image" else tokens.mean(1)


def info_nce(pred: torch.Tensor, true: torch.Tensor, temperature: torch.Tensor | float) -> torch.Tensor:
    """Symmetric InfoNCE between matching rows of ``pred`` and ``true`` (batch, d), cosine logits / temperature."""
    logits = F.normalize(pred, dim=-1) @ F.normalize(true, dim=-1).T / temperature
    labels = torch.arange(len(logits), device=logits.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


class SemanticExtractor(RidgeDecoder):
    """Semantic voxels (batch, n_voxels) -> ``{"image": (batch, n_img, d), "text": (batch, n_txt, d)}``.

    Parameters
    ----------
    n_voxels : int
    image_shape, text_shape : sequence of 2 int
        (tokens, width) of the CLIP image and text embeddings, e.g. (257, 768), (77, 768).
    rank : int, optional
        Rank of each linear path; None = full rank.
    hidden, n_blocks, dropout : refinement trunk width, residual blocks, dropout rate.
    contrastive_weight : float, default=0.1
    temperature : float, default=0.07
        Initial (or fixed) InfoNCE temperature; a learnt one is bounded below by 0.01.
    learn_temperature : bool, default=True
    seed : int, default=0
    """

    def __init__(
        self,
        n_voxels: int,
        image_shape: Sequence[int],
        text_shape: Sequence[int],
        *,
        rank: int | None = None,
        hidden: int = 256,
        n_blocks: int = 2,
        dropout: float = 0.1,
        contrastive_weight: float = 0.1,
        temperature: float = 0.07,
        learn_temperature: bool = True,
        seed: int = 0,
    ):
        shapes = {"image": tuple(int(s) for s in image_shape), "text": tuple(int(s) for s in text_shape)}
        for name, shape in shapes.items():
            if len(shape) != 2:
                raise ValueError(f"{name}_shape must be (n_tokens, width), got {shape}")
        super().__init__(
            n_voxels,
            seed,
            image_shape=list(shapes["image"]),
            text_shape=list(shapes["text"]),
            rank=rank,
            hidden=hidden,
            n_blocks=n_blocks,
            dropout=dropout,
            contrastive_weight=contrastive_weight,
            temperature=temperature,
            learn_temperature=learn_temperature,
        )
        self.target_shapes = shapes
        self.contrastive_weight = contrastive_weight
        log_t = torch.tensor(math.log(temperature))
        if learn_temperature:
            self.log_temperature = nn.Parameter(log_t)
        else:
            self.register_buffer("log_temperature", log_t)
        with torch_seed(seed):
            self.linear = nn.ModuleDict({m: LowRankLinear(n_voxels, math.prod(shapes[m]), rank) for m in MODALITIES})
            self.trunk = ResidualMLP(n_voxels, hidden, n_blocks, dropout)
            self.heads = nn.ModuleDict({m: zero_init(nn.Linear(hidden, math.prod(shapes[m]))) for m in MODALITIES})

    @classmethod
    def from_ridge(
        cls,
        image_fit: LowRankRidgeFit,
        text_fit: LowRankRidgeFit,
        image_shape: Sequence[int],
        text_shape: Sequence[int],
        *,
        device: str | torch.device = "cpu",
        **kwargs,
    ) -> SemanticExtractor:
        """An extractor whose initial outputs are the two fits' predictions, reshaped.

        Both fits map the same voxels (same standardisation) to the flattened
        tokens (n_tokens*width targets, C-order); the model is returned on ``device``.
        """
        fits = {"image": image_fit, "text": text_fit}
        first = check_same_inputs(fits)
        model = cls(first.n_features, image_shape, text_shape, **kwargs).to(device)
        model.copy_input_scaling(first)
        for modality, fit in fits.items():
            model.linear[modality].copy_ridge(fit)
        logger.info("%s: %d parameters, config %s", cls.__name__, model.n_parameters, model.config)
        return model

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        xs = self.standardise(x)
        h = self.trunk(xs)
        return {m: (self.linear[m](xs) + self.heads[m](h)).view(-1, *self.target_shapes[m]) for m in MODALITIES}

    def loss(self, pred: dict, target: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        parts: dict[str, torch.Tensor] = {}
        total = 0.0
        temperature = self.log_temperature.exp().clamp(min=MIN_TEMPERATURE)
        for m in MODALITIES:
            parts[f"mse_{m}"] = F.mse_loss(pred[m], target[m])
            parts[f"nce_{m}"] = info_nce(pooled_embedding(pred[m], m), pooled_embedding(target[m], m), temperature)
            total = total + parts[f"mse_{m}"] + self.contrastive_weight * parts[f"nce_{m}"]
        parts["mse"] = (parts["mse_image"] + parts["mse_text"]) / 2
        return total, parts
