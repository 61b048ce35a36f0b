"""MindDiffuser's two stages over Stable Diffusion, from decoded text conditioning, latents and CLIP features.

Stage 1 (semantics): SD img2img from the decoded VAE latent, conditioned on the
decoded text conditioning: DDIM, 50-step schedule at strength 0.75, guidance
5.0; diffusers' placement of noise and steps, or MindDiffuser's own (noise at
t=741, 35 steps from t=681; :data:`nsdrecon.diffusion.img2img.SCHEDULES`).

Stage 2 (structure): the decoded latent ``z`` (and optionally the conditioning
``c``) is refined by Adam (300 steps, lr 0.01, exponential decay 0.999) so the
stage-1 image of ``z`` has CLIP ViT-B/32 layer features close to the ones
decoded from the brain: weighted MSE over the layers plus 0.1 * (1 - cosine)
on the projected embedding. Gradients flow through every denoising step, the
VAE decoder and CLIP; each UNet call is checkpointed to bound memory. A faster
variant runs a coarser schedule inside the loop (``inner_steps``) and renders
the final image with the full one.

Each image's loss is its own term of a sum, and Adam is elementwise, so an
image's refinement does not depend on the batch it is in. Noise comes from one
generator per image: drawn once and kept while ``z`` changes, or drawn anew at
every iteration as MindDiffuser's loop does.
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

__all__ = [
    "LAYER_WEIGHTINGS",
    "MINDDIFFUSER_LAYER_FACTORS",
    "NOISE_DRAWS",
    "MindDiffuserReconstructor",
    "RefineResult",
    "complete_text_conditioning",
    "stage2_loss",
    "stage2_weights",
]

LAYER_WEIGHTINGS = ("equal", "minddiffuser")
"""How stage 2 weighs its layers' MSE: ``equal`` (the mean over each layer's decoded dimensions, weight 1) or
``minddiffuser`` (their ``MSE_CLIP_mask``: :func:`stage2_weights`)."""
MINDDIFFUSER_LAYER_FACTORS = (1.5, 1.2, 1.0, 1.0, 1.0, 1.0)
"""``a1`` of MindDiffuser's ``MSE_CLIP_mask``: the extra weight of its six layers, shallowest first."""
NOISE_DRAWS = ("fixed", "fresh")
"""Stage 2's noise: drawn once per image (``fixed``) or anew at every iteration (``fresh``, MindDiffuser)."""


def complete_text_conditioning(head: np.ndarray, tail: np.ndarray) -> np.ndarray:
    """Decoded first tokens (batch, n, dim) + a fixed tail (m, dim) -> the whole context (batch, n + m, dim).

    MindDiffuser decodes only the first 15 tokens (its context is 15 long, so ``m = 0``); with
    a 77-token context the rest come from the training mean (what the pipeline passes as ``tail``).
    """
    head = np.asarray(head, dtype=np.float32)
    tail = np.asarray(tail, dtype=np.float32)
    if head.ndim != 3 or tail.ndim != 2 or head.shape[2] != tail.shape[1]:
        raise ValueError(f"head (batch, n, dim) and tail (m, dim) do not fit: {head.shape} and {tail.shape}")
    return np.concatenate([head, np.broadcast_to(tail, (len(head), *tail.shape))], axis=1)


def stage2_loss(
    features: Mapping[str, torch.Tensor],
    targets: Mapping[str, torch.Tensor],
    layer_weights: Mapping[str, torch.Tensor | float],
    cosine_weight: float,
) -> torch.Tensor:
    """Stage 2's per-image loss (batch,): weighted MSE over the layer features + ``cosine_weight`` * (1 - cos) on the embedding.

    ``layer_weights`` holds a number or a per-image (batch,) tensor for each layer (see :func:`stage2_weights`).
    """
    loss = 0.0
    for name, target in targets.items():
        if name == EMBEDDING:
            loss = loss + cosine_weight * (1.0 - F.cosine_similarity(features[name], target, dim=1))
        else:
            loss = loss + layer_weights[name] * (features[name] - target).pow(2).mean(dim=1)
    return loss


def stage2_weights(
    targets: Mapping[str, torch.Tensor], weighting: str, sizes: Mapping[str, int]
) -> dict[str, torch.Tensor | float]:
    """Weight of each layer's MSE in :func:`stage2_loss`, by :data:`LAYER_WEIGHTINGS`.

    ``targets`` are the decoded (selected) dimensions of each feature, ``sizes`` each layer's full size.
    ``minddiffuser`` (``Image reconstruction/Reconstruction.py``, ``MSE_CLIP_mask``): per image, the layers'
    inverse target norms normalised to sum 1, times ``(1.5, 1.2, 1, 1, 1, 1)`` in layer order, and the MSE
    taken over the whole layer with the unselected dimensions zero on both sides (the mean over the selected
    dimensions times their share of the layer). Their loss is ``(1 - w)`` times this MSE plus
    ``0.1 w (1 - cos)`` with ``loss_CLIP_weight = w`` undefined in the published code: up to a factor, which
    Adam ignores, ``cosine_weight = 0.1 w / (1 - w)`` (0.1 at w = 0.5, the paper's equation).
    """
    layers = [name for name in targets if name != EMBEDDING]
    if weighting == "equal":
        return dict.fromkeys(layers, 1.0)
    if weighting != "minddiffuser":
        raise ValueError(f"layer_weights must be one of {list(LAYER_WEIGHTINGS)}, got {weighting!r}")
    inverse = torch.stack([1.0 / torch.linalg.vector_norm(targets[name], dim=1) for name in layers])
    share = inverse / inverse.sum(dim=0)
    factors = [MINDDIFFUSER_LAYER_FACTORS[i] if i < len(MINDDIFFUSER_LAYER_FACTORS) else 1.0 for i in range(len(layers))]
    return {name: share[i] * factors[i] * targets[name].shape[1] / sizes[name] for i, name in enumerate(layers)}


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
    context_tokens : int, optional
        Length of the text context (default: the tokenizer's 77; MindDiffuser: 15);
        the unconditional context is the empty caption at that length.
    """

    def __init__(
        self, sd: StableDiffusion, clip_features: ClipLayerFeatures | None = None, context_tokens: int | None = None
    ) -> None:
        super().__init__(sd.unet, sd.vae, sd.scheduler, sd.latent_shape)
        self.sd = sd
        self.clip_features = clip_features
        self.text_shape = (context_tokens or sd.text_tokens[0], sd.text_tokens[1])
        self.uncond = self.to_context(sd_text_batch(sd, [[""]], self.text_shape[0]))

    def generate(
        self,
        text_conditioning: np.ndarray | torch.Tensor,
        init_latents: np.ndarray | torch.Tensor | None,
        *,
        seeds: Sequence[int],
        strength: float = 0.75,
        guidance_scale: float = 5.0,
        num_inference_steps: int = 50,
        schedule: str = "diffusers",
        output_type: str = "np",
    ) -> np.ndarray:
        """Stage 1: one image per row; ``init_latents=None`` starts from noise (no structural prior).

        ``schedule`` places the noise and the steps (:data:`nsdrecon.diffusion.img2img.SCHEDULES`).
        """
        self.check_inputs(text_conditioning, init_latents, seeds, strength)
        with torch.no_grad():
            latents = self._sample(
                self.to_context(text_conditioning), init_latents, self.draw_noise(self.noise_generators(seeds)),
                strength, guidance_scale, num_inference_steps, schedule, checkpoint=False,
            )
        if output_type == "latent":
            return latents.cpu().numpy()
        return self.decode(latents)

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
        layer_weights: str = "equal",
        cosine_weight: float = 0.1,
        optimize_conditioning: bool = False,
        strength: float = 0.75,
        guidance_scale: float = 5.0,
        num_inference_steps: int = 50,
        schedule: str = "diffusers",
        inner_steps: int | None = None,
        noise: str = "fixed",
        snapshot_every: int | None = None,
        checkpoint: bool = True,
    ) -> RefineResult:
        """Stage 2: optimise ``z`` (and ``c`` if asked) so the image's CLIP features match ``targets``.

        ``targets`` maps feature names of ``clip_features`` (layers and/or the
        embedding) to decoded values (batch, dims). ``inner_steps`` sets the
        schedule length used inside the loop (default ``num_inference_steps``,
        the exact procedure). ``noise="fixed"`` draws each image's noise once;
        ``"fresh"`` draws new noise at every iteration, as MindDiffuser's loop
        calls ``stochastic_encode`` without noise. The returned image is the full
        schedule's image of the refined ``z``; with ``snapshot_every`` it is the
        image rendered at the last iteration ``i < steps`` with ``i % snapshot_every == 0``
        (MindDiffuser saves every 10th of 300: iteration 290), and the latents are
        ``z`` at that iteration.
        """
        if self.clip_features is None:
            raise ValueError("refine needs clip_features (the CLIP model whose layer features are matched)")
        self.check_inputs(text_conditioning, init_latents, seeds, strength)
        unknown = set(targets) - set(self.clip_features.names)
        if unknown:
            raise ValueError(f"targets {sorted(unknown)} are not features of the CLIP model: {self.clip_features.names}")
        if noise not in NOISE_DRAWS:
            raise ValueError(f"noise must be one of {list(NOISE_DRAWS)}, got {noise!r}")
        inner = inner_steps or num_inference_steps
        if snapshot_every is not None and (snapshot_every < 1 or inner != num_inference_steps or snapshot_every > max(steps, 1)):
            raise ValueError(
                f"snapshot_every={snapshot_every} needs the exact procedure (inner_steps equal to num_inference_steps, "
                f"here {inner} and {num_inference_steps}) and a value in 1..steps ({steps})"
            )
        goal = {name: torch.as_tensor(np.asarray(value), dtype=torch.float32, device=self.device) for name, value in targets.items()}
        weights = stage2_weights(goal, layer_weights, self.clip_features.sizes)
        z = torch.as_tensor(np.asarray(init_latents), dtype=torch.float32, device=self.device).clone().requires_grad_(True)
        c = self.to_context(text_conditioning).clone().requires_grad_(optimize_conditioning)
        params = [z, c] if optimize_conditioning else [z]
        optimizer = torch.optim.Adam(params, lr=lr)
        decay = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=lr_decay)
        generators = self.noise_generators(seeds)
        drawn = self.draw_noise(generators)
        history, snapshot = [], None
        for step in tqdm(range(steps + 1), desc="stage 2 refinement", unit="step", disable=None):
            last = step == steps
            if noise == "fresh" and step > 0:
                drawn = self.draw_noise(generators)
            with torch.set_grad_enabled(not last):
                latents = self._sample(c, z, drawn, strength, guidance_scale, inner, schedule, checkpoint=checkpoint)
                pixels = (self.decode_pixels(latents) + 1.0) / 2.0
                loss = stage2_loss(self.clip_features(pixels), goal, weights, cosine_weight)
            history.append(loss.detach().cpu().numpy())
            if snapshot_every is not None and not last and step % snapshot_every == 0:
                snapshot = (latents.detach(), z.detach().clone())
            if last:
                break
            optimizer.zero_grad(set_to_none=True)
            loss.sum().backward()
            optimizer.step()
            decay.step()
        logger.info("stage 2: mean feature loss %.4g -> %.4g over %d steps", history[0].mean(), history[-1].mean(), steps)
        if snapshot is not None:
            latents, z = snapshot
        elif inner != num_inference_steps:  # the exact procedure's last pass already ran the full schedule
            with torch.no_grad():
                latents = self._sample(c, z, drawn, strength, guidance_scale, num_inference_steps, schedule, checkpoint=False)
        return RefineResult(self.decode(latents), z.detach().cpu().numpy(), np.stack(history).astype(np.float32))

    def check_inputs(
        self,
        text_conditioning: np.ndarray | torch.Tensor,
        init_latents: np.ndarray | torch.Tensor | None,
        seeds: Sequence[int],
        strength: float,
    ) -> None:
        """Shapes of the conditioning, latents and seeds; strength in [0, 1]."""
        expected = {"text_conditioning": (text_conditioning, self.text_shape), "init_latents": (init_latents, self.latent_shape)}
        for name, (value, shape) in expected.items():
            if value is not None and (value.ndim != len(shape) + 1 or tuple(value.shape[1:]) != tuple(shape)):
                raise ValueError(f"{name} must have shape (batch, {', '.join(map(str, shape))}), got {tuple(value.shape)}")
        sizes = {len(seeds), len(text_conditioning)} | ({len(init_latents)} if init_latents is not None else set())
        if len(sizes) != 1:
            raise ValueError(f"inputs and seeds disagree on the batch size: {sorted(sizes)}")
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must lie in [0, 1], got {strength}")

    def _sample(self, cond, init_latents, noise, strength, guidance_scale, num_inference_steps, schedule, *, checkpoint):
        """Noise ``init_latents`` (or start from noise) and denoise with guidance; returns latents."""
        steps = self.schedule(num_inference_steps, None if init_latents is None else strength, schedule)
        latents = self.prepare_latents(init_latents, steps, noise)
        context = torch.cat([self.uncond.expand(len(cond), -1, -1), cond]) if guidance_scale > 1.0 else cond
        return self.denoise(latents, steps.timesteps, context, guidance_scale, checkpoint=checkpoint, progress=False)
