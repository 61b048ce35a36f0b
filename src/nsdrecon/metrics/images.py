"""Validation of image arrays, shared by the metrics and the figures (no deep-learning imports)."""

from __future__ import annotations

import numpy as np

__all__ = ["check_images"]


def check_images(name: str, images: np.ndarray) -> np.ndarray:
    """Return ``images`` if it is a uint8 array of shape (N, H, W, 3), else raise ``ValueError``."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"{name}: expected a uint8 array of shape (N, H, W, 3), found dtype {images.dtype} shape {images.shape}"
        )
    return images
