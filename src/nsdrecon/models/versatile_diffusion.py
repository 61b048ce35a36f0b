"""Load the components of Versatile Diffusion (VD) from a Hugging Face id or a local folder.

One loader serves both worlds of the pipeline:

* ``random_init=False``: pretrained weights, e.g. ``shi-labs/versatile-diffusion``
  or a local copy of it (``huggingface-cli download``). Nothing is downloaded
  at import; a missing weight raises :class:`ModelWeightsNotFound` once, naming
  the id or path tried and how to fetch it.
* ``random_init=True``: the same classes built from the folder's configs with
  seeded random weights (``resources/models/tiny-versatile-diffusion`` is a
  small model with VD's layout and classes).

The folder layout is VD's on the Hub: ``image_unet`` (``UNet2DConditionModel``),
``text_unet`` (``UNetFlatConditionModel``; only its transformers are used, in
the dual-guided UNet), ``vae`` (``AutoencoderKL``), ``image_encoder``
(``CLIPVisionModelWithProjection``), ``text_encoder``
(``CLIPTextModelWithProjection``), ``tokenizer`` (``CLIPTokenizer``),
``scheduler`` (read as ``DDIMScheduler``) and ``image_feature_extractor``
(``CLIPImageProcessor``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from dataclasses import dataclass, field

import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
from diffusers.pipelines.deprecated.versatile_diffusion.modeling_text_unet import UNetFlatConditionModel
from transformers import (
    CLIPImageProcessor,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
    CLIPVisionModelWithProjection,
)

from nsdrecon.models.loading import Component, latent_geometry, load_components

logger = logging.getLogger(__name__)

__all__ = ["COMPONENTS", "VD_COMPONENTS", "VersatileDiffusion", "load_versatile_diffusion"]

VD_COMPONENTS = {  # this order sets the random-weight seeds: do not reorder
    "vae": Component(AutoencoderKL, "vae", "diffusers"),
    "image_unet": Component(UNet2DConditionModel, "image_unet", "diffusers"),
    "text_unet": Component(UNetFlatConditionModel, "text_unet", "diffusers"),
    "image_encoder": Component(CLIPVisionModelWithProjection, "image_encoder", "transformers"),
    "text_encoder": Component(CLIPTextModelWithProjection, "text_encoder", "transformers"),
    "tokenizer": Component(CLIPTokenizer, "tokenizer", "files"),
    "scheduler": Component(DDIMScheduler, "scheduler", "files"),
    "image_processor": Component(CLIPImageProcessor, "image_feature_extractor", "files"),
}
COMPONENTS = tuple(VD_COMPONENTS)
"""Every component name :func:`load_versatile_diffusion` can load."""


@dataclass
class VersatileDiffusion:
    """The loaded components of Versatile Diffusion; a component not asked for is ``None``.

    Attributes
    ----------
    image_size : int
        Side of the square images the model generates, in pixels (512 for VD,
        64 for the tiny model): the image UNet's ``sample_size`` times the
        VAE's downsampling factor.
    source : str
        Hugging Face id or local folder the components came from.
    random_init : bool
        True when the weights are seeded random, not pretrained.
    seed : int or None
        Seed of the random weights (``None`` for pretrained weights).
    """

    vae: AutoencoderKL | None = field(repr=False)
    image_unet: UNet2DConditionModel | None = field(repr=False)
    text_unet: UNetFlatConditionModel | None = field(repr=False)
    image_encoder: CLIPVisionModelWithProjection | None = field(repr=False)
    text_encoder: CLIPTextModelWithProjection | None = field(repr=False)
    tokenizer: CLIPTokenizer | None = field(repr=False)
    scheduler: DDIMScheduler | None = field(repr=False)
    image_processor: CLIPImageProcessor | None = field(repr=False)
    image_size: int
    source: str
    random_init: bool = False
    seed: int | None = None

    @property
    def vae_scale_factor(self) -> int:
        """Downsampling factor from pixels to latents (8 for VD's KL-f8 autoencoder)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """Shape ``(channels, height, width)`` of one image's latent (4, 64, 64 for VD)."""
        side = self.image_size // self.vae_scale_factor
        return (self.vae.config.latent_channels, side, side)

    @property
    def image_tokens(self) -> tuple[int, int]:
        """Shape ``(n_tokens, dim)`` of the CLIP image context (257, 768 for VD)."""
        config = self.image_encoder.config
        return ((config.image_size // config.patch_size) ** 2 + 1, config.projection_dim)

    @property
    def text_tokens(self) -> tuple[int, int]:
        """Shape ``(n_tokens, dim)`` of the CLIP text context (77, 768 for VD)."""
        return (self.tokenizer.model_max_length, self.text_encoder.config.projection_dim)

    @property
    def device(self) -> torch.device:
        """Device of the loaded networks."""
        return next(module.device for module in self._networks())

    @property
    def dtype(self) -> torch.dtype:
        """Floating point type of the loaded networks."""
        return next(module.dtype for module in self._networks())

    def _networks(self) -> list[torch.nn.Module]:
        networks = [getattr(self, name) for name, spec in VD_COMPONENTS.items() if spec.is_network]
        return [module for module in networks if module is not None]


def load_versatile_diffusion(
    source: str | os.PathLike,
    *,
    random_init: bool = False,
    seed: int = 0,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    components: Collection[str] | None = None,
) -> VersatileDiffusion:
    """Load Versatile Diffusion's components from a Hugging Face id or a local folder.

    Parameters
    ----------
    source : str or path
        Hugging Face id (``shi-labs/versatile-diffusion``) or a local folder with
        the same subfolders.
    random_init : bool, default=False
        Build the networks from the configs with random weights instead of
        loading pretrained ones; the tokenizer, scheduler and image processor
        are read from the folder either way.
    seed : int, default=0
        Seed of the random weights; the same seed gives the same weights on
        every run, whichever components are loaded.
    device : str or torch.device, default="cpu"
        Where the networks go (``"auto"`` is accepted, see :func:`resolve_device`).
    dtype : torch.dtype, default=torch.float32
        Floating point type of the networks (float16/bfloat16 on GPU).
    components : collection of str, optional
        Which of :data:`COMPONENTS` to load (default: all). Stimulus features,
        for example, need neither UNet.

    Returns
    -------
    VersatileDiffusion
        The components, networks in eval mode with SDPA attention.

    Raises
    ------
    ModelWeightsNotFound
        When the folder or id cannot be read, or pretrained weights are missing.
    """
    loaded, source = load_components(
        source,
        VD_COMPONENTS,
        model_name="Versatile Diffusion",
        fetch_id="shi-labs/versatile-diffusion",
        config_key="models.diffusion.id",
        random_init=random_init,
        seed=seed,
        device=device,
        dtype=dtype,
        components=components,
    )
    _, image_size = latent_geometry(source, VD_COMPONENTS["image_unet"], VD_COMPONENTS["vae"])
    return VersatileDiffusion(
        **loaded,
        image_size=image_size,
        source=source,
        random_init=random_init,
        seed=seed if random_init else None,
    )
