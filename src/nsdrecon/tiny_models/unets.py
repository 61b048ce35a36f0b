"""Train the tiny denoisers: Versatile Diffusion's dual-guided UNet and Stable Diffusion's UNet.

Both learn to predict the noise added to VAE latents (DDPM, epsilon
prediction, uniform timesteps of the model's own scheduler), conditioned on
the contexts the pipeline feeds them at reconstruction time, computed by the
pipeline's own encoders (:mod:`nsdrecon.features`):

* Versatile Diffusion: the dual-guided UNet of
  :func:`nsdrecon.diffusion.build_dual_guided_unet` (the image UNet with each
  transformer paired with the text UNet's), context ``[text tokens, image
  tokens]``. Each sample draws its own text mix ratio (0: image only, 1: text
  only, else uniform) so the ablation paths are trained too, and conditions are
  dropped to the unconditional contexts (the empty caption, the blank image)
  so classifier-free guidance has an unconditional model to push away from.
* Stable Diffusion: the text UNet on SD's text conditioning (mean over an
  image's captions, as MindDiffuser decodes it), dropped to the empty
  caption's conditioning at the same rate.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, UNet2DConditionModel
from diffusers.models import DualTransformer2DModel

from nsdrecon.tiny_models.loop import optimise

__all__ = ["train_dual_guided_unet", "train_text_unet"]


def _noised(latents: torch.Tensor, scheduler: DDIMScheduler, generator: torch.Generator):
    """(noisy latents, timesteps, noise) for a batch of clean latents."""
    noise = torch.randn(latents.shape, generator=generator)
    t = torch.randint(scheduler.config.num_train_timesteps, (len(latents),), generator=generator)
    return scheduler.add_noise(latents, noise, t), t, noise


def _set_mix(unet: UNet2DConditionModel, mix: torch.Tensor | float) -> None:
    for module in unet.modules():
        if isinstance(module, DualTransformer2DModel):
            module.mix_ratio = mix


def train_dual_guided_unet(
    dual_unet: UNet2DConditionModel,
    scheduler: DDIMScheduler,
    latents: np.ndarray,
    image_tokens: np.ndarray,
    text_tokens: np.ndarray,
    uncond_image: np.ndarray,
    uncond_text: np.ndarray,
    *,
    steps: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    drop_both: float = 0.15,
    drop_one: float = 0.1,
    seed: int = 0,
) -> list[float]:
    """Fit the dual-guided UNet (its shared image-UNet and text-transformer weights, in place).

    ``latents`` (n, C, h, w) are scaled VAE latents; ``image_tokens`` (n, 65, d) and
    ``text_tokens`` (n, 77, d) the CLIP contexts; ``uncond_*`` (1, tokens, d) the
    unconditional ones. Per sample: with probability ``drop_both`` both contexts
    are unconditional, else each one alone with probability ``drop_one``.
    """
    dual_unet.train().requires_grad_(True)
    latents, image_tokens, text_tokens = map(torch.from_numpy, (latents, image_tokens, text_tokens))
    uncond_image, uncond_text = torch.from_numpy(uncond_image), torch.from_numpy(uncond_text)

    def loss_of_batch(rows: np.ndarray, generator: torch.Generator) -> torch.Tensor:
        index = torch.from_numpy(rows)
        n = len(rows)
        u = torch.rand(4, n, generator=generator)
        mix = torch.where(u[0] < 0.25, 0.0, torch.where(u[0] < 0.5, 1.0, u[1]))
        both = u[2] < drop_both
        drop_text = both | ((u[3] < drop_one) & ~both)
        drop_image = both | ((u[3] >= 1 - drop_one) & ~both)
        text = torch.where(drop_text[:, None, None], uncond_text, text_tokens[index])
        image = torch.where(drop_image[:, None, None], uncond_image, image_tokens[index])
        noisy, t, noise = _noised(latents[index], scheduler, generator)
        _set_mix(dual_unet, mix.view(n, 1, 1, 1))
        prediction = dual_unet(noisy, t, encoder_hidden_states=torch.cat([text, image], dim=1)).sample
        return F.mse_loss(prediction, noise)

    losses = optimise(
        dual_unet.parameters(), loss_of_batch, n_items=len(latents), steps=steps, batch_size=batch_size, lr=lr,
        seed=seed, desc="VD dual-guided UNet",
    )
    _set_mix(dual_unet, 0.5)
    dual_unet.eval().requires_grad_(False)
    return losses


def train_text_unet(
    unet: UNet2DConditionModel,
    scheduler: DDIMScheduler,
    latents: np.ndarray,
    text_conditioning: np.ndarray,
    uncond_text: np.ndarray,
    *,
    steps: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    drop: float = 0.15,
    seed: int = 0,
) -> list[float]:
    """Fit Stable Diffusion's UNet (in place) on latents (n, C, h, w) and text conditioning (n, 77, d)."""
    unet.train().requires_grad_(True)
    latents, text_conditioning, uncond_text = map(torch.from_numpy, (latents, text_conditioning, uncond_text))

    def loss_of_batch(rows: np.ndarray, generator: torch.Generator) -> torch.Tensor:
        index = torch.from_numpy(rows)
        dropped = torch.rand(len(rows), generator=generator) < drop
        context = torch.where(dropped[:, None, None], uncond_text, text_conditioning[index])
        noisy, t, noise = _noised(latents[index], scheduler, generator)
        return F.mse_loss(unet(noisy, t, encoder_hidden_states=context).sample, noise)

    losses = optimise(
        unet.parameters(), loss_of_batch, n_items=len(latents), steps=steps, batch_size=batch_size, lr=lr,
        seed=seed, desc="SD UNet",
    )
    unet.eval().requires_grad_(False)
    return losses


@torch.no_grad()
def heldout_denoising_loss(
    unet: UNet2DConditionModel,
    scheduler: DDIMScheduler,
    latents: np.ndarray,
    image_tokens: np.ndarray | None,
    text_tokens: np.ndarray,
    uncond_image: np.ndarray | None,
    uncond_text: np.ndarray,
    *,
    mix_ratio_text: float = 0.4,
    timesteps: tuple[int, ...] = (100, 300, 500, 700, 900),
    seed: int = 0,
) -> dict[str, float]:
    """Noise-prediction MSE on held-out latents at fixed timesteps, per conditioning.

    A text UNet (``image_tokens=None``) reports ``conditional`` and
    ``unconditional``; a dual-guided UNet also ``text_only`` (mix 1) and
    ``image_only`` (mix 0), and ``conditional`` at ``mix_ratio_text``. Each
    conditional loss below the unconditional one shows the model uses that
    context on scenes it never saw.
    """
    generator = torch.Generator().manual_seed(seed)
    x0 = torch.from_numpy(latents)
    n = len(x0)
    text = torch.from_numpy(text_tokens)
    u_text = torch.from_numpy(uncond_text).expand(n, -1, -1)
    if image_tokens is None:
        cases = {"conditional": (text, None), "unconditional": (u_text, None)}
    else:
        image, u_image = torch.from_numpy(image_tokens), torch.from_numpy(uncond_image).expand(n, -1, -1)
        both = torch.cat([text, image], dim=1)
        cases = {
            "conditional": (both, mix_ratio_text),
            "text_only": (both, 1.0),
            "image_only": (both, 0.0),
            "unconditional": (torch.cat([u_text, u_image], dim=1), mix_ratio_text),
        }
    totals = dict.fromkeys(cases, 0.0)
    for step in timesteps:
        noise = torch.randn(x0.shape, generator=generator)
        t = torch.full((n,), step)
        noisy = scheduler.add_noise(x0, noise, t)
        for name, (context, mix) in cases.items():
            if mix is not None:
                _set_mix(unet, mix)
            totals[name] += float(F.mse_loss(unet(noisy, t, encoder_hidden_states=context).sample, noise))
    return {f"heldout_loss_{name}": total / len(timesteps) for name, total in totals.items()}
