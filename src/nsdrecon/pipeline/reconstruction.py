"""Stage ``reconstruct``: HAVIR's dual-guided diffusion and MindDiffuser's two stages (the baseline: :mod:`.pixel_ridge`)."""

from __future__ import annotations

import logging

import numpy as np
from tqdm.auto import tqdm

from ..diffusion import DualGuidedReconstructor, MindDiffuserReconstructor, complete_text_conditioning
from ..feature_files import layer_number
from ..models import ClipLayerFeatures, load_clip_vision, load_stable_diffusion, load_versatile_diffusion, resolve_device, torch_dtype
from ..prediction_files import read_havir_inputs, read_minddiffuser_inputs
from ..resumable import RowWriter, inputs_digest
from ..settings import HAVIR_METHODS, HavirSampler, MindDiffuserSampler, ModelSource

logger = logging.getLogger(__name__)


def run_havir(
    *, structural, semantic, model: ModelSource, sampler: HavirSampler, method: str,
    device: str, batch_size: int, dtype: str, out_path,
) -> None:
    """Images from decoded latents and CLIP tokens; the ablation ``method`` drops one input.

    ``havir_no_structure`` starts from pure noise, ``havir_no_text`` and
    ``havir_no_image`` leave out one guidance; ``havir`` and ``havir_oracle`` use all
    (the oracle's files hold the true features). Written batch by batch: a killed run
    keeps its finished images and resumes after them.
    """
    if method not in HAVIR_METHODS:
        raise ValueError(f"method {method!r} is not HAVIR's; one of {HAVIR_METHODS}")
    use = {"structure": method != "havir_no_structure", "text": method != "havir_no_text", "image": method != "havir_no_image"}
    inputs = read_havir_inputs(structural, semantic)
    ids = inputs.nsd_id
    vd = load_versatile_diffusion(
        model.id, random_init=model.random_init, seed=model.seed, device=resolve_device(device), dtype=torch_dtype(dtype),
    )
    recon = DualGuidedReconstructor(vd, mix_ratio_text=sampler.mix_ratio_text, uncond_image=sampler.uncond_image)
    rows = {"images": ((vd.image_size, vd.image_size, 3), "uint8")}
    attrs = {
        "model": model.id, "random_init": model.random_init, "model_seed": model.seed, "method": method,
        **sampler.model_dump(), **{f"use_{k}": v for k, v in use.items()},
        "inputs_digest": inputs_digest(ids, inputs.vae_latent, inputs.clip_image, inputs.clip_text),
    }
    with RowWriter(out_path, len(ids), rows, {"nsd_id": ids}, attrs) as out:
        for start in tqdm(range(out.done, len(ids), batch_size), desc="reconstruct", unit="batch", disable=None):
            sl = slice(start, start + batch_size)
            out.write(start, {"images": recon(
                inputs.clip_image[sl] if use["image"] else None,
                inputs.clip_text[sl] if use["text"] else None,
                inputs.vae_latent[sl] if use["structure"] else None,
                strength=sampler.strength if use["structure"] else 1.0,
                guidance_scale=sampler.guidance_scale,
                num_inference_steps=sampler.num_inference_steps,
                schedule=sampler.schedule,
                seeds=[sampler.seed + int(i) for i in ids[sl]],
            )})
        out.finish()


def run_minddiffuser(
    *, predictions, model: ModelSource, clip: ModelSource, sampler: MindDiffuserSampler, refine: bool,
    device: str, batch_size: int, dtype: str, out_path,
) -> None:
    """MindDiffuser's images from decoded SD text conditioning, SD latent and CLIP ViT-B/32 layer features.

    ``predictions``: :func:`nsdrecon.prediction_files.read_minddiffuser_inputs`. ``refine`` false
    stops after stage 1 (the ablation); with it, each image's stage-2 feature loss before every
    step and after the last is stored as ``stage2_loss``. Resumable per batch.
    """
    inputs = read_minddiffuser_inputs(predictions)
    ids = inputs.nsd_id
    device = resolve_device(device)
    sd = load_stable_diffusion(
        model.id, random_init=model.random_init, seed=model.seed, device=device, dtype=torch_dtype(dtype),
    )
    vision = load_clip_vision(clip.id, random_init=clip.random_init, seed=clip.seed, device=device)
    layers = [layer_number(name) for name in inputs.clip if layer_number(name) is not None]
    features = ClipLayerFeatures(vision, layers, inputs.clip_index, output=inputs.clip_output, preprocess=inputs.clip_input)
    text = complete_text_conditioning(inputs.sd_text, inputs.sd_text_tail)
    recon = MindDiffuserReconstructor(sd, features, context_tokens=text.shape[1])
    stage1 = sampler.model_dump(include={"strength", "guidance_scale", "num_inference_steps", "schedule"})
    rows = {"images": ((sd.image_size, sd.image_size, 3), "uint8")}
    if refine:
        rows["stage2_loss"] = ((sampler.stage2.steps + 1,), "float32")
    attrs = {
        "model": model.id, "clip": clip.id, "random_init": model.random_init, "refine": refine, **sampler.model_dump(),
        "inputs_digest": inputs_digest(ids, inputs.sd_latent, text, *inputs.clip.values(), *inputs.clip_index.values()),
    }
    with RowWriter(out_path, len(ids), rows, {"nsd_id": ids}, attrs) as out:
        for start in tqdm(range(out.done, len(ids), batch_size), desc="MindDiffuser", unit="batch", disable=None):
            sl = slice(start, start + batch_size)
            seeds = [sampler.seed + int(i) for i in ids[sl]]
            if refine:
                targets = {name: values[sl] for name, values in inputs.clip.items()}
                result = recon.refine(
                    text[sl], inputs.sd_latent[sl], targets, seeds=seeds, **stage1, **sampler.stage2.model_dump()
                )
                logger.info("batch %d: feature loss %.4g -> %.4g", start // batch_size, result.losses[0].mean(), result.losses[-1].mean())
                out.write(start, {"images": result.images, "stage2_loss": result.losses.T})
            else:
                out.write(start, {"images": recon.generate(text[sl], inputs.sd_latent[sl], seeds=seeds, **stage1)})
        out.finish()
