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
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
from diffusers.pipelines.deprecated.versatile_diffusion.modeling_text_unet import UNetFlatConditionModel
from transformers import (
    CLIPImageProcessor,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
    CLIPVisionModelWithProjection,
)

logger = logging.getLogger(__name__)

__all__ = [
    "COMPONENTS",
    "ModelWeightsNotFound",
    "VersatileDiffusion",
    "load_versatile_diffusion",
    "resolve_device",
    "torch_dtype",
]

DIFFUSERS_MODELS = {
    "vae": AutoencoderKL,
    "image_unet": UNet2DConditionModel,
    "text_unet": UNetFlatConditionModel,
}
TRANSFORMERS_MODELS = {
    "image_encoder": CLIPVisionModelWithProjection,
    "text_encoder": CLIPTextModelWithProjection,
}
COMPONENTS = (*DIFFUSERS_MODELS, *TRANSFORMERS_MODELS, "tokenizer", "scheduler", "image_processor")
"""Every component name :func:`load_versatile_diffusion` can load."""

IMAGE_PROCESSOR_SUBFOLDER = "image_feature_extractor"
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class ModelWeightsNotFound(FileNotFoundError):
    """The model files for an id or a local folder are not available on this machine."""


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
        networks = [getattr(self, name) for name in (*DIFFUSERS_MODELS, *TRANSFORMERS_MODELS)]
        return [module for module in networks if module is not None]


def resolve_device(name: str) -> torch.device:
    """Turn a config device name into a device: ``"auto"`` is CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {name!r}")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for but torch sees no CUDA device")
    return torch.device(name)


def torch_dtype(name: str) -> torch.dtype:
    """Turn a config dtype name (``float32``, ``float16``, ``bfloat16``) into a torch dtype."""
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {list(DTYPES)}, got {name!r}")
    return DTYPES[name]


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
    source = str(source)
    wanted = set(COMPONENTS if components is None else components)
    unknown = wanted - set(COMPONENTS)
    if unknown:
        raise ValueError(f"unknown Versatile Diffusion components {sorted(unknown)}; known: {list(COMPONENTS)}")
    device = resolve_device(device) if isinstance(device, str) else device
    local = Path(source).expanduser()
    if local.is_dir():
        source = str(local)
    elif _looks_like_path(source):
        raise ModelWeightsNotFound(_missing_message(source, random_init, reason=f"folder {local} does not exist"))
    hub = {"local_files_only": local.is_dir() or _hub_offline()}

    loaded: dict[str, Any] = {name: None for name in COMPONENTS}
    try:
        unet_config = UNet2DConditionModel.load_config(source, subfolder="image_unet", **hub)
        vae_config = AutoencoderKL.load_config(source, subfolder="vae", **hub)
        for index, name in enumerate(COMPONENTS):
            if name in wanted:
                loaded[name] = _load_component(name, source, random_init, seed, index, dtype, hub)
    except (OSError, ValueError) as error:
        raise ModelWeightsNotFound(_missing_message(source, random_init, reason=str(error))) from error
    for name in (*DIFFUSERS_MODELS, *TRANSFORMERS_MODELS):
        module = loaded[name]
        if module is not None:
            if module.dtype != dtype:  # random weights are built in float32
                module = module.to(dtype)
            loaded[name] = module.to(device).eval().requires_grad_(False)

    if not isinstance(unet_config.get("sample_size"), int):
        raise ValueError(
            f"{source}: image_unet/config.json needs an integer sample_size (latent side), found "
            f"{unet_config.get('sample_size')!r}"
        )
    image_size = unet_config["sample_size"] * 2 ** (len(vae_config["block_out_channels"]) - 1)
    logger.info(
        "loaded Versatile Diffusion %s from %s (%s weights, %s, %s)",
        sorted(wanted),
        source,
        f"random seed {seed}" if random_init else "pretrained",
        device,
        dtype,
    )
    return VersatileDiffusion(
        **loaded,
        image_size=image_size,
        source=source,
        random_init=random_init,
        seed=seed if random_init else None,
    )


def _load_component(
    name: str, source: str, random_init: bool, seed: int, index: int, dtype: torch.dtype, hub: dict
) -> Any:
    """Load one component; networks are random (seeded per component) or pretrained."""
    if name == "tokenizer":
        return CLIPTokenizer.from_pretrained(source, subfolder="tokenizer", **hub)
    if name == "scheduler":
        return DDIMScheduler.from_pretrained(source, subfolder="scheduler", **hub)
    if name == "image_processor":
        return CLIPImageProcessor.from_pretrained(source, subfolder=IMAGE_PROCESSOR_SUBFOLDER, **hub)
    if not random_init:
        if name in DIFFUSERS_MODELS:
            return DIFFUSERS_MODELS[name].from_pretrained(source, subfolder=name, dtype=dtype, **hub)
        return TRANSFORMERS_MODELS[name].from_pretrained(
            source, subfolder=name, dtype=dtype, attn_implementation="sdpa", **hub
        )
    component_seed = int(np.random.SeedSequence([seed, index]).generate_state(1)[0])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(component_seed)
        if name in DIFFUSERS_MODELS:
            cls = DIFFUSERS_MODELS[name]
            return cls.from_config(cls.load_config(source, subfolder=name, **hub))
        cls = TRANSFORMERS_MODELS[name]
        config = cls.config_class.from_pretrained(source, subfolder=name, **hub)
        return cls._from_config(config, attn_implementation="sdpa")


def _looks_like_path(source: str) -> bool:
    """True for strings that name a filesystem path rather than a Hub id (``owner/name``)."""
    return source.startswith((".", "/", "~")) or source.count("/") > 1 or "\\" in source


def _hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` set to a true value."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _missing_message(source: str, random_init: bool, reason: str) -> str:
    what = "model configs" if random_init else "pretrained weights"
    return (
        f"Versatile Diffusion {what} not found at {source!r}: {reason}\n"
        f"To fetch them, on a machine with internet run\n"
        f"    huggingface-cli download shi-labs/versatile-diffusion --local-dir <dir>\n"
        f"copy <dir> here and set config models.diffusion.id to it "
        f"(or keep the Hub id and unset HF_HUB_OFFLINE where the Hub is reachable)."
    )
