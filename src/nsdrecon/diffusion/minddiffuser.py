"""MindDiffuser's two stages over Stable Diffusion, from decoded text conditioning, latents and CLIP features.

Stage 1 (semantics): SD img2img from the decoded VAE latent, conditioned on the
decoded text conditioning: DDIM, 50-step schedule at strength 0.75 (the
original ``img2img.py``: ``t_enc = int(0.75 * 50) = 37`` steps), guidance 5.0.

Stage 2 (structure): the decoded latent ``z`` (and optionally the conditioning
``c``) is refined by Adam (300 steps, lr 0.01, exponential decay 0.999) so the
stage-1 image of ``z`` has CLIP ViT-B/32 layer features close to the ones
decoded from the brain: weighted MSE over the layers plus 0.1 * (1 - cosine)
on the projected embedding. Gradients flow through every denoising step, the
VAE decoder and CLIP; each UNet call is checkpointed to bound memory. A faster
variant runs a coarser schedule inside the loop (``inner_steps``) and renders
the final image with the full one.

Each image's loss is its own term of a sum, and Adam is elementwise, so an
image's refinement does not depend on the batch it is in. Noise is drawn once
per image from its seed and kept fixed while ``z`` changes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from nsdrecon.models.clip_layers import EMBEDDING, ClipLayerFeatures
from nsdrecon.diffusion.img2img import LatentImg2Img
from nsdrecon.models.encoders import sd_text_batch
from nsdrecon.models.stable_diffusion import StableDiffusion

logger = logging.getLogger(__name__)

__all__ = ["MindDiffuserReconstructor", "RefineResult", "complete_text_conditioning"]


def complete_text_conditioning(head: np.ndarray, tail: np.ndarray) -> np.ndarray:
    """Decoded first tokens (batch, n, dim) + a fixed tail (77 - n, dim) -> full conditioning (batch, 77, dim).

    MindDiffuser decodes only the first 15 tokens; the rest come from the
    training mean (what the pipeline passes as ``tail``).
    """
    head = np.asarray(head, dtype=np.float32)
    tail = np.asarray(tail, dtype=np.float32)
    if head.ndim != 3 or tail.ndim != 2 or head.shape[2] != tail.shape[1]:
        raise ValueError(f"head (batch, n, dim) and tail (m, dim) do not fit: {head.shape} and {tail.shape}")
    return np.concatenate([head, np.broadcast_to(tail, (len(head), *tail.shape))], axis=1)


@dataclass
class RefineResult:
    """Output of stage 2.

    Attributes
    ----------
    images : uint8 (batch, H, W, 3)
        Stage-1 images of the refined latents (full schedule).
    latents : float32 (batch, C, h, w)
        The refined decoded latents ``z``.
    losses : float32 (steps + 1, batch)
        Feature loss of each image before every step and after the last.
    """

    images: np.ndarray
    latents: np.ndarray
    losses: np.ndarray


class MindDiffuserReconstructor(LatentImg2Img):
    """Stable Diffusion img2img (stage 1) and CLIP-feature refinement (stage 2) from decoded inputs.

    Parameters
    ----------
    sd : StableDiffusion
        Needs the UNet, VAE, scheduler, text encoder and tokenizer (the
        unconditional context is the empty caption's conditioning).
    clip_features : ClipLayerFeatures, optional
        The CLIP layer features to match; needed by :meth:`refine` only.
    """

    def __init__(self, sd: StableDiffusion, clip_features: ClipLayerFeatures | None = None) -> None:
        super().__init__(sd.unet, sd.vae, sd.scheduler, sd.latent_shape)
        self.sd = sd
        self.clip_features = clip_features
        self.uncond = self.to_context(sd_text_batch(sd, [[""]]))

    def generate(
        self,
        text_conditioning: np.ndarray | torch.Tensor,
        init_latents: np.ndarray | torch.Tensor | None,
        *,
        seeds: Sequence[int],
        strength: float = 0.75,
        guidance_scale: float = 5.0,
        num_inference_steps: int = 50,
        output_type: str = "np",
    ) -> np.ndarray:
        """Stage 1: one image per row; ``init_latents=None`` starts from noise (no structural prior)."""
        self.check_inputs(text_conditioning, init_latents, seeds, strength)
        with torch.no_grad():
            latents = self._sample(
                self.to_context(text_conditioning), init_latents, self.draw_noise(seeds),
                strength, guidance_scale, num_inference_steps, checkpoint=False,
            )
        if output_type == "latent":
            return latents.cpu().numpy()
        return self.decode(latents)

    def feature_loss(
        self,
        features: Mapping[str, torch.Tensor],
        targets: Mapping[str, torch.Tensor],
        layer_weights: Mapping[str, float],
        cosine_weight: float,
    ) -> torch.Tensor:
        """Per-image loss (batch,): weighted MSE over the layer features + ``cosine_weight`` * (1 - cos) on the embedding."""
        loss = 0.0
        for name, target in targets.items():
            if name == EMBEDDING:
                loss = loss + cosine_weight * (1.0 - F.cosine_similarity(features[name], target, dim=1))
            else:
                loss = loss + layer_weights.get(name, 1.0) * (features[name] - target).pow(2).mean(dim=1)
        return loss

    def refine(
        self,
        text_conditioning: np.ndarray | torch.Tensor,
        init_latents: np.ndarray | torch.Tensor,
        targets: Mapping[str, np.ndarray],
        *,
        seeds: Sequence[int],
        steps: int = 300,
        lr: float = 0.01,
        lr_decay: float = 0.999,
        layer_weights: Mapping[str, float] | None = None,
        cosine_weight: float = 0.1,
        optimize_conditioning: bool = False,
        strength: float = 0.75,
        guidance_scale: float = 5.0,
        num_inference_steps: int = 50,
        inner_steps: int | None = None,
        checkpoint: bool = True,
    ) -> RefineResult:
        """Stage 2: optimise ``z`` (and ``c`` if asked) so the image's CLIP features match ``targets``.

        ``targets`` maps feature names of ``clip_features`` (layers and/or the
        embedding) to decoded values (batch, dims). ``inner_steps`` sets the
        schedule length used inside the loop (default ``num_inference_steps``,
        the exact procedure); the returned images always use the full schedule.
        """
        if self.clip_features is None:
            raise ValueError("refine needs clip_features (the CLIP model whose layer features are matched)")
        self.check_inputs(text_conditioning, init_latents, seeds, strength)
        unknown = set(targets) - set(self.clip_features.names)
        if unknown:
            raise ValueError(f"targets {sorted(unknown)} are not features of the CLIP model: {self.clip_features.names}")
        weights = dict(layer_weights or {})
        goal = {name: torch.as_tensor(np.asarray(value), dtype=torch.float32, device=self.device) for name, value in targets.items()}
        z = torch.as_tensor(np.asarray(init_latents), dtype=torch.float32, device=self.device).clone().requires_grad_(True)
        c = self.to_context(text_conditioning).clone().requires_grad_(optimize_conditioning)
        params = [z, c] if optimize_conditioning else [z]
        optimizer = torch.optim.Adam(params, lr=lr)
        schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=lr_decay)
        noise = self.draw_noise(seeds)
        inner = inner_steps or num_inference_steps
        history = []
        for step in tqdm(range(steps + 1), desc="stage 2 refinement", unit="step", disable=None):
            last = step == steps
            with torch.set_grad_enabled(not last):
                latents = self._sample(c, z, noise, strength, guidance_scale, inner, checkpoint=checkpoint)
                pixels = (self.decode_pixels(latents) + 1.0) / 2.0
                loss = self.feature_loss(self.clip_features(pixels), goal, weights, cosine_weight)
            history.append(loss.detach().cpu().numpy())
            if last:
                break
            optimizer.zero_grad(set_to_none=True)
            loss.sum().backward()
            optimizer.step()
            schedule.step()
        logger.info("stage 2: mean feature loss %.4g -> %.4g over %d steps", history[0].mean(), history[-1].mean(), steps)
        if inner != num_inference_steps:  # the exact procedure's last pass already ran the full schedule
            with torch.no_grad():
                latents = self._sample(c, z, noise, strength, guidance_scale, num_inference_steps, checkpoint=False)
        return RefineResult(self.decode(latents), z.detach().cpu().numpy(), np.stack(history).astype(np.float32))

    def check_inputs(
        self,
        text_conditioning: np.ndarray | torch.Tensor,
        init_latents: np.ndarray | torch.Tensor | None,
        seeds: Sequence[int],
        strength: float,
    ) -> None:
        """Shapes of the conditioning, latents and seeds; strength in [0, 1]."""
        expected = {"text_conditioning": (text_conditioning, self.sd.text_tokens), "init_latents": (init_latents, self.latent_shape)}
        for name, (value, shape) in expected.items():
            if value is not None and (value.ndim != len(shape) + 1 or tuple(value.shape[1:]) != tuple(shape)):
                raise ValueError(f"{name} must have shape (batch, {', '.join(map(str, shape))}), got {tuple(value.shape)}")
        sizes = {len(seeds), len(text_conditioning)} | ({len(init_latents)} if init_latents is not None else set())
        if len(sizes) != 1:
            raise ValueError(f"inputs and seeds disagree on the batch size: {sorted(sizes)}")
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must lie in [0, 1], got {strength}")

    def _sample(self, cond, init_latents, noise, strength, guidance_scale, num_inference_steps, *, checkpoint):
        """Noise ``init_latents`` (or start from noise) and denoise with guidance; returns latents."""
        if init_latents is None:
            timesteps = self.full_schedule(num_inference_steps)
        else:
            timesteps = self.get_timesteps(num_inference_steps, strength)
        latents = self.prepare_latents(init_latents, timesteps, noise)
        context = torch.cat([self.uncond.expand(len(cond), -1, -1), cond]) if guidance_scale > 1.0 else cond
        return self.denoise(latents, timesteps, context, guidance_scale, checkpoint=checkpoint, progress=False)
