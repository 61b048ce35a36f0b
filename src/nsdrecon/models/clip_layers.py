"""CLIP vision layer features: what MindDiffuser decodes from the brain and matches by backpropagation.

MindDiffuser describes an image by CLIP ViT-B/32 features at six depths (the
top 25 % most decodable dimensions of each) and its projected image embedding.
The same differentiable function computes the decoding targets from the
stimuli and the features of generated images in stage 2.

Two choices define the features (golden values from MindDiffuser's own code:
``tests/test_authors_protocols.py``):

* ``output`` (:data:`CLIP_OUTPUTS`): ``hidden_state`` reads the residual stream
  after block *k* (``output_hidden_states``); ``mlp`` reads block *k*'s MLP
  branch before it is added to the stream. MindDiffuser's ``Linear-2 …
  Linear-12`` (forward hooks numbered in call order by
  ``packages/feature_extraction_detach.py``) are the second ``Linear`` of the
  MLPs of blocks 1-6 (``mlp.c_proj`` in OpenAI's CLIP, ``mlp.fc2`` here).
* ``preprocess`` (:data:`CLIP_INPUTS`): ``clip`` resizes with antialiased
  bicubic and normalises with CLIP's mean and std; ``minddiffuser`` resizes
  without antialiasing (bilinear for the stimuli as
  ``Structural_feature_extraction.py`` under torchvision 0.12, bicubic for the
  generated images as ``Reconstruction.py``'s ``CLIP_of_generated``) and
  normalises with ImageNet's mean and std.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import CLIPVisionModelWithProjection

from nsdrecon.feature_files import layer_name
from nsdrecon.images import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD

__all__ = ["CLIP_INPUTS", "CLIP_OUTPUTS", "EMBEDDING", "ClipInput", "ClipLayerFeatures"]

EMBEDDING = "embedding"
"""Name of the projected image embedding among the features."""

CLIP_OUTPUTS = ("hidden_state", "mlp")
"""Which activation of block *k* a layer feature is: the residual stream after it, or its MLP branch."""


@dataclass(frozen=True)
class ClipInput:
    """How pixels in [0, 1] become CLIP's input: resampling of stimuli and of generated images, and normalisation."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    stimulus_resize: str
    generated_resize: str
    antialias: bool


CLIP_INPUTS = {
    "clip": ClipInput(CLIP_MEAN, CLIP_STD, "bicubic", "bicubic", antialias=True),
    "minddiffuser": ClipInput(IMAGENET_MEAN, IMAGENET_STD, "bilinear", "bicubic", antialias=False),
}
"""The input protocols: CLIP's own, or MindDiffuser's (see the module docstring)."""


class ClipLayerFeatures(torch.nn.Module):
    """Flattened features of chosen blocks plus the projected embedding of a CLIP vision model.

    Parameters
    ----------
    vision : CLIPVisionModelWithProjection
    layers : sequence of int
        Blocks to read, 1-based (MindDiffuser: the MLP outputs of blocks 1-6 of
        ViT-B/32's 12; ``hidden_state`` k is ``output_hidden_states[k]``).
    selection : mapping of feature name to index array, optional
        Dimensions kept of each flattened feature (MindDiffuser keeps the 25 %
        most decodable); a feature without an entry is kept whole.
    output : {"hidden_state", "mlp"}, default="hidden_state"
    preprocess : {"clip", "minddiffuser"}, default="clip"
    """

    def __init__(
        self,
        vision: CLIPVisionModelWithProjection,
        layers: Sequence[int],
        selection: Mapping[str, np.ndarray] | None = None,
        *,
        output: str = "hidden_state",
        preprocess: str = "clip",
    ) -> None:
        super().__init__()
        n_layers = vision.config.num_hidden_layers
        bad = [layer for layer in layers if not 1 <= layer <= n_layers]
        if bad:
            raise ValueError(f"CLIP layers {bad} out of range: the model has layers 1..{n_layers}")
        if output not in CLIP_OUTPUTS:
            raise ValueError(f"output must be one of {list(CLIP_OUTPUTS)}, got {output!r}")
        if preprocess not in CLIP_INPUTS:
            raise ValueError(f"preprocess must be one of {list(CLIP_INPUTS)}, got {preprocess!r}")
        self.vision = vision
        self.layers = tuple(layers)
        self.output = output
        self.preprocess = preprocess
        self.input = CLIP_INPUTS[preprocess]
        self.selection = {name: torch.as_tensor(np.asarray(idx), dtype=torch.long) for name, idx in (selection or {}).items()}
        self.register_buffer("mean", torch.tensor(self.input.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(self.input.std).view(1, 3, 1, 1), persistent=False)
        self.to(vision.device)

    @property
    def names(self) -> list[str]:
        """Feature names in order: the layers, then the embedding."""
        return [layer_name(layer) for layer in self.layers] + [EMBEDDING]

    @property
    def sizes(self) -> dict[str, int]:
        """Each feature's full flattened size, before ``selection`` (tokens x width for a layer)."""
        config = self.vision.config
        tokens = (config.image_size // config.patch_size) ** 2 + 1
        return {**{layer_name(layer): tokens * config.hidden_size for layer in self.layers}, EMBEDDING: config.projection_dim}

    def forward(self, pixels: torch.Tensor, *, resize: str | None = None) -> dict[str, torch.Tensor]:
        """Pixels (batch, 3, H, W) in [0, 1] -> float32 features (batch, dims) by name (differentiable).

        ``resize`` is the interpolation mode (default: the protocol's for generated images).
        """
        side = self.vision.config.image_size
        mode = resize or self.input.generated_resize
        x = F.interpolate(pixels.float(), size=(side, side), mode=mode, antialias=self.input.antialias, align_corners=False)
        x = ((x - self.mean) / self.std).to(self.vision.dtype)
        if self.output == "mlp":
            blocks = self.vision.vision_model.encoder.layers
            branch: dict[int, torch.Tensor] = {}
            hooks = [
                blocks[layer - 1].mlp.register_forward_hook(lambda module, args, out, layer=layer: branch.__setitem__(layer, out))
                for layer in self.layers
            ]
            try:
                out = self.vision(pixel_values=x)
            finally:
                for hook in hooks:
                    hook.remove()
            features = {layer_name(layer): branch[layer].flatten(1) for layer in self.layers}
        else:
            out = self.vision(pixel_values=x, output_hidden_states=True)
            features = {layer_name(layer): out.hidden_states[layer].flatten(1) for layer in self.layers}
        features[EMBEDDING] = out.image_embeds
        return {name: self._select(name, value.float()) for name, value in features.items()}

    @torch.no_grad()
    def batch_features(self, images_uint8: np.ndarray) -> dict[str, np.ndarray]:
        """Features of one batch of uint8 stimuli (n, H, W, 3) as float32 arrays by name."""
        batch = torch.from_numpy(np.ascontiguousarray(images_uint8))
        pixels = batch.to(self.mean.device).permute(0, 3, 1, 2).float() / 255.0
        return {name: value.cpu().numpy() for name, value in self(pixels, resize=self.input.stimulus_resize).items()}

    def extract(self, images_uint8: np.ndarray, batch_size: int = 32) -> dict[str, np.ndarray]:
        """Features of uint8 stimuli (n, H, W, 3), batched, as float32 arrays by name."""
        parts: dict[str, list[np.ndarray]] = {name: [] for name in self.names}
        for start in tqdm(range(0, len(images_uint8), batch_size), desc="CLIP layer features", disable=None):
            for name, value in self.batch_features(images_uint8[start : start + batch_size]).items():
                parts[name].append(value)
        return {name: np.concatenate(chunks) for name, chunks in parts.items()}

    def _select(self, name: str, value: torch.Tensor) -> torch.Tensor:
        index = self.selection.get(name)
        return value if index is None else value[:, index.to(value.device)]
