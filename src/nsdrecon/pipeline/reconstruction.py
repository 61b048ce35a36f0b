"""Stage ``reconstruct``: HAVIR's dual-guided diffusion and MindDiffuser's two stages (the baseline: :mod:`.pixel_ridge`)."""

from __future__ import annotations

import logging

import numpy as np
from tqdm.auto import tqdm

from ..diffusion import DualGuidedReconstructor, MindDiffuserReconstructor, complete_text_conditioning
from ..h5io import load_arrays
from ..models import ClipLayerFeatures, load_clip_vision, load_stable_diffusion, load_versatile_diffusion, resolve_device, torch_dtype
from ..resumable import RowWriter, inputs_digest

logger = logging.getLogger(__name__)


def run_havir(*, structural, semantic, model, device, batch_size, dtype, settings, out_path) -> None:
    """Images from decoded latents and CLIP tokens; ablations drop an input as ``settings`` say.

    Written batch by batch: a killed run keeps its finished images and resumes after them.
    """
    s_arrays, _ = load_arrays(structural, ["nsd_id", "vae_latent"])
    c_arrays, _ = load_arrays(semantic, ["nsd_id", "clip_image", "clip_text"])
    ids = s_arrays["nsd_id"]
    if not np.array_equal(ids, c_arrays["nsd_id"]):
        raise ValueError(f"{structural} and {semantic} hold different test images")
    vd = load_versatile_diffusion(
        model["id"], random_init=model["random_init"], seed=model["seed"],
        device=resolve_device(device), dtype=torch_dtype(dtype),
    )
    recon = DualGuidedReconstructor(vd, mix_ratio_text=settings["mix_ratio_text"], uncond_image=settings["uncond_image"])
    rows = {"images": ((vd.image_size, vd.image_size, 3), "uint8")}
    attrs = {
        "model": model["id"], "random_init": model["random_init"], "model_seed": model["seed"], **settings,
        "inputs_digest": inputs_digest(*s_arrays.values(), *c_arrays.values()),
    }
    with RowWriter(out_path, len(ids), rows, {"nsd_id": ids}, attrs) as out:
        for start in tqdm(range(out.done, len(ids), batch_size), desc="reconstruct", unit="batch", disable=None):
            sl = slice(start, start + batch_size)
            out.write(start, {"images": recon(
                c_arrays["clip_image"][sl] if settings["use_image"] else None,
                c_arrays["clip_text"][sl] if settings["use_text"] else None,
                s_arrays["vae_latent"][sl] if settings["use_structure"] else None,
                strength=settings["strength"] if settings["use_structure"] else 1.0,
                guidance_scale=settings["guidance_scale"],
                num_inference_steps=settings["num_inference_steps"],
                seeds=[settings["seed"] + int(i) for i in ids[sl]],
            )})
        out.finish()


def run_minddiffuser(*, predictions, model, clip, device, batch_size, dtype, settings, out_path) -> None:
    """MindDiffuser's images from decoded SD text conditioning, SD latent and CLIP ViT-B/32 layer features.

    ``predictions`` holds ``sd_latent``, ``sd_text`` (the decoded first tokens),
    ``sd_text_tail`` (the remaining tokens, train mean), and for every matched
    CLIP feature ``clip_<name>`` with its selected dimensions ``clip_<name>_index``.
    ``settings["refine"]`` false stops after stage 1 (the ablation). Resumable per batch.
    """
    arrays, _ = load_arrays(predictions)
    ids = arrays["nsd_id"]
    device = resolve_device(device)
    sd = load_stable_diffusion(
        model["id"], random_init=model["random_init"], seed=model["seed"], device=device, dtype=torch_dtype(dtype),
    )
    names = [key.removeprefix("clip_").removesuffix("_index") for key in arrays if key.endswith("_index")]
    vision = load_clip_vision(clip["id"], random_init=clip["random_init"], seed=clip["seed"], device=device)
    layers = [int(name.removeprefix("layer")) for name in names if name.startswith("layer")]
    selection = {name: arrays[f"clip_{name}_index"] for name in names}
    recon = MindDiffuserReconstructor(sd, ClipLayerFeatures(vision, layers, selection))
    text = complete_text_conditioning(arrays["sd_text"], arrays["sd_text_tail"])
    stage1 = {k: settings[k] for k in ("strength", "guidance_scale", "num_inference_steps")}
    rows = {"images": ((sd.image_size, sd.image_size, 3), "uint8")}
    attrs = {
        "model": model["id"], "clip": clip["id"], "random_init": model["random_init"], **settings,
        "inputs_digest": inputs_digest(*arrays.values()),
    }
    with RowWriter(out_path, len(ids), rows, {"nsd_id": ids}, attrs) as out:
        for start in tqdm(range(out.done, len(ids), batch_size), desc="MindDiffuser", unit="batch", disable=None):
            sl = slice(start, start + batch_size)
            seeds = [settings["seed"] + int(i) for i in ids[sl]]
            if settings["refine"]:
                targets = {name: arrays[f"clip_{name}"][sl] for name in names}
                result = recon.refine(text[sl], arrays["sd_latent"][sl], targets, seeds=seeds, **stage1, **settings["stage2"])
                first, last = result.losses[0].mean(), result.losses[-1].mean()
                logger.info("batch %d: feature loss %.4g -> %.4g", start // batch_size, first, last)
                images = result.images
            else:
                images = recon.generate(text[sl], arrays["sd_latent"][sl], seeds=seeds, **stage1)
            out.write(start, {"images": images})
        out.finish()
