"""Diffusion-based reconstruction from predicted embeddings."""

from nsdrecon.diffusion.dual_guided import (
    UNCOND_IMAGES,
    DualGuidedReconstructor,
    build_dual_guided_unet,
    set_mix_ratio,
)

__all__ = ["UNCOND_IMAGES", "DualGuidedReconstructor", "build_dual_guided_unet", "set_mix_ratio"]
