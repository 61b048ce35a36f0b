"""Train the tiny CLIP contrastively on scene/caption pairs: one text tower, two vision towers.

The text tower (``CLIPTextModelWithProjection``) is Versatile Diffusion's text
encoder and, without its projection (``CLIPTextModel``), Stable Diffusion's.
Vision tower ``"vd"`` (patch 8) is Versatile Diffusion's image encoder and
the CLIP metric network; vision tower ``"md"`` (patch 16, standing in for
ViT-B/32) is the network whose layer features MindDiffuser decodes and
matches, so that stage 2 never optimises the network that scores it, as on
real NSD (ViT-B/32 refined, ViT-L/14 measured). Each vision tower has its own
symmetric InfoNCE loss against the shared text tower (CLIP's loss, learnable
temperature); each step pairs every scene with one of its five captions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from transformers import CLIPTextModelWithProjection, CLIPTokenizer, CLIPVisionModelWithProjection

from nsdrecon.images import CLIP_MEAN, CLIP_STD
from nsdrecon.tiny_models.loop import optimise

__all__ = ["caption_retrieval", "clip_pixels", "tokenize", "train_clip"]


def clip_pixels(images: np.ndarray, side: int) -> torch.Tensor:
    """uint8 (n, S, S, 3) -> CLIP-normalised float (n, 3, side, side), resized as ``CLIPImageProcessor`` does."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    if x.shape[-1] != side:
        x = F.interpolate(x, size=(side, side), mode="bicubic", antialias=True, align_corners=False)
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def tokenize(tokenizer: CLIPTokenizer, captions: Sequence[Sequence[str]]) -> torch.Tensor:
    """Token ids (n_images, n_captions, L) padded to the longest caption.

    CLIP's text attention is causal and its pooled output is the first
    end-of-text token, so ids padded to ``L`` < 77 give the same embeddings
    as ids padded to 77: training uses the shorter, cheaper form.
    """
    flat = [caption for image_captions in captions for caption in image_captions]
    ids = tokenizer(flat, padding="longest", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt")
    return ids.input_ids.view(len(captions), -1, ids.input_ids.shape[-1])


def _info_nce(image_embeds: torch.Tensor, text_embeds: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    image_embeds = F.normalize(image_embeds, dim=-1)
    text_embeds = F.normalize(text_embeds, dim=-1)
    logits = log_scale.exp().clamp(max=100) * image_embeds @ text_embeds.T
    labels = torch.arange(len(logits))
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def train_clip(
    text: CLIPTextModelWithProjection,
    visions: Mapping[str, CLIPVisionModelWithProjection],
    tokenizer: CLIPTokenizer,
    images: np.ndarray,
    captions: Sequence[Sequence[str]],
    *,
    steps: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
) -> list[float]:
    """Fit the text tower and every vision tower (in place) contrastively; returns the summed losses."""
    ids = tokenize(tokenizer, captions)
    pixels = {name: clip_pixels(images, vision.config.image_size) for name, vision in visions.items()}
    log_scales = torch.nn.ParameterDict({name: torch.nn.Parameter(torch.tensor(np.log(1 / 0.07))) for name in visions})
    modules = [text, *visions.values()]
    for module in modules:
        module.train().requires_grad_(True)

    def loss_of_batch(rows: np.ndarray, generator: torch.Generator) -> torch.Tensor:
        choice = torch.randint(ids.shape[1], (len(rows),), generator=generator)
        batch_ids = ids[torch.from_numpy(rows), choice]
        batch_ids = batch_ids[:, : int((batch_ids != tokenizer.pad_token_id).sum(1).max()) + 1]
        text_embeds = text(batch_ids).text_embeds
        loss = 0.0
        for name, vision in visions.items():
            image_embeds = vision(pixel_values=pixels[name][rows]).image_embeds
            loss = loss + _info_nce(image_embeds, text_embeds, log_scales[name])
        return loss

    params = [p for module in modules for p in module.parameters()] + list(log_scales.parameters())
    losses = optimise(
        params, loss_of_batch, n_items=len(images), steps=steps, batch_size=batch_size, lr=lr, seed=seed,
        desc="CLIP", weight_decay=0.1,
    )
    for module in modules:
        module.eval().requires_grad_(False)
    return losses


@torch.no_grad()
def caption_retrieval(
    text: CLIPTextModelWithProjection,
    vision: CLIPVisionModelWithProjection,
    tokenizer: CLIPTokenizer,
    images: np.ndarray,
    captions: Sequence[Sequence[str]],
) -> float:
    """Caption -> image top-1 accuracy: every caption of every scene against all ``len(images)`` scenes."""
    ids = tokenize(tokenizer, captions)
    n_images, n_captions = ids.shape[:2]
    text_embeds = F.normalize(text(ids.flatten(0, 1)).text_embeds, dim=-1)
    image_embeds = F.normalize(vision(pixel_values=clip_pixels(images, vision.config.image_size)).image_embeds, dim=-1)
    best = (text_embeds @ image_embeds.T).argmax(dim=1)
    truth = torch.arange(n_images).repeat_interleave(n_captions)
    return float((best == truth).float().mean())
