"""Train every tiny model of the embedded default and save it as pretrained weights, in the Hub layouts.

One command, deterministic from a seed (run from the repository root)::

    .venv/bin/python -m nsdrecon.tiny_models --models-dir resources/models

reads the architecture configs already in ``resources/models/tiny-*`` and
writes, with ``save_pretrained`` as safetensors, into the same folders:

1. ``tiny-versatile-diffusion/vae`` (``AutoencoderKL``; ``tiny-stable-diffusion/vae`` links to it);
2. the CLIP towers: ``tiny-versatile-diffusion/{text_encoder,image_encoder}``,
   ``tiny-stable-diffusion/text_encoder`` (the same text tower without its
   projection) and ``tiny-clip-vit-base-patch32`` (the second vision tower);
3. ``tiny-versatile-diffusion/{image_unet,text_unet}`` (the dual-guided UNet);
4. ``tiny-stable-diffusion/unet``.

Steps 3 and 4 load the models saved before them through the pipeline's own
loaders (``random_init=False``) and compute their conditioning with the
pipeline's own encoders, so a loading or scaling bug shows up here first.
Held-out figures (VAE PSNR, caption -> image retrieval, held-out denoising
losses) and the settings go to ``training.json`` in each model folder.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import diffusers
import numpy as np
import torch
import transformers
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.pipelines.deprecated.versatile_diffusion.modeling_text_unet import UNetFlatConditionModel
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
)

from nsdrecon.atomic import write_text
from nsdrecon.diffusion.dual_guided import UNCOND_IMAGES, build_dual_guided_unet
from nsdrecon.layout import TINY_TRAINING_RECORD
from nsdrecon.models.encoders import encode_clip_image_tokens, encode_clip_text_tokens, encode_vae_latents, sd_text_batch
from nsdrecon.models import load_stable_diffusion, load_versatile_diffusion
from nsdrecon.seeding import component_seed, seeded
from nsdrecon.tiny_models.clip import caption_retrieval, train_clip
from nsdrecon.tiny_models.data import SceneSet, make_scene_set
from nsdrecon.tiny_models.unets import heldout_denoising_loss, train_dual_guided_unet, train_text_unet
from nsdrecon.tiny_models.vae import psnr, reconstruct, train_vae

__all__ = ["TrainingPlan", "main", "train_all"]

logger = logging.getLogger(__name__)

VD, SD, MD_CLIP = "tiny-versatile-diffusion", "tiny-stable-diffusion", "tiny-clip-vit-base-patch32"


@dataclass(frozen=True)
class TrainingPlan:
    """How much of what: scene counts and optimisation steps of every model (defaults: the shipped weights)."""

    seed: int = 0
    image_size: int = 64
    n_train: int = 12000
    n_heldout: int = 100
    vae_steps: int = 1500
    vae_batch: int = 32
    clip_steps: int = 600
    clip_batch: int = 128
    vd_unet_steps: int = 1500
    sd_unet_steps: int = 600
    unet_batch: int = 64
    threads: int = 2

    def quick(self) -> "TrainingPlan":
        """A few steps of everything on a few scenes (tests)."""
        return TrainingPlan(
            seed=self.seed, image_size=self.image_size, n_train=64, n_heldout=16, vae_steps=2, vae_batch=8,
            clip_steps=2, clip_batch=16, vd_unet_steps=2, sd_unet_steps=2, unet_batch=8, threads=self.threads,
        )


def _seeded(build, seed: int, index: int):
    """Build model ``index`` with its own seed from ``seed`` (as random-weight loading does)."""
    return seeded(build, component_seed(seed, index))


@dataclass
class _Scenes:
    """The training and held-out scene sets every stage draws on."""

    train: SceneSet
    heldout: SceneSet


def _train_vae(root: Path, plan: TrainingPlan, scenes: _Scenes) -> dict:
    vae = _seeded(lambda: AutoencoderKL.from_config(AutoencoderKL.load_config(root / VD / "vae")), plan.seed, 0)
    losses = train_vae(vae, scenes.train.images, steps=plan.vae_steps, batch_size=plan.vae_batch, seed=plan.seed)
    vae.save_pretrained(root / VD / "vae")
    return {
        "heldout_psnr_db": psnr(scenes.heldout.images, reconstruct(vae, scenes.heldout.images)),
        "final_train_loss": float(np.mean(losses[-50:])),
        "scaling_factor": vae.config.scaling_factor,
    }


def _train_clip(root: Path, plan: TrainingPlan, scenes: _Scenes) -> dict:
    """One text tower, two vision towers; SD's text encoder is the text tower without its projection."""
    tokenizer = CLIPTokenizer.from_pretrained(root / VD / "tokenizer")
    text = _seeded(lambda: CLIPTextModelWithProjection(CLIPTextConfig.from_pretrained(root / VD / "text_encoder")), plan.seed, 1)
    visions = {
        "vd": _seeded(lambda: CLIPVisionModelWithProjection(CLIPVisionConfig.from_pretrained(root / VD / "image_encoder")), plan.seed, 2),
        "md": _seeded(lambda: CLIPVisionModelWithProjection(CLIPVisionConfig.from_pretrained(root / MD_CLIP)), plan.seed, 3),
    }
    train, heldout = scenes.train, scenes.heldout
    losses = train_clip(
        text, visions, tokenizer, train.images, train.captions, steps=plan.clip_steps, batch_size=plan.clip_batch,
        seed=plan.seed,
    )
    text.save_pretrained(root / VD / "text_encoder")
    visions["vd"].save_pretrained(root / VD / "image_encoder")
    visions["md"].save_pretrained(root / MD_CLIP)
    sd_text = CLIPTextModel(CLIPTextConfig.from_pretrained(root / SD / "text_encoder"))
    sd_text.load_state_dict(text.text_model.state_dict())
    sd_text.save_pretrained(root / SD / "text_encoder")
    return {
        f"heldout_caption_to_image_top1_{name}": caption_retrieval(text, vision, tokenizer, heldout.images, heldout.captions)
        for name, vision in visions.items()
    } | {"heldout_scenes": len(heldout), "final_train_loss": float(np.mean(losses[-50:]))}


def _train_vd_unet(root: Path, plan: TrainingPlan, scenes: _Scenes) -> dict:
    """Versatile Diffusion's dual-guided UNet, on contexts from the saved encoders."""
    vd = load_versatile_diffusion(root / VD, components=["vae", "image_encoder", "text_encoder", "tokenizer", "scheduler", "image_processor"])
    vd.image_unet = _seeded(lambda: UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(root / VD / "image_unet")), plan.seed, 4)
    vd.text_unet = _seeded(lambda: UNetFlatConditionModel.from_config(UNetFlatConditionModel.load_config(root / VD / "text_unet")), plan.seed, 5)

    def vd_inputs(split):
        return (
            encode_vae_latents(vd, split.images, batch_size=256),
            encode_clip_image_tokens(vd, split.images, batch_size=256),
            encode_clip_text_tokens(vd, split.captions, batch_size=64),
        )

    side = vd.image_encoder.config.image_size
    uncond_image = encode_clip_image_tokens(vd, np.full((1, side, side, 3), UNCOND_IMAGES["black"], np.uint8))
    uncond_text = encode_clip_text_tokens(vd, [[""]])
    dual = build_dual_guided_unet(vd)
    losses = train_dual_guided_unet(
        dual, vd.scheduler, *vd_inputs(scenes.train), uncond_image, uncond_text, steps=plan.vd_unet_steps,
        batch_size=plan.unet_batch, seed=plan.seed,
    )
    vd.image_unet.save_pretrained(root / VD / "image_unet")
    vd.text_unet.save_pretrained(root / VD / "text_unet")
    return {
        "final_train_loss": float(np.mean(losses[-50:])),
        **heldout_denoising_loss(dual, vd.scheduler, *vd_inputs(scenes.heldout), uncond_image, uncond_text, seed=plan.seed),
    }


def _train_sd_unet(root: Path, plan: TrainingPlan, scenes: _Scenes) -> dict:
    """Stable Diffusion's UNet, on SD's text conditioning from the saved text encoder."""
    sd = load_stable_diffusion(root / SD, components=["vae", "text_encoder", "tokenizer", "scheduler"])
    unet = _seeded(lambda: UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(root / SD / "unet")), plan.seed, 6)

    def sd_inputs(split):
        return (
            encode_vae_latents(sd, split.images, batch_size=256),
            np.concatenate([sd_text_batch(sd, split.captions[i : i + 64]) for i in range(0, len(split), 64)]),
        )

    sd_uncond = sd_text_batch(sd, [[""]])
    losses = train_text_unet(
        unet, sd.scheduler, *sd_inputs(scenes.train), sd_uncond, steps=plan.sd_unet_steps, batch_size=plan.unet_batch,
        seed=plan.seed,
    )
    unet.save_pretrained(root / SD / "unet")
    heldout_latents, heldout_text = sd_inputs(scenes.heldout)
    return {
        "final_train_loss": float(np.mean(losses[-50:])),
        **heldout_denoising_loss(unet, sd.scheduler, heldout_latents, None, heldout_text, None, sd_uncond, seed=plan.seed),
    }


#: The stages in training order; each reads the models saved by the stages before it.
STAGES = {"vae": _train_vae, "clip": _train_clip, "vd_unet": _train_vd_unet, "sd_unet": _train_sd_unet}


def train_all(models_dir: str | Path, plan: TrainingPlan = TrainingPlan(), stages: tuple[str, ...] = tuple(STAGES)) -> dict:
    """Train and save the tiny models of ``stages`` under ``models_dir``; return the held-out report.

    A subset of stages retrains those models from the ones already saved
    (deterministically, as the full run would, given the same plan); the report
    in ``training.json`` keeps the other stages' entries and times.
    """
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise ValueError(f"unknown training stages {sorted(unknown)}; choose from {list(STAGES)}")
    root = Path(models_dir)
    torch.set_num_threads(plan.threads)
    record = root / VD / TINY_TRAINING_RECORD
    report = json.loads(record.read_text()) if set(stages) != set(STAGES) and record.is_file() else {"seconds": {}}
    report["plan"] = asdict(plan)
    t0 = time.perf_counter()
    scenes = _Scenes(
        train=make_scene_set(plan.seed, "train", plan.n_train, plan.image_size),
        heldout=make_scene_set(plan.seed, "heldout", plan.n_heldout, plan.image_size),
    )
    report["seconds"]["scenes"] = time.perf_counter() - t0
    for name, stage in STAGES.items():
        if name in stages:
            t0 = time.perf_counter()
            report[name] = stage(root, plan, scenes)
            report["seconds"][name] = time.perf_counter() - t0
            logger.info("%s: %s (%.0f s)", name, report[name], report["seconds"][name])
    report["seconds"]["total"] = sum(v for k, v in report["seconds"].items() if k != "total")
    report["versions"] = {
        "torch": torch.__version__, "diffusers": diffusers.__version__, "transformers": transformers.__version__,
        "python": platform.python_version(), "threads": plan.threads,
    }
    for folder in (VD, SD, MD_CLIP):
        write_text(root / folder / TINY_TRAINING_RECORD, json.dumps(report, indent=2) + "\n")
    logger.info("trained %s; every stage together: %.0f s", list(stages), report["seconds"]["total"])
    return report


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m nsdrecon.tiny_models", description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", default="resources/models", help="folder holding the tiny-* model folders")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the shipped weights: 2)")
    parser.add_argument("--quick", action="store_true", help="a few steps of every trainer (smoke test)")
    parser.add_argument(
        "--stages", nargs="+", choices=list(STAGES), default=list(STAGES),
        help="retrain only these models, from the ones already saved (default: all, in order)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    plan = TrainingPlan(seed=args.seed, threads=args.threads)
    return train_all(args.models_dir, plan.quick() if args.quick else plan, tuple(args.stages))
