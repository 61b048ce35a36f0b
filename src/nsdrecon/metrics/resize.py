"""The two peers' image-resizing conventions (``nsd.md`` §6b, §6c, §6e).

``brain_diffuser``
    Pixel metrics: ground truth at its native size, the reconstruction resized
    to it with PIL bicubic. Feature networks: every image PIL-bilinear resized
    to the network's input size (224 for all of them).
``mindeye``
    Every image first resized to 256x256 (tensor bilinear). Pixel metrics: then
    bilinear to 425x425. Feature networks: then bilinear to the network's size
    (AlexNet 256, Inception 342, CLIP 224, EffNet-B 255, SwAV 224). Tensor
    resizes do not antialias, as in the peers' code: MindEye1 (torchvision
    0.15) and MindEye2 (0.16) resized tensors with ``antialias=None``, which
    those versions treat as no antialiasing (0.17 changed the default to True).
    It matters only when downsampling (512 -> 256, 256 -> 224 or 255).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as TF

from nsdrecon.images import check_images
from nsdrecon.metrics.names import check_convention

__all__ = [
    "MINDEYE_BASE_SIZE",
    "MINDEYE_PIXEL_SIZE",
    "check_images",
    "pil_resize",
    "pixel_metric_inputs",
    "network_inputs",
]

MINDEYE_BASE_SIZE = 256
MINDEYE_PIXEL_SIZE = 425


def pil_resize(images: np.ndarray, size: tuple[int, int], resample: Image.Resampling) -> np.ndarray:
    """Resize each image with PIL, as the peers did on their PNG files.

    Parameters
    ----------
    images : uint8 array of shape (N, H, W, 3)
    size : (height, width) of the output
    resample : PIL filter, e.g. ``Image.Resampling.BICUBIC``

    Returns
    -------
    uint8 array of shape (N, height, width, 3); ``images`` itself when the size already matches.
    """
    height, width = size
    if images.shape[1:3] == (height, width):
        return images
    out = np.empty((len(images), height, width, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        out[i] = np.asarray(Image.fromarray(image).resize((width, height), resample=resample))
    return out


def _tensor_resize(images: np.ndarray | torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, H, W, 3) array or float (N, 3, H, W) tensor -> float (N, 3, size, size) in [0, 1].

    Bilinear without antialiasing, as MindEye's torchvision (0.15, 0.16) resized tensors.
    """
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)
    if images.shape[-2:] == (size, size):
        return images
    return TF.resize(images, [size, size], interpolation=TF.InterpolationMode.BILINEAR, antialias=False)


def pixel_metric_inputs(gt: np.ndarray, rec: np.ndarray, convention: str) -> tuple[np.ndarray, np.ndarray]:
    """Bring ground truth and reconstructions to the common grid PixCorr and SSIM use.

    Parameters
    ----------
    gt : uint8 array of shape (N, H, W, 3)
    rec : uint8 array of shape (N, h, w, 3)
    convention : ``"brain_diffuser"`` or ``"mindeye"``

    Returns
    -------
    gt, rec : float64 arrays of shape (N, S, S', 3) in [0, 1]; (S, S') = (H, W) for
        ``brain_diffuser`` and (425, 425) for ``mindeye``.
    """
    check_convention(convention)
    gt = check_images("ground truth", gt)
    rec = check_images("reconstructions", rec)
    if len(gt) != len(rec):
        raise ValueError(f"expected as many reconstructions as ground-truth images, found {len(rec)} vs {len(gt)}")
    if convention == "brain_diffuser":
        rec = pil_resize(rec, gt.shape[1:3], Image.Resampling.BICUBIC)
        return gt / 255.0, rec / 255.0
    pair = []
    for images in (gt, rec):
        base = _tensor_resize(images, MINDEYE_BASE_SIZE)
        pair.append(_tensor_resize(base, MINDEYE_PIXEL_SIZE).permute(0, 2, 3, 1).double().numpy())
    return pair[0], pair[1]


def network_inputs(images: np.ndarray, size: int, convention: str) -> torch.Tensor:
    """Resize images to a feature network's input size, un-normalised.

    Parameters
    ----------
    images : uint8 array of shape (N, H, W, 3)
    size : the network's square input size
    convention : ``"brain_diffuser"`` (PIL bilinear) or ``"mindeye"`` (256 first, then tensor bilinear)

    Returns
    -------
    float32 tensor of shape (N, 3, size, size) in [0, 1]
    """
    check_convention(convention)
    if convention == "brain_diffuser":
        return _tensor_resize(pil_resize(images, (size, size), Image.Resampling.BILINEAR), size)
    return _tensor_resize(_tensor_resize(images, MINDEYE_BASE_SIZE), size)
