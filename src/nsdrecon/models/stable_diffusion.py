"""Stable Diffusion v1-4 and CLIP ViT-B/32, the models of MindDiffuser.

The folder layout is the Hub's (``CompVis/stable-diffusion-v1-4``): ``unet``
(``UNet2DConditionModel``), ``vae`` (``AutoencoderKL``), ``text_encoder``
(``CLIPTextModel``; its last hidden state is SD's text conditioning),
``tokenizer`` and ``scheduler`` (read as ``DDIMScheduler``, as MindDiffuser
samples with DDIM). CLIP ViT-B/32 (``openai/clip-vit-base-patch32``) is a
separate model whose layer features MindDiffuser decodes and matches.
``resources/models/tiny-stable-diffusion`` and ``tiny-clip-vit-base-patch32``
hold small configs of the same classes for the embedded default and tests.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass, field

import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer, CLIPVisionModelWithProjection

from nsdrecon.models.loading import Component, latent_geometry, load_components

__all__ = ["SD_COMPONENTS", "StableDiffusion", "load_clip_vision", "load_stable_diffusion"]

SD_COMPONENTS = {
    "vae": Component(AutoencoderKL, "vae", "diffusers"),
    "unet": Component(UNet2DConditionModel, "unet", "diffusers"),
    "text_encoder": Component(CLIPTextModel, "text_encoder", "transformers"),
    "tokenizer": Component(CLIPTokenizer, "tokenizer", "files"),
    "scheduler": Component(DDIMScheduler, "scheduler", "files"),
}
CLIP_VISION = {"vision": Component(CLIPVisionModelWithProjection, "", "transformers")}


@dataclass
class StableDiffusion:
    """The loaded components of Stable Diffusion; a component not asked for is ``None``."""

    vae: AutoencoderKL | None = field(repr=False)
    unet: UNet2DConditionModel | None = field(repr=False)
    text_encoder: CLIPTextModel | None = field(repr=False)
    tokenizer: CLIPTokenizer | None = field(repr=False)
    scheduler: DDIMScheduler | None = field(repr=False)
    image_size: int
    latent_shape: tuple[int, int, int]
    source: str
    random_init: bool = False
    seed: int | None = None

    @property
    def vae_scale_factor(self) -> int:
        """Downsampling factor from pixels to latents (8 for SD's KL-f8 autoencoder)."""
        return self.image_size // self.latent_shape[1]

    @property
    def text_tokens(self) -> tuple[int, int]:
        """Shape ``(n_tokens, dim)`` of the text conditioning (77, 768 for SD v1-4)."""
        return (self.tokenizer.model_max_length, self.text_encoder.config.hidden_size)


def load_stable_diffusion(
    source: str | os.PathLike,
    *,
    random_init: bool = False,
    seed: int = 0,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    components: Collection[str] | None = None,
) -> StableDiffusion:
    """Load Stable Diffusion's components (see :func:`nsdrecon.models.loading.load_components`)."""
    loaded, source = load_components(
        source,
        SD_COMPONENTS,
        model_name="Stable Diffusion",
        fetch_id="CompVis/stable-diffusion-v1-4",
        config_key="minddiffuser.model.id",
        random_init=random_init,
        seed=seed,
        device=device,
        dtype=dtype,
        components=components,
    )
    latent_shape, image_size = latent_geometry(source, SD_COMPONENTS["unet"], SD_COMPONENTS["vae"])
    return StableDiffusion(
        **loaded,
        image_size=image_size,
        latent_shape=latent_shape,
        source=source,
        random_init=random_init,
        seed=seed if random_init else None,
    )


def load_clip_vision(
    source: str | os.PathLike,
    *,
    random_init: bool = False,
    seed: int = 0,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> CLIPVisionModelWithProjection:
    """CLIP's vision tower with its projection (ViT-B/32 for MindDiffuser), from an id or a folder."""
    loaded, _ = load_components(
        source,
        CLIP_VISION,
        model_name="CLIP vision",
        fetch_id="openai/clip-vit-base-patch32",
        config_key="minddiffuser.clip.id",
        random_init=random_init,
        seed=seed,
        device=device,
        dtype=dtype,
    )
    return loaded["vision"]
