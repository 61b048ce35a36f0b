"""Encoders of the diffusion models' inputs: VAE latents, CLIP image tokens and CLIP text tokens, as the models consume them.

The models own their encoders (as diffusers pipelines own ``encode_prompt``
and ``encode_image``): the stimulus features (:mod:`nsdrecon.features`), the
reconstructions' unconditional contexts (:mod:`nsdrecon.diffusion`) and the
tiny models' training all call these, so the three can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from diffusers import AutoencoderKL
from PIL import Image
from tqdm.auto import tqdm
from transformers import CLIPImageProcessor, CLIPImageProcessorPil

from nsdrecon.images import check_images
from nsdrecon.models.stable_diffusion import StableDiffusion
from nsdrecon.models.versatile_diffusion import VersatileDiffusion

__all__ = [
    "BRAIN_DIFFUSER_SIZE",
    "CLIP_IMAGE_INPUTS",
    "brain_diffuser_pixels",
    "clip_image_batch",
    "clip_pixel_values",
    "clip_text_batch",
    "encode_clip_image_tokens",
    "encode_clip_text_tokens",
    "encode_vae_latents",
    "latent_batch",
    "sd_text_batch",
    "vae_latent_batch",
]


CLIP_IMAGE_INPUTS = ("processor", "brain_diffuser")
"""How a stimulus reaches VD's CLIP image encoder (:func:`clip_image_batch`)."""
BRAIN_DIFFUSER_SIZE = 512
"""Brain-Diffuser resizes every stimulus to 512 px before VD's encoders (``clipvision_extract_features.py``)."""


def encode_vae_latents(vd: VersatileDiffusion, images_uint8: Any, batch_size: int = 32) -> np.ndarray:
    """VAE latents of images, scaled as the UNet sees them.

    Parameters
    ----------
    vd : VersatileDiffusion
        Needs ``vae``.
    images_uint8 : array-like of shape (n_images, height, width, 3), uint8
        Anything sliceable along the first axis (a NumPy array, an h5py dataset).
        Images are resized to ``vd.image_size`` (antialiased bicubic).
    batch_size : int, default=32

    Returns
    -------
    ndarray of shape (n_images, C, h, w), float32
        ``latent_dist.mean * vae.config.scaling_factor``.
    """
    return _map_batches(lambda batch: latent_batch(vd, batch), images_uint8, batch_size, "VAE latents")


def encode_clip_image_tokens(vd: VersatileDiffusion, images_uint8: Any, batch_size: int = 32) -> np.ndarray:
    """CLIP image context tokens of images, normalised as Versatile Diffusion does.

    Parameters
    ----------
    vd : VersatileDiffusion
        Needs ``image_encoder`` and ``image_processor``.
    images_uint8 : array-like of shape (n_images, height, width, 3), uint8
    batch_size : int, default=32

    Returns
    -------
    ndarray of shape (n_images, n_image_tokens, dim), float32
        ``visual_projection(post_layernorm(last_hidden_state))`` divided by the
        norm of its first (CLS) token, so token 0 has norm 1.
    """
    return _map_batches(lambda batch: clip_image_batch(vd, batch), images_uint8, batch_size, "CLIP image")


def encode_clip_text_tokens(
    vd: VersatileDiffusion, captions: Sequence[Sequence[str]], batch_size: int = 32
) -> np.ndarray:
    """CLIP text context tokens, normalised as Versatile Diffusion does, averaged over each image's captions.

    Parameters
    ----------
    vd : VersatileDiffusion
        Needs ``text_encoder`` and ``tokenizer``.
    captions : sequence of n_images sequences of str
        The captions of each image (at least one per image).
    batch_size : int, default=32
        Images per forward pass (all their captions go together).

    Returns
    -------
    ndarray of shape (n_images, 77, dim), float32
        Mean over an image's captions of ``text_projection(last_hidden_state)``
        divided by the norm of the pooled (EOS) embedding.
    """
    return _map_batches(lambda batch: clip_text_batch(vd, batch), captions, batch_size, "CLIP text")


def _map_batches(encode: Callable[[Any], np.ndarray], items: Any, batch_size: int, desc: str) -> np.ndarray:
    """Apply ``encode`` to consecutive slices of ``items`` and stack the results."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    starts = range(0, len(items), batch_size)
    parts = [encode(items[start : start + batch_size]) for start in tqdm(starts, desc=desc, unit="batch", disable=None)]
    return np.concatenate(parts)


def latent_batch(vd: VersatileDiffusion | StableDiffusion, images: np.ndarray, sample_seeds: Sequence[int] | None = None) -> np.ndarray:
    """(B, H, W, 3) uint8 -> (B, C, h, w) float32 scaled latents of the model's VAE (see :func:`vae_latent_batch`)."""
    return vae_latent_batch(vd.vae, vd.image_size, images, sample_seeds)


@torch.inference_mode()
def vae_latent_batch(
    vae: AutoencoderKL, image_size: int, images: np.ndarray, sample_seeds: Sequence[int] | None = None
) -> np.ndarray:
    """(B, H, W, 3) uint8 -> (B, C, h, w) float32 scaled latents, images resized to ``image_size``.

    The posterior mean, or with ``sample_seeds`` one posterior sample per image (mean + std·ε, ε from a CPU
    generator seeded by the image's seed), as Brain-Diffuser's ``autokl_encode`` and MindDiffuser's
    ``get_first_stage_encoding`` draw them.
    """
    pixels = torch.from_numpy(check_images("images", images)).to(vae.device).permute(0, 3, 1, 2).float()
    if pixels.shape[-2:] != (image_size, image_size):
        pixels = torch.nn.functional.interpolate(
            pixels, size=(image_size, image_size), mode="bicubic", antialias=True, align_corners=False
        )
    pixels = (pixels / 127.5 - 1.0).clamp(-1.0, 1.0).to(vae.dtype)
    posterior = vae.encode(pixels).latent_dist
    if sample_seeds is None:
        latents = posterior.mean
    else:
        if len(sample_seeds) != len(images):
            raise ValueError(f"one sample seed per image: {len(sample_seeds)} seeds for {len(images)} images")
        latents = posterior.sample(generator=[torch.Generator("cpu").manual_seed(int(seed)) for seed in sample_seeds])
    return (latents * vae.config.scaling_factor).float().cpu().numpy()


def brain_diffuser_pixels(images: np.ndarray) -> np.ndarray:
    """Stimuli as Brain-Diffuser hands them to the CLIP processor: uint8 (B, 512, 512, 3).

    ``clipvision_extract_features.py`` resizes with ``T.functional.resize(img, (512, 512))`` (PIL bilinear),
    ``to_tensor`` and ``*2 - 1``; ``VD.clip_encode_vision`` maps back with ``(x + 1) / 2`` and transformers 4.19's
    feature extractor turns the float image into uint8 by ``(x * 255).astype(np.uint8)``, which truncates: the
    float32 round trip drops some pixels by one grey level.
    """
    out = []
    for image in check_images("images", images):
        resized = Image.fromarray(image).resize((BRAIN_DIFFUSER_SIZE, BRAIN_DIFFUSER_SIZE), Image.BILINEAR)
        x = np.asarray(resized).astype(np.float32) / np.float32(255.0)
        x = ((x * 2 - 1) + 1) / 2
        out.append((x * 255).astype(np.uint8))
    return np.stack(out)


def clip_pixel_values(
    processor: CLIPImageProcessor, images: np.ndarray, image_input: str = "processor", device: torch.device | None = None
) -> torch.Tensor:
    """CLIP's input (B, 3, side, side) of uint8 stimuli (B, H, W, 3), by :data:`CLIP_IMAGE_INPUTS`.

    ``processor`` hands the stimuli to the model's image processor (what diffusers' pipeline does);
    ``brain_diffuser`` first makes them :func:`brain_diffuser_pixels`, then uses CLIP's PIL processor with the
    same configuration, which resizes and crops as transformers 4.19 did. ``device``: where the
    ``processor`` path resizes (torchvision).
    """
    if image_input == "processor":
        pixels = torch.from_numpy(check_images("images", images)).permute(0, 3, 1, 2)
        return processor(images=pixels, return_tensors="pt", device=device).pixel_values
    if image_input == "brain_diffuser":
        pil = CLIPImageProcessorPil.from_dict(processor.to_dict())
        return pil(images=list(brain_diffuser_pixels(images)), return_tensors="pt").pixel_values
    raise ValueError(f"image_input must be one of {list(CLIP_IMAGE_INPUTS)}, got {image_input!r}")


@torch.inference_mode()
def clip_image_batch(vd: VersatileDiffusion, images: np.ndarray, image_input: str = "processor") -> np.ndarray:
    """(B, H, W, 3) uint8 -> (B, n_image_tokens, dim) float32, VD's ``_encode_image_prompt`` (input: :func:`clip_pixel_values`)."""
    encoder = vd.image_encoder
    pixel_values = clip_pixel_values(vd.image_processor, images, image_input, encoder.device)
    hidden = encoder(pixel_values.to(encoder.device, encoder.dtype)).last_hidden_state
    tokens = encoder.visual_projection(encoder.vision_model.post_layernorm(hidden))
    tokens = tokens / torch.linalg.vector_norm(tokens[:, :1], dim=-1, keepdim=True)
    return tokens.float().cpu().numpy()


@torch.inference_mode()
def clip_text_batch(vd: VersatileDiffusion, captions: Sequence[Sequence[str]]) -> np.ndarray:
    """B caption lists -> (B, 77, dim) float32, VD's ``_encode_text_prompt`` averaged per image."""

    def encode(input_ids: torch.Tensor) -> torch.Tensor:
        output = vd.text_encoder(input_ids)
        tokens = vd.text_encoder.text_projection(output.last_hidden_state)
        return tokens / torch.linalg.vector_norm(output.text_embeds, dim=-1, keepdim=True)[:, None]

    return _caption_mean(vd.tokenizer, vd.text_encoder.device, encode, captions)


@torch.inference_mode()
def sd_text_batch(sd: StableDiffusion, captions: Sequence[Sequence[str]], context_tokens: int | None = None) -> np.ndarray:
    """B caption lists -> (B, tokens, dim) float32: SD's text conditioning (last hidden state) averaged per image.

    ``context_tokens`` (default: the tokenizer's 77) is the context length: captions are padded or cut to it, the
    last kept token the end token, as LDM's ``FrozenCLIPEmbedder(max_length=...)`` (MindDiffuser: 15).
    """
    return _caption_mean(
        sd.tokenizer, sd.text_encoder.device, lambda ids: sd.text_encoder(ids).last_hidden_state, captions, context_tokens
    )


def _caption_mean(
    tokenizer,
    device: torch.device,
    encode: Callable[[torch.Tensor], torch.Tensor],
    captions: Sequence[Sequence[str]],
    max_length: int | None = None,
) -> np.ndarray:
    """Tokenize every caption (padded or cut to ``max_length``, default the model length), encode, average per image."""
    if any(isinstance(image_captions, str) for image_captions in captions):
        raise ValueError("captions must hold one list of captions per image, got a bare string")
    counts = np.array([len(image_captions) for image_captions in captions])
    if (counts == 0).any():
        empty = np.flatnonzero(counts == 0).tolist()
        raise ValueError(f"every image needs at least one caption; images {empty} of this batch have none")
    flat = [caption for image_captions in captions for caption in image_captions]
    input_ids = tokenizer(
        flat, padding="max_length", max_length=max_length or tokenizer.model_max_length, truncation=True, return_tensors="pt"
    ).input_ids.to(device)
    tokens = encode(input_ids)
    image_index = torch.from_numpy(np.repeat(np.arange(len(captions)), counts)).to(tokens.device)
    sums = torch.zeros((len(captions), *tokens.shape[1:]), dtype=torch.float32, device=tokens.device)
    sums.index_add_(0, image_index, tokens.float())
    return (sums / torch.from_numpy(counts).to(sums)[:, None, None]).cpu().numpy()
