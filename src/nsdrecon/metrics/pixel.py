"""Low-level metrics: pixel correlation and SSIM (``nsd.md`` §6b-§6d).

PixCorr is the Pearson correlation of the flattened RGB images in [0, 1].
SSIM is computed on ``skimage.color.rgb2gray`` images with a Gaussian window
(sigma 1.5, 11 taps), K1 0.01, K2 0.03, population covariance and
``data_range=1``. ``variant="standard"`` is the true 2-D SSIM (what MindEye1/2
report, skimage >= 0.19); ``variant="legacy"`` reproduces Brain-Diffuser's
skimage 0.17 result, where ``multichannel=True`` on the 2-D grey image made it
the mean of 1-D SSIMs down each column (``channel_axis=-1``).
"""

from __future__ import annotations

import numpy as np
from skimage.color import rgb2gray
from skimage.metrics import structural_similarity
from tqdm.auto import tqdm

from nsdrecon.metrics.names import SSIM_VARIANTS
from nsdrecon.stats import rowwise_pearson
from nsdrecon.metrics.resize import pixel_metric_inputs

__all__ = ["SSIM_VARIANTS", "SSIM_KWARGS", "pixcorr", "ssim"]

SSIM_KWARGS = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
_BATCH = 64  # images resized and held in float64 at a time


def _pixel_batches(gt: np.ndarray, rec: np.ndarray, convention: str):
    """Yield (gt, rec) float64 batches on the convention's common grid."""
    if len(gt) != len(rec):
        raise ValueError(f"expected as many reconstructions as ground-truth images, found {len(rec)} vs {len(gt)}")
    for start in range(0, len(gt), _BATCH):
        yield pixel_metric_inputs(gt[start : start + _BATCH], rec[start : start + _BATCH], convention)


def pixcorr(gt: np.ndarray, rec: np.ndarray, convention: str = "brain_diffuser") -> np.ndarray:
    """Per-image Pearson correlation of the flattened RGB pixels.

    Parameters
    ----------
    gt : uint8 array of shape (N, H, W, 3), the stimuli
    rec : uint8 array of shape (N, h, w, 3), the reconstructions
    convention : ``"brain_diffuser"`` (reconstruction PIL-bicubic resized to the
        stimulus size) or ``"mindeye"`` (both to 256, then bilinear to 425)

    Returns
    -------
    float64 array of shape (N,) (NaN where an image is constant).
    """
    return np.concatenate([rowwise_pearson(g, r) for g, r in _pixel_batches(gt, rec, convention)])


def ssim(gt: np.ndarray, rec: np.ndarray, convention: str = "brain_diffuser", variant: str = "standard") -> np.ndarray:
    """Per-image SSIM of the grey-scale images.

    Parameters
    ----------
    gt : uint8 array of shape (N, H, W, 3), the stimuli
    rec : uint8 array of shape (N, h, w, 3), the reconstructions
    convention : ``"brain_diffuser"`` or ``"mindeye"``, as in :func:`pixcorr`
    variant : ``"standard"`` (2-D SSIM) or ``"legacy"`` (Brain-Diffuser's per-column SSIM)

    Returns
    -------
    float64 array of shape (N,).
    """
    if variant not in SSIM_VARIANTS:
        raise ValueError(f"unknown SSIM variant {variant!r}; expected one of {list(SSIM_VARIANTS)}")
    extra = {"channel_axis": -1} if variant == "legacy" else {}
    values = np.empty(len(gt))
    done = 0
    with tqdm(total=len(gt), desc=f"SSIM ({variant})", disable=None) as progress:
        for gt_batch, rec_batch in _pixel_batches(gt, rec, convention):
            for g, r in zip(rgb2gray(gt_batch), rgb2gray(rec_batch)):
                values[done] = structural_similarity(r, g, **SSIM_KWARGS, **extra)
                done += 1
            progress.update(len(gt_batch))
    return values
