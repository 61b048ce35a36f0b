"""Pretrained or seeded-random model components (Versatile Diffusion)."""

from nsdrecon.models.versatile_diffusion import (
    COMPONENTS,
    ModelWeightsNotFound,
    VersatileDiffusion,
    load_versatile_diffusion,
    resolve_device,
    torch_dtype,
)

__all__ = [
    "COMPONENTS",
    "ModelWeightsNotFound",
    "VersatileDiffusion",
    "load_versatile_diffusion",
    "resolve_device",
    "torch_dtype",
]
