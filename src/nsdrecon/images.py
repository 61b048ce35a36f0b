"""Validation of image arrays, shared by the metrics, the baseline and the figures (no deep-learning imports)."""

from __future__ import annotations

import numpy as np

__all__ = ["CLIP_MEAN", "CLIP_STD", "IMAGENET_MEAN", "IMAGENET_STD", "check_images"]

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
"""OpenAI CLIP's per-channel input normalisation (images in [0, 1]), used by every CLIP model here."""
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
"""torchvision's ImageNet normalisation (the metrics' networks; MindDiffuser feeds CLIP with it too)."""


def check_images(name: str, images: np.ndarray) -> np.ndarray:
    """Return ``images`` if it is a uint8 array of shape (N, H, W, 3), else raise ``ValueError``."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"{name}: expected a uint8 array of shape (N, H, W, 3), found dtype {images.dtype} shape {images.shape}"
        )
    return images
