"""Pretrained or seeded-random model components: Versatile Diffusion (HAVIR), Stable Diffusion and CLIP ViT-B/32 (MindDiffuser)."""

from nsdrecon.devices import resolve_device
from nsdrecon.models.clip_layers import EMBEDDING, ClipLayerFeatures
from nsdrecon.models.loading import ModelWeightsNotFound, torch_dtype
from nsdrecon.models.stable_diffusion import StableDiffusion, load_clip_vision, load_stable_diffusion
from nsdrecon.models.versatile_diffusion import COMPONENTS, VersatileDiffusion, load_versatile_diffusion

__all__ = [
    "COMPONENTS",
    "EMBEDDING",
    "ClipLayerFeatures",
    "ModelWeightsNotFound",
    "StableDiffusion",
    "VersatileDiffusion",
    "load_clip_vision",
    "load_stable_diffusion",
    "load_versatile_diffusion",
    "resolve_device",
    "torch_dtype",
]
