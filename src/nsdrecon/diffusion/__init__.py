"""Diffusion-based reconstruction from predicted embeddings: HAVIR (Versatile Diffusion) and MindDiffuser (Stable Diffusion)."""

from nsdrecon.diffusion.dual_guided import (
    UNCOND_IMAGES,
    DualGuidedReconstructor,
    build_dual_guided_unet,
    set_mix_ratio,
)
from nsdrecon.diffusion.minddiffuser import MindDiffuserReconstructor, complete_text_conditioning

__all__ = [
    "UNCOND_IMAGES",
    "DualGuidedReconstructor",
    "MindDiffuserReconstructor",
    "build_dual_guided_unet",
    "complete_text_conditioning",
    "set_mix_ratio",
]
