"""The img2img steps that HAVIR's and MindDiffuser's reconstructions share.

Both start from a decoded VAE latent, noise it to a point of a DDIM schedule,
denoise with classifier-free guidance and decode with the VAE. The pieces are
written once here:

* :meth:`LatentImg2Img.schedule`: where the latent is noised and which steps
  denoise it, by the protocol of diffusers or of the authors' code
  (:data:`SCHEDULES`);
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
from dataclasses import dataclass

import numpy as np
import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
from diffusers.image_processor import VaeImageProcessor
from diffusers.utils.torch_utils import randn_tensor
from torch.utils.checkpoint import checkpoint as activation_checkpoint
from tqdm.auto import tqdm

__all__ = ["SCHEDULES", "Img2ImgSchedule", "LatentImg2Img"]

SCHEDULES = ("diffusers", "brain_diffuser", "minddiffuser")
"""How an img2img run places its noise and steps on the DDIM schedule, with ``k = int(steps * strength)``:

* ``diffusers`` (``StableDiffusionImg2ImgPipeline``): noise to the first kept timestep and denoise the last
  ``k`` steps from it (50 steps at 0.75: noise to t=721, 37 steps from t=721);
* ``brain_diffuser`` (ozcelikfu/brain-diffuser, ``scripts/versatilediffusion_reconstruct_images.py``, the
  LDM img2img of ``DDIMSampler.stochastic_encode(z, k)`` then ``decode(z_enc, t_start=k)``): noise at DDIM
  index ``k`` and denoise indices ``k-1 … 0`` (t=741, then 37 steps from t=721);
* ``minddiffuser`` (ReedOnePeck/MindDiffuser, ``Image reconstruction/Reconstruction.py``:
  ``stochastic_encode(z, 37)`` then ``decode(z_enc, c, 35)``): noise at index ``k``, denoise two steps fewer,
  indices ``k-3 … 0`` (t=741, then 35 steps from t=681). Their code hard-codes 37 and 35; other step counts and
  strengths keep the same offsets.

The DDIM index ``i`` is the timestep ``1 + i * (1000 // steps)`` (LDM's ``make_ddim_timesteps``, diffusers'
``leading`` spacing with ``steps_offset=1``); the two agree whenever ``steps`` divides 1000.
Golden values from both authors' samplers: ``tests/test_authors_protocols.py``.
"""


@dataclass(frozen=True)
class Img2ImgSchedule:
    """Where img2img noises its starting latent and the timesteps that denoise it (descending).

    ``noise_at`` is None when there is nothing to noise: no steps are kept (strength 0 under
    ``diffusers``), or the run starts from pure noise (no latent).
    """

    noise_at: torch.Tensor | None
    timesteps: torch.Tensor


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

    def schedule(self, num_inference_steps: int, strength: float | None, protocol: str = "diffusers") -> Img2ImgSchedule:
        """Set a ``num_inference_steps`` DDIM schedule and place an img2img run on it (see :data:`SCHEDULES`).

        ``strength=None`` starts from pure noise and runs the whole schedule (no structural prior).
        """
        if protocol not in SCHEDULES:
            raise ValueError(f"schedule must be one of {list(SCHEDULES)}, got {protocol!r}")
        self.scheduler.set_timesteps(num_inference_steps, device=self.device)
        timesteps = self.scheduler.timesteps  # descending
        if strength is None:
            return Img2ImgSchedule(None, timesteps)
        kept = min(int(num_inference_steps * strength), num_inference_steps)
        if protocol == "diffusers":
            tail = timesteps[(num_inference_steps - kept) * self.scheduler.order :]
            return Img2ImgSchedule(tail[:1] if len(tail) else None, tail)
        if kept == num_inference_steps:
            raise ValueError(
                f"schedule {protocol!r} noises at DDIM index int(steps * strength) = {kept}, past the last of "
                f"{num_inference_steps} steps: use a strength below 1"
            )
        ascending = timesteps.flip(0)
        denoised = kept if protocol == "brain_diffuser" else max(kept - 2, 0)
        return Img2ImgSchedule(ascending[kept : kept + 1], ascending[:denoised].flip(0))

    def to_context(self, tokens: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Context tokens on the UNet's device and in its dtype (a tensor keeps its graph)."""
        return torch.as_tensor(tokens).to(device=self.device, dtype=self.unet.dtype)

    @staticmethod
    def noise_generators(seeds: Sequence[int]) -> list[torch.Generator]:
        """One CPU generator per image: the same numbers on every device, whatever the batch."""
        return [torch.Generator("cpu").manual_seed(int(seed)) for seed in seeds]

    def draw_noise(self, generators: Sequence[torch.Generator]) -> torch.Tensor:
        """Float32 noise (batch, C, h, w), the next draw of each image's generator."""
        shape = (len(generators), *self.latent_shape)
        return randn_tensor(shape, generator=list(generators), device=self.device, dtype=torch.float32)

    def prepare_latents(
        self, init_latents: np.ndarray | torch.Tensor | None, schedule: Img2ImgSchedule, noise: torch.Tensor
    ) -> torch.Tensor:
        """Noise ``init_latents`` to ``schedule.noise_at``, or scale ``noise`` when there is no latent.

        With nothing to noise (strength 0 under ``diffusers``) the latents are returned unchanged.
        Differentiable in ``init_latents`` (MindDiffuser optimises it).
        """
        if init_latents is None:
            return noise * self.scheduler.init_noise_sigma
        latents = torch.as_tensor(init_latents).to(device=self.device, dtype=torch.float32)
        if schedule.noise_at is None:
            return latents
        return self.scheduler.add_noise(latents, noise, schedule.noise_at.repeat(len(latents)))

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
