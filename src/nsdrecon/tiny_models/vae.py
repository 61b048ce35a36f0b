"""Train the tiny ``AutoencoderKL`` on procedural scenes and set its latent scaling factor.

As Stable Diffusion's autoencoder: a KL-regularised autoencoder (reconstruction
MSE plus a small KL weight, so the latent is nearly deterministic), then
``scaling_factor`` set to one over the standard deviation of the training
latents (SD's 0.18215 was found the same way), so the diffusion models see
latents of unit variance.
"""

from __future__ import annotations

import numpy as np
import torch
from diffusers import AutoencoderKL

from nsdrecon.tiny_models.loop import optimise

__all__ = ["psnr", "reconstruct", "train_vae"]


def _pixels(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def train_vae(
    vae: AutoencoderKL,
    images: np.ndarray,
    *,
    steps: int,
    batch_size: int = 32,
    crop: int = 32,
    lr: float = 2e-3,
    kl_weight: float = 1e-6,
    seed: int = 0,
) -> list[float]:
    """Fit ``vae`` (in place) to uint8 ``images`` (n, S, S, 3); sets ``scaling_factor``; returns the losses.

    Each step trains on random ``crop`` x ``crop`` windows (aligned to the
    latent grid): the autoencoder is fully convolutional (no mid-block
    attention in the tiny config), so crops teach it the same mapping at a
    quarter of the cost of whole 64-px scenes, as SD's VAE was trained on
    crops smaller than the images it serves.
    """
    vae.train().requires_grad_(True)
    pixels = _pixels(images)

    def loss_of_batch(rows: np.ndarray, generator: torch.Generator) -> torch.Tensor:
        factor = 2 ** (len(vae.config.block_out_channels) - 1)
        corner = torch.randint((pixels.shape[-1] - crop) // factor + 1, (2,), generator=generator) * factor
        x = pixels[rows][..., corner[0] : corner[0] + crop, corner[1] : corner[1] + crop]
        posterior = vae.encode(x).latent_dist
        z = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=generator)
        reconstruction = vae.decode(z).sample
        return torch.nn.functional.mse_loss(reconstruction, x) + kl_weight * posterior.kl().mean()

    losses = optimise(
        vae.parameters(), loss_of_batch, n_items=len(images), steps=steps, batch_size=batch_size, lr=lr, seed=seed,
        desc="VAE",
    )
    vae.eval().requires_grad_(False)
    with torch.no_grad():
        sample = pixels[: min(len(pixels), 1024)]
        latents = torch.cat([vae.encode(sample[i : i + 128]).latent_dist.mean for i in range(0, len(sample), 128)])
    vae.register_to_config(scaling_factor=round(float(1.0 / latents.std()), 5))
    return losses


@torch.no_grad()
def reconstruct(vae: AutoencoderKL, images: np.ndarray, batch_size: int = 128) -> np.ndarray:
    """uint8 images -> their uint8 reconstructions through the posterior mean."""
    out = []
    for start in range(0, len(images), batch_size):
        x = _pixels(images[start : start + batch_size]).to(vae.device, vae.dtype)
        y = vae.decode(vae.encode(x).latent_dist.mean).sample.float().clamp(-1, 1)
        out.append(((y + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy())
    return np.concatenate(out)


def psnr(images: np.ndarray, reconstructions: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB over all pixels (peak 255)."""
    mse = np.mean((images.astype(np.float64) - reconstructions.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))
