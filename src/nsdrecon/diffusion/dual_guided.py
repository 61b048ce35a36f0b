"""HAVIR's fusion step: Versatile Diffusion dual-guided img2img from predicted embeddings.

diffusers 0.42 still ships ``VersatileDiffusionDualGuidedPipeline``, but it cannot
serve here: its ``DualTransformer2DModel.forward`` rejects the
``encoder_attention_mask`` that today's UNet blocks pass (the UNet fails on its
first forward), it takes raw text and images instead of embeddings, and it has
no img2img strength. This module is a small pipeline over the same components:

1. ``check_inputs``: shapes of the predicted tokens, latents and seeds;
2. ``prepare_conditioning``: context ``[text, image]`` concatenated along the
   tokens, unconditional half first for classifier-free guidance;
3. the img2img steps shared with MindDiffuser (:mod:`nsdrecon.diffusion.img2img`):
   where the decoded latent is noised and which DDIM steps denoise it (50 steps
   at strength 0.75: diffusers' 37 steps from t=721, or Brain-Diffuser's noise
   at t=741 then 37 steps from t=721), per-image seeded noise, the guided
   denoising loop and VAE decoding.

The mix ratio follows diffusers: it weights the **text** side, so
``mix_ratio_text=0.4`` is Brain-Diffuser's image 0.6 / text 0.4.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence

import numpy as np
import torch
from diffusers import Transformer2DModel, UNet2DConditionModel
from diffusers.models import DualTransformer2DModel
from diffusers.models.modeling_outputs import Transformer2DModelOutput

from nsdrecon.diffusion.img2img import LatentImg2Img
from nsdrecon.models.encoders import encode_clip_image_tokens, encode_clip_text_tokens
from nsdrecon.models.versatile_diffusion import VersatileDiffusion

logger = logging.getLogger(__name__)

__all__ = [
    "UNCOND_IMAGES",
    "DualGuidedReconstructor",
    "MaskTolerantDualTransformer",
    "build_dual_guided_unet",
    "set_mix_ratio",
]

UNCOND_IMAGES = {"black": 0, "grey": 127}
"""Pixel value of the image whose CLIP tokens are the unconditional image context.

``grey`` is Brain-Diffuser's (ozcelikfu/brain-diffuser, ``scripts/versatilediffusion_reconstruct_images.py``):
it encodes ``torch.zeros((1, 3, 224, 224))`` in VD's [-1, 1] convention, which ``VD.clip_encode_vision`` maps to
0.5 and transformers 4.19's CLIP feature extractor truncates to the uint8 value 127 (golden values:
``tests/test_authors_protocols.py``). ``black`` is what the tiny models were trained with, and within half a
grey level of what diffusers' ``VersatileDiffusionDualGuidedPipeline`` passes today: a 0.5 float image that
transformers 5's ``CLIPImageProcessor`` rescales by 1/255 once more (pixel value 0.5 of 255)."""

TEXT_CONDITION, IMAGE_CONDITION = 0, 1  # order of the two contexts in the concatenated tokens


class MaskTolerantDualTransformer(DualTransformer2DModel):
    """``DualTransformer2DModel`` over two existing transformers, accepting today's UNet arguments.

    ``transformers[0]`` is the image UNet's transformer, ``transformers[1]`` the
    text UNet's. The context holds ``condition_lengths[0]`` text tokens then
    ``condition_lengths[1]`` image tokens; ``mix_ratio`` weights the text side.
    The parent's ``__init__`` is skipped on purpose: it would build (and
    randomly initialise) two transformers only to throw them away.
    """

    def __init__(
        self, image_transformer: Transformer2DModel, text_transformer: Transformer2DModel, n_text: int, n_image: int
    ) -> None:
        torch.nn.Module.__init__(self)
        self.transformers = torch.nn.ModuleList([image_transformer, text_transformer])
        self.mix_ratio = 0.5
        self.condition_lengths = [n_text, n_image]
        self.transformer_index_for_condition = [1, 0]

    def forward(
        self,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        timestep: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cross_attention_kwargs: dict | None = None,
        return_dict: bool = True,
        encoder_attention_mask: torch.Tensor | None = None,
    ):
        """Diffusers' dual forward; ``encoder_attention_mask`` (always ``None`` here) is dropped.

        At ``mix_ratio`` 0 or 1 (image-only or text-only guidance) only the
        transformer with weight 1 runs: the other's term is multiplied by 0,
        so the result is the same, bit for bit, at half the cost.
        """
        if encoder_attention_mask is not None:
            raise ValueError("the dual-guided UNet takes no encoder_attention_mask (all context tokens are attended)")
        if isinstance(self.mix_ratio, (int, float)) and self.mix_ratio in (0, 1):  # training mixes per sample (a tensor)
            condition = 0 if self.mix_ratio == 1.0 else 1  # the condition (text 0, image 1) with weight 1
            start = sum(self.condition_lengths[:condition])
            encoded = self.transformers[self.transformer_index_for_condition[condition]](
                hidden_states,
                encoder_hidden_states=encoder_hidden_states[:, start : start + self.condition_lengths[condition]],
                timestep=timestep,
                cross_attention_kwargs=cross_attention_kwargs,
                return_dict=False,
            )[0]
            output = (encoded - hidden_states) + hidden_states
            return (output,) if not return_dict else Transformer2DModelOutput(sample=output)
        return super().forward(
            hidden_states,
            encoder_hidden_states,
            timestep=timestep,
            attention_mask=attention_mask,
            cross_attention_kwargs=cross_attention_kwargs,
            return_dict=return_dict,
        )


def build_dual_guided_unet(vd: VersatileDiffusion) -> UNet2DConditionModel:
    """The image UNet with every ``Transformer2DModel`` paired with the text UNet's.

    As diffusers' ``_convert_to_dual_attention``, but on a structural copy: the
    returned UNet shares every parameter with ``vd.image_unet`` and
    ``vd.text_unet`` (no weights are copied) and ``vd.image_unet`` is left as it
    was. Condition lengths are ``[n_text_tokens, n_image_tokens]`` and the
    transformer for each condition ``[1, 0]`` (text tokens to the text
    transformer); set ``mix_ratio`` with :func:`set_mix_ratio`.

    Parameters
    ----------
    vd : VersatileDiffusion
        Needs ``image_unet``, ``text_unet``, ``tokenizer`` and both CLIP encoders
        (for the token counts).

    Returns
    -------
    UNet2DConditionModel
        Takes context of shape (batch, n_text + n_image, dim).
    """
    image_unet, text_unet = vd.image_unet, vd.text_unet
    if image_unet is None or text_unet is None:
        raise ValueError(
            f"the dual-guided UNet needs both image_unet and text_unet; {vd.source} was loaded without one"
        )
    shared = {id(tensor): tensor for tensor in (*image_unet.parameters(), *image_unet.buffers())}
    dual_unet = copy.deepcopy(image_unet, memo=shared)
    n_text, n_image = vd.text_tokens[0], vd.image_tokens[0]
    names = [name for name, module in dual_unet.named_modules() if isinstance(module, Transformer2DModel)]
    for name in names:
        parent_name, index = name.rsplit(".", 1)
        image_transformer = dual_unet.get_submodule(name)
        text_transformer = text_unet.get_submodule(name)
        dual_unet.get_submodule(parent_name)[int(index)] = MaskTolerantDualTransformer(
            image_transformer, text_transformer, n_text, n_image
        )
    dual_unet.register_to_config(dual_cross_attention=True)
    logger.info(
        "dual-guided UNet: %d dual transformers, context %d text + %d image tokens", len(names), n_text, n_image
    )
    return dual_unet


def set_mix_ratio(dual_unet: UNet2DConditionModel, mix_ratio_text: float) -> None:
    """Set the weight of the text side in every dual transformer (image side: ``1 - mix_ratio_text``)."""
    if not 0.0 <= mix_ratio_text <= 1.0:
        raise ValueError(f"mix_ratio_text must lie in [0, 1], got {mix_ratio_text}")
    for module in dual_unet.modules():
        if isinstance(module, DualTransformer2DModel):
            module.mix_ratio = mix_ratio_text


class DualGuidedReconstructor(LatentImg2Img):
    """Dual-guided img2img from predicted CLIP tokens and a predicted VAE latent.

    Parameters
    ----------
    vd : VersatileDiffusion
        Every component: the UNets, the VAE and the scheduler, plus both CLIP
        encoders, the tokenizer and the image processor for the unconditional
        context.
    mix_ratio_text : float, default=0.4
        Weight of the text side of the dual attention (Brain-Diffuser: 0.4).
    uncond_image : {"black", "grey"}, default="black"
        Unconditional image context: CLIP tokens of a black image (the tiny
        models' training; near diffusers' pipeline) or of Brain-Diffuser's grey
        one (pixel value 127), see :data:`UNCOND_IMAGES`. The unconditional
        text context is the tokens of the empty caption.
    """

    def __init__(self, vd: VersatileDiffusion, *, mix_ratio_text: float = 0.4, uncond_image: str = "black") -> None:
        if uncond_image not in UNCOND_IMAGES:
            raise ValueError(f"uncond_image must be one of {sorted(UNCOND_IMAGES)}, got {uncond_image!r}")
        self.vd = vd
        super().__init__(build_dual_guided_unet(vd), vd.vae, vd.scheduler, vd.latent_shape)
        set_mix_ratio(self.unet, mix_ratio_text)  # validates the ratio
        self.mix_ratio_text = mix_ratio_text
        side = vd.image_encoder.config.image_size
        blank = np.full((1, side, side, 3), UNCOND_IMAGES[uncond_image], dtype=np.uint8)
        self.uncond_image_tokens = self.to_context(encode_clip_image_tokens(vd, blank, batch_size=1))
        self.uncond_text_tokens = self.to_context(encode_clip_text_tokens(vd, [[""]], batch_size=1))

    @torch.inference_mode()
    def __call__(
        self,
        image_tokens: np.ndarray | torch.Tensor | None,
        text_tokens: np.ndarray | torch.Tensor | None,
        init_latents: np.ndarray | torch.Tensor | None,
        *,
        strength: float = 0.75,
        guidance_scale: float = 7.5,
        num_inference_steps: int = 50,
        schedule: str = "diffusers",
        seeds: Sequence[int],
        output_type: str = "np",
    ) -> np.ndarray:
        """Reconstruct one image per row of the inputs.

        Parameters
        ----------
        image_tokens : array of shape (batch, n_image_tokens, dim) or None
            Predicted CLIP image context; ``None`` guides by text alone (mix
            ratio 1 on the text side).
        text_tokens : array of shape (batch, n_text_tokens, dim) or None
            Predicted CLIP text context; ``None`` guides by image alone.
        init_latents : array of shape (batch, C, h, w) or None
            Predicted VAE latent (scaled as the UNet sees it), noised to the
            strength's timestep; ``None`` starts from pure noise and runs the
            whole schedule (ablation without the structural prior; ``strength``
            is then unused).
        strength : float, default=0.75
            Fraction of the schedule re-run from the noised latent; 0 returns
            the decoded ``init_latents`` unchanged.
        guidance_scale : float, default=7.5
            Classifier-free guidance scale; at most 1 disables guidance.
        num_inference_steps : int, default=50
            DDIM steps of the full schedule.
        schedule : {"diffusers", "brain_diffuser"}, default="diffusers"
            Where the latent is noised and which steps denoise it
            (:data:`nsdrecon.diffusion.img2img.SCHEDULES`).
        seeds : sequence of int
            One seed per image for its noise.
        output_type : {"np", "latent"}, default="np"

        Returns
        -------
        ndarray
            ``"np"``: uint8 images of shape (batch, H, W, 3); ``"latent"``:
            float32 latents of shape (batch, C, h, w).
        """
        # 1. check inputs
        batch_size = self.check_inputs(
            image_tokens, text_tokens, init_latents, strength, num_inference_steps, seeds, output_type
        )
        do_guidance = guidance_scale > 1.0

        # 2. conditioning: [text, image] context, unconditional rows first
        context, mix_ratio = self.prepare_conditioning(image_tokens, text_tokens, batch_size, do_guidance)
        set_mix_ratio(self.unet, mix_ratio)

        # 3. timesteps: where the latent is noised and the steps that denoise it
        steps = self.schedule(num_inference_steps, None if init_latents is None else strength, schedule)

        # 4. starting latents, one generator per image
        latents = self.prepare_latents(init_latents, steps, self.draw_noise(self.noise_generators(seeds)))

        # 5. denoising loop with guidance
        latents = self.denoise(latents, steps.timesteps, context, guidance_scale)

        # 6. decode
        if output_type == "latent":
            return latents.float().cpu().numpy()
        return self.decode(latents)

    def check_inputs(
        self,
        image_tokens: np.ndarray | torch.Tensor | None,
        text_tokens: np.ndarray | torch.Tensor | None,
        init_latents: np.ndarray | torch.Tensor | None,
        strength: float,
        num_inference_steps: int,
        seeds: Sequence[int],
        output_type: str,
    ) -> int:
        """Validate shapes and options; return the batch size."""
        if image_tokens is None and text_tokens is None:
            raise ValueError("at least one of image_tokens and text_tokens is needed")
        expected = {
            "image_tokens": (image_tokens, self.vd.image_tokens),
            "text_tokens": (text_tokens, self.vd.text_tokens),
            "init_latents": (init_latents, self.vd.latent_shape),
        }
        batch_sizes = set()
        for name, (value, shape) in expected.items():
            if value is None:
                continue
            if tuple(value.shape[1:]) != tuple(shape) or value.ndim != len(shape) + 1:
                raise ValueError(
                    f"{name} must have shape (batch, {', '.join(map(str, shape))}), got {tuple(value.shape)}"
                )
            batch_sizes.add(value.shape[0])
        batch_sizes.add(len(seeds))
        if len(batch_sizes) != 1:
            raise ValueError(f"inputs and seeds disagree on the batch size: {sorted(batch_sizes)}")
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must lie in [0, 1], got {strength}")
        if num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be positive, got {num_inference_steps}")
        if output_type not in ("np", "latent"):
            raise ValueError(f"output_type must be 'np' or 'latent', got {output_type!r}")
        return batch_sizes.pop()

    def prepare_conditioning(
        self,
        image_tokens: np.ndarray | torch.Tensor | None,
        text_tokens: np.ndarray | torch.Tensor | None,
        batch_size: int,
        do_guidance: bool,
    ) -> tuple[torch.Tensor, float]:
        """Context of shape ((2 if guided else 1) * batch, n_text + n_image, dim) and the text mix ratio.

        An absent context is filled with the unconditional one and gets weight 0.
        """
        mix_ratio = self.mix_ratio_text
        if image_tokens is None:
            mix_ratio = 1.0
        if text_tokens is None:
            mix_ratio = 0.0
        uncond = torch.cat([self.uncond_text_tokens, self.uncond_image_tokens], dim=1).expand(batch_size, -1, -1)
        text = uncond[:, : self.vd.text_tokens[0]] if text_tokens is None else self.to_context(text_tokens)
        image = uncond[:, self.vd.text_tokens[0] :] if image_tokens is None else self.to_context(image_tokens)
        cond = torch.cat([text, image], dim=1)
        context = torch.cat([uncond, cond]) if do_guidance else cond
        return context, mix_ratio
