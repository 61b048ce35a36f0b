"""CLIP vision layer features: what MindDiffuser decodes from the brain and matches by backpropagation.

MindDiffuser describes an image by CLIP ViT-B/32's hidden states at layers 2,
4, ..., 12 (the top 25 % most decodable dimensions of each) and its projected
image embedding. The same differentiable function computes the decoding
targets from the stimuli and the features of generated images in stage 2, so
both sides see identical preprocessing: bicubic resize to CLIP's input size
(antialiased) and CLIP's mean/std normalisation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import CLIPVisionModelWithProjection

from nsdrecon.feature_files import layer_name
from nsdrecon.images import CLIP_MEAN, CLIP_STD

__all__ = ["EMBEDDING", "ClipLayerFeatures"]

EMBEDDING = "embedding"
"""Name of the projected image embedding among the features."""


class ClipLayerFeatures(torch.nn.Module):
    """Flattened hidden states of chosen layers plus the projected embedding of a CLIP vision model.

    Parameters
    ----------
    vision : CLIPVisionModelWithProjection
    layers : sequence of int
        Hidden layers to read, 1-based as in ``output_hidden_states``
        (MindDiffuser: 2, 4, ..., 12 of ViT-B/32's 12).
    selection : mapping of feature name to index array, optional
        Dimensions kept of each flattened feature (MindDiffuser keeps the 25 %
        most decodable); a feature without an entry is kept whole.
    """

    def __init__(
        self,
        vision: CLIPVisionModelWithProjection,
        layers: Sequence[int],
        selection: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        super().__init__()
        n_layers = vision.config.num_hidden_layers
        bad = [layer for layer in layers if not 1 <= layer <= n_layers]
        if bad:
            raise ValueError(f"CLIP layers {bad} out of range: the model has layers 1..{n_layers}")
        self.vision = vision
        self.layers = tuple(layers)
        self.selection = {name: torch.as_tensor(np.asarray(idx), dtype=torch.long) for name, idx in (selection or {}).items()}
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)
        self.to(vision.device)

    @property
    def names(self) -> list[str]:
        """Feature names in order: the layers, then the embedding."""
        return [layer_name(layer) for layer in self.layers] + [EMBEDDING]

    def forward(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Pixels (batch, 3, H, W) in [0, 1] -> float32 features (batch, dims) by name (differentiable)."""
        side = self.vision.config.image_size
        x = F.interpolate(pixels.float(), size=(side, side), mode="bicubic", antialias=True, align_corners=False)
        x = ((x - self.mean) / self.std).to(self.vision.dtype)
        out = self.vision(pixel_values=x, output_hidden_states=True)
        features = {layer_name(layer): out.hidden_states[layer].flatten(1) for layer in self.layers}
        features[EMBEDDING] = out.image_embeds
        return {name: self._select(name, value.float()) for name, value in features.items()}

    @torch.no_grad()
    def batch_features(self, images_uint8: np.ndarray) -> dict[str, np.ndarray]:
        """Features of one batch of uint8 images (n, H, W, 3) as float32 arrays by name."""
        batch = torch.from_numpy(np.ascontiguousarray(images_uint8))
        pixels = batch.to(self.mean.device).permute(0, 3, 1, 2).float() / 255.0
        return {name: value.cpu().numpy() for name, value in self(pixels).items()}

    def extract(self, images_uint8: np.ndarray, batch_size: int = 32) -> dict[str, np.ndarray]:
        """Features of uint8 images (n, H, W, 3), batched, as float32 arrays by name."""
        parts: dict[str, list[np.ndarray]] = {name: [] for name in self.names}
        for start in tqdm(range(0, len(images_uint8), batch_size), desc="CLIP layer features", disable=None):
            for name, value in self.batch_features(images_uint8[start : start + batch_size]).items():
                parts[name].append(value)
        return {name: np.concatenate(chunks) for name, chunks in parts.items()}

    def _select(self, name: str, value: torch.Tensor) -> torch.Tensor:
        index = self.selection.get(name)
        return value if index is None else value[:, index.to(value.device)]
