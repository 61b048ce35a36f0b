"""The weight-free ``pixel_ridge`` baseline: voxels -> PCA coefficients of the stimuli -> pixels.

Training images are resized to ``size`` x ``size`` (bilinear, antialiased),
flattened and reduced to their first ``n_components`` principal components;
a ridge regression (:func:`nsdrecon.ridge.fit_ridge`) maps voxels to the PCA
coefficients, and a prediction is decoded back through the PCA basis and
clipped to uint8.  It needs no pretrained model, so it gives meaningful
reconstructions in both the embedded and the real world.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from .atomic import atomic_path
from .images import check_images
from .ridge import RidgeFit, fit_ridge
from .seeding import torch_seed

logger = logging.getLogger(__name__)

__all__ = ["PixelRidge", "resize_images"]

_RIDGE_PREFIX = "ridge."


def resize_images(images: np.ndarray, size: int, batch_size: int = 256) -> np.ndarray:
    """uint8 images (N, H, W, 3) -> float32 (N, size, size, 3) in [0, 1], bilinear with antialiasing."""
    images = check_images("images", images)
    out = np.empty((len(images), size, size, 3), dtype=np.float32)
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))
        batch = batch.permute(0, 3, 1, 2).float().div_(255.0)
        if batch.shape[-2:] != (size, size):
            batch = F.interpolate(batch, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        out[start : start + batch_size] = batch.clamp_(0.0, 1.0).permute(0, 2, 3, 1).numpy()
    return out


class PixelRidge:
    """Ridge from voxels onto a PCA basis of the training stimuli, decoded to pixels.

    Parameters
    ----------
    n_components : int, default=64
        Principal components of the resized training images.
    size : int, default=64
        Side of the (square) images the PCA and the predictions live on.
    alphas : sequence of float
        Ridge alpha grid (one alpha for all components unless ``alpha_per="target"``).
    cv, alpha_per, restandardize_predictions : passed to :func:`nsdrecon.ridge.fit_ridge`.
    device : str, default="cpu"
        Where the PCA and the ridge run.
    seed : int, default=0
        Seeds the randomised PCA and the ridge folds.
    """

    def __init__(
        self,
        n_components: int = 64,
        size: int = 64,
        alphas: Sequence[float] = (1e1, 1e2, 1e3, 1e4, 1e5),
        *,
        cv: int | str = 5,
        alpha_per: str = "group",
        restandardize_predictions: bool = False,
        device: str = "cpu",
        seed: int = 0,
    ):
        self.config = {
            "n_components": int(n_components),
            "size": int(size),
            "alphas": [float(a) for a in alphas],
            "cv": cv,
            "alpha_per": alpha_per,
            "restandardize_predictions": bool(restandardize_predictions),
            "seed": int(seed),
        }
        self.device = device
        self.mean: np.ndarray | None = None  # (size * size * 3,)
        self.components: np.ndarray | None = None  # (n_components, size * size * 3)
        self.ridge: RidgeFit | None = None

    def _check_fitted(self, part: str = "ridge") -> None:
        if getattr(self, part) is None:
            raise ValueError(f"PixelRidge is not fitted (no {part}): call fit() or PixelRidge.load(path) first")

    def fit(self, X: np.ndarray, images: np.ndarray) -> PixelRidge:
        """Fit the PCA on ``images`` (uint8, (N, H, W, 3)) and the ridge from ``X`` (N, n_voxels)."""
        if len(X) != len(images):
            raise ValueError(f"X has {len(X)} samples but images has {len(images)}")
        size, k = self.config["size"], self.config["n_components"]
        pixels = torch.as_tensor(resize_images(images, size).reshape(len(images), -1), device=self.device)
        if k > min(pixels.shape):
            raise ValueError(f"n_components={k} exceeds min(n_images, n_pixels) = {min(pixels.shape)}")
        mean = pixels.mean(0)
        with torch_seed(self.config["seed"]):
            _, singular, basis = torch.pca_lowrank(pixels - mean, q=min(k + 10, *pixels.shape), center=False, niter=6)
        self.mean = mean.cpu().numpy()
        self.components = basis[:, :k].T.contiguous().cpu().numpy()
        explained = float((singular[:k] ** 2).sum() / ((pixels - mean) ** 2).sum())
        logger.info(
            "pixel_ridge PCA: %d components of %dx%d images explain %.3f of the variance", k, size, size, explained
        )
        self.ridge = fit_ridge(
            X,
            self.encode(images),
            self.config["alphas"],
            cv=self.config["cv"],
            alpha_per=self.config["alpha_per"],
            restandardize_predictions=self.config["restandardize_predictions"],
            device=self.device,
            seed=self.config["seed"],
        )
        return self

    def encode(self, images: np.ndarray) -> np.ndarray:
        """PCA coefficients (N, n_components) of uint8 images (N, H, W, 3)."""
        self._check_fitted("components")
        pixels = resize_images(images, self.config["size"]).reshape(len(images), -1)
        return (pixels - self.mean) @ self.components.T

    def decode(self, coefficients: np.ndarray) -> np.ndarray:
        """uint8 images (N, size, size, 3) from PCA coefficients (N, n_components), clipped to [0, 255]."""
        self._check_fitted("components")
        size = self.config["size"]
        pixels = np.asarray(coefficients, dtype=np.float32) @ self.components + self.mean
        return np.round(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8).reshape(len(pixels), size, size, 3)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Reconstructions, uint8 of shape (N, size, size, 3), from voxels (N, n_voxels)."""
        self._check_fitted()
        return self.decode(self.ridge.predict(X))

    def save(self, path: str | Path) -> None:
        """Write the fitted baseline to a safetensors file (atomically)."""
        self._check_fitted()
        ridge_arrays, ridge_meta = self.ridge.state()
        arrays = {"pca_mean": self.mean, "pca_components": self.components}
        arrays |= {_RIDGE_PREFIX + name: value for name, value in ridge_arrays.items()}
        metadata = {"class": type(self).__name__, "config": json.dumps(self.config)}
        metadata |= {_RIDGE_PREFIX + key: value for key, value in ridge_meta.items()}
        with atomic_path(path) as tmp:
            save_file(arrays, str(tmp), metadata=metadata)

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> PixelRidge:
        """Read a baseline written by :meth:`save` (no pickle involved)."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such pixel_ridge file")
        with safe_open(str(path), framework="numpy") as f:
            metadata = f.metadata() or {}
        if metadata.get("class") != cls.__name__:
            raise ValueError(f"{path}: not a {cls.__name__} file (class {metadata.get('class')!r})")
        arrays = load_file(str(path))
        model = cls(**json.loads(metadata["config"]), device=device)
        model.mean, model.components = arrays["pca_mean"], arrays["pca_components"]
        strip = len(_RIDGE_PREFIX)
        model.ridge = RidgeFit.from_state(
            {k[strip:]: v for k, v in arrays.items() if k.startswith(_RIDGE_PREFIX)},
            {k[strip:]: v for k, v in metadata.items() if k.startswith(_RIDGE_PREFIX)},
            source=str(path),
        )
        return model
