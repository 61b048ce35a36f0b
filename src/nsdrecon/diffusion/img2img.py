"""The img2img steps that HAVIR's and MindDiffuser's reconstructions share.

Both start from a decoded VAE latent, noise it to a point of a DDIM schedule
(diffusers' SD img2img: strength 0.75 of 50 steps keeps the last 37), denoise
with classifier-free guidance and decode with the VAE. The pieces are written
once here:

* :meth:`LatentImg2Img.get_timesteps`: the kept tail of the schedule;
* :meth:`LatentImg2Img.prepare_latents`: per-image seeded noise (one CPU
  ``torch.Generator`` per image, so a picture does not depend on its batch);
* :meth:`LatentImg2Img.denoise`: the guided DDIM loop, optionally with
  gradients and activation checkpointing (MindDiffuser's stage 2
  backpropagates through it);
* :meth:`LatentImg2Img.decode_pixels` / :meth:`LatentImg2Img.decode`: VAE
  decoding to [-1, 1] tensors or uint8 images.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
from diffusers.image_processor import VaeImageProcessor
from diffusers.utils.torch_utils import randn_tensor
from torch.utils.checkpoint import checkpoint as activation_checkpoint
from tqdm.auto import tqdm

__all__ = ["LatentImg2Img"]


class LatentImg2Img:
    """DDIM img2img over a UNet, a VAE and a scheduler, from latents rather than images.

    Parameters
    ----------
    unet : UNet2DConditionModel
        The denoiser; its context is whatever the subclass prepares.
    vae : AutoencoderKL
    scheduler : DDIMScheduler
        Copied, so the caller's scheduler state is left alone.
    latent_shape : tuple of int
        ``(channels, height, width)`` of one latent.
    """

    def __init__(
        self,
        unet: UNet2DConditionModel,
        vae: AutoencoderKL,
        scheduler: DDIMScheduler,
        latent_shape: tuple[int, int, int],
    ) -> None:
        self.unet = unet
        self.vae = vae
        self.scheduler = type(scheduler).from_config(scheduler.config)
        self.latent_shape = tuple(latent_shape)
        scale = 2 ** (len(vae.config.block_out_channels) - 1)
        self.image_processor = VaeImageProcessor(vae_scale_factor=scale)

    @property
    def device(self) -> torch.device:
        return self.unet.device

    def get_timesteps(self, num_inference_steps: int, strength: float) -> torch.Tensor:
        """Set a ``num_inference_steps`` schedule; return its last ``int(num_inference_steps * strength)`` steps."""
        self.scheduler.set_timesteps(num_inference_steps, device=self.device)
        init_timestep = min(int(num_inference_steps * strength), num_inference_steps)
        t_start = max(num_inference_steps - init_timestep, 0)
        return self.scheduler.timesteps[t_start * self.scheduler.order :]

    def full_schedule(self, num_inference_steps: int) -> torch.Tensor:
        """Set a ``num_inference_steps`` schedule and return all of it (start from pure noise)."""
        self.scheduler.set_timesteps(num_inference_steps, device=self.device)
        return self.scheduler.timesteps

    def to_context(self, tokens: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Context tokens on the UNet's device and in its dtype (a tensor keeps its graph)."""
        return torch.as_tensor(tokens).to(device=self.device, dtype=self.unet.dtype)

    def draw_noise(self, seeds: Sequence[int]) -> torch.Tensor:
        """Float32 noise (batch, C, h, w), one CPU generator per image: the same numbers on every device."""
        generators = [torch.Generator("cpu").manual_seed(int(seed)) for seed in seeds]
        shape = (len(seeds), *self.latent_shape)
        return randn_tensor(shape, generator=generators, device=self.device, dtype=torch.float32)

    def prepare_latents(
        self, init_latents: np.ndarray | torch.Tensor | None, timesteps: torch.Tensor, noise: torch.Tensor
    ) -> torch.Tensor:
        """Noise ``init_latents`` to ``timesteps[0]``, or scale ``noise`` when there is no latent.

        With no timesteps left (strength 0) the latents are returned unchanged.
        Differentiable in ``init_latents`` (MindDiffuser optimises it).
        """
        if init_latents is None:
            return noise * self.scheduler.init_noise_sigma
        latents = torch.as_tensor(init_latents).to(device=self.device, dtype=torch.float32)
        if len(timesteps) == 0:
            return latents
        return self.scheduler.add_noise(latents, noise, timesteps[:1].repeat(len(latents)))

    def denoise(
        self,
        latents: torch.Tensor,
        timesteps: torch.Tensor,
        context: torch.Tensor,
        guidance_scale: float,
        *,
        checkpoint: bool = False,
        progress: bool = True,
    ) -> torch.Tensor:
        """Guided DDIM steps over ``timesteps``; ``context`` holds the unconditional rows first when guided.

        Latents stay float32 and the UNet runs in its own dtype. Gradients flow
        when enabled by the caller; ``checkpoint`` recomputes each UNet call in
        the backward pass instead of storing its activations.
        """
        do_guidance = guidance_scale > 1.0
        for t in tqdm(timesteps, desc="denoising", unit="step", leave=False, disable=None if progress else True):
            model_input = torch.cat([latents] * 2) if do_guidance else latents
            model_input = self.scheduler.scale_model_input(model_input, t).to(self.unet.dtype)
            if checkpoint and torch.is_grad_enabled():
                noise_pred = activation_checkpoint(self._unet_eps, model_input, t, context, use_reentrant=False)
            else:
                noise_pred = self._unet_eps(model_input, t, context)
            noise_pred = noise_pred.float()
            if do_guidance:
                noise_uncond, noise_cond = noise_pred.chunk(2)
                noise_pred = noise_uncond + guidance_scale * (noise_cond - noise_uncond)
            latents = self.scheduler.step(noise_pred, t, latents).prev_sample
        return latents

    def decode_pixels(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents (batch, C, h, w) -> float32 pixels (batch, 3, H, W) in [-1, 1] (differentiable)."""
        pixels = self.vae.decode(latents.to(self.vae.dtype) / self.vae.config.scaling_factor).sample
        return pixels.float().clamp(-1.0, 1.0)

    def decode(self, latents: torch.Tensor) -> np.ndarray:
        """Latents (batch, C, h, w) -> uint8 images (batch, H, W, 3)."""
        with torch.no_grad():
            pixels = self.decode_pixels(latents)
        images = self.image_processor.postprocess(pixels, output_type="np")
        return (images * 255).round().astype(np.uint8)

    def _unet_eps(self, model_input: torch.Tensor, t: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return self.unet(model_input, t, encoder_hidden_states=context).sample
