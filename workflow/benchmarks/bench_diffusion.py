"""Seconds per reconstructed image: HAVIR and MindDiffuser, batched vs a plain per-image loop vs the FLOP floor.

Compute does not depend on weight values, so the real architectures are built
with random weights from the configs in ``resources/models/*-architecture``
(Versatile Diffusion, Stable Diffusion v1-4, CLIP ViT-B/32; parameter counts
equal the Hub models'). For each method the script times

* ours: the pipeline's own reconstructor at ``--batch`` images per call
  (dtype, SDPA attention, optional ``torch.compile`` of the UNet);
* plain: the same steps one image at a time, eager (the obvious loop);
* floor: FLOPs per image (counted with ``torch.utils.flop_counter``) divided by
  ``--peak-tflops`` (dense fp16/bf16 peak of the device).

and prints seconds per image, the ratios, and peak GPU memory. MindDiffuser
stage 2 is timed over ``--refine-steps`` Adam steps and extrapolated to 300.
``--method minddiffuser-stage2-variants`` compares the exact stage 2 with
fewer denoising steps inside the loop (``--variants``): seconds per image and
the feature loss of the final image (always the full schedule).

    python workflow/benchmarks/bench_diffusion.py --method havir --batch 16 --dtype float16
    python workflow/benchmarks/bench_diffusion.py --method minddiffuser-stage2-variants --batch 4 --refine-steps 300
    python workflow/benchmarks/bench_diffusion.py --quick          # tiny models on CPU, seconds
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from nsdrecon.diffusion import DualGuidedReconstructor, MindDiffuserReconstructor  # noqa: E402
from nsdrecon.diffusion.minddiffuser import stage2_loss, stage2_weights  # noqa: E402
from nsdrecon.models import ClipLayerFeatures  # noqa: E402
from nsdrecon.models import load_clip_vision, load_stable_diffusion, load_versatile_diffusion, torch_dtype  # noqa: E402

MODELS = ROOT / "resources" / "models"
FULL = {"vd": "versatile-diffusion-architecture", "sd": "stable-diffusion-v1-4-architecture",
        "clip": "clip-vit-base-patch32-architecture"}
METHODS = ("havir", "minddiffuser-stage1", "minddiffuser-stage2", "minddiffuser-stage2-variants")
TINY = {"vd": "tiny-versatile-diffusion", "sd": "tiny-stable-diffusion", "clip": "tiny-clip-vit-base-patch32"}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, repeats: int) -> float:
    """Best wall time of ``repeats`` calls after one warm-up call (compilation, cuDNN autotuning)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def flops_of(fn) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def havir_inputs(vd, n: int, rng: np.random.Generator):
    return (
        rng.standard_normal((n, *vd.image_tokens)).astype(np.float32) * 0.1,
        rng.standard_normal((n, *vd.text_tokens)).astype(np.float32) * 0.1,
        rng.standard_normal((n, *vd.latent_shape)).astype(np.float32),
    )


def bench_havir(args, names, device, dtype) -> dict:
    vd = load_versatile_diffusion(MODELS / names["vd"], random_init=True, device=device, dtype=dtype)
    recon = DualGuidedReconstructor(vd)
    if args.compile:
        recon.unet = torch.compile(recon.unet, mode="max-autotune-no-cudagraphs")
    image, text, latents = havir_inputs(vd, args.batch, np.random.default_rng(0))
    run = {"strength": args.strength, "num_inference_steps": args.steps, "guidance_scale": 7.5}

    def ours():
        recon(image, text, latents, seeds=range(args.batch), **run)

    def plain():
        recon(image[:1], text[:1], latents[:1], seeds=[0], **run)

    return measure(args, device, ours, plain, lambda: recon(image[:1], text[:1], latents[:1], seeds=[0], **run))


def minddiffuser_setup(args, names, device, dtype):
    """MindDiffuser over random-weight SD and CLIP ViT-B/32, with random decoded inputs and feature goals."""
    sd = load_stable_diffusion(MODELS / names["sd"], random_init=True, device=device, dtype=dtype)
    vision = load_clip_vision(MODELS / names["clip"], random_init=True, device=device, dtype=dtype)
    layers = list(range(2, vision.config.num_hidden_layers + 1, 2))
    features = ClipLayerFeatures(vision, layers)
    md = MindDiffuserReconstructor(sd, features)
    rng = np.random.default_rng(0)
    text = rng.standard_normal((args.batch, *sd.text_tokens)).astype(np.float32) * 0.1
    latents = rng.standard_normal((args.batch, *sd.latent_shape)).astype(np.float32)
    goal = features.extract(rng.integers(0, 256, (args.batch, 64, 64, 3), dtype=np.uint8))
    run = {"strength": args.strength, "num_inference_steps": args.steps, "guidance_scale": 5.0}
    return md, text, latents, goal, run


def bench_minddiffuser(args, names, device, dtype, refine: bool) -> dict:
    md, text, latents, goal, run = minddiffuser_setup(args, names, device, dtype)
    if not refine:
        return measure(
            args, device,
            lambda: md.generate(text, latents, seeds=range(args.batch), **run),
            lambda: md.generate(text[:1], latents[:1], seeds=[0], **run),
            lambda: md.generate(text[:1], latents[:1], seeds=[0], **run),
        )
    stage2 = {"steps": args.refine_steps, "inner_steps": args.inner_steps, "checkpoint": True, **run}

    def refine_batch(n):
        return lambda: md.refine(text[:n], latents[:n], {k: v[:n] for k, v in goal.items()}, seeds=range(n), **stage2)

    result = measure(args, device, refine_batch(args.batch), refine_batch(1), refine_batch(1))
    scale = 300 / args.refine_steps
    result.update({f"{k}_300_steps": v * scale for k, v in result.items() if k.startswith("s_per_image")})
    return result


def bench_stage2_variants(args, names, device, dtype) -> list[dict]:
    """Stage 2 exact (the full schedule inside the loop) against fewer inner steps: time and final feature loss.

    Every variant runs ``--refine-steps`` Adam steps from the same inputs; the
    loss that counts is that of the returned image (always denoised with the
    full schedule) against the goal features, next to the stage-1 loss.
    """
    md, text, latents, goal, run = minddiffuser_setup(args, names, device, dtype)
    goal_t = {k: torch.as_tensor(v, device=device) for k, v in goal.items()}
    rows = []
    for inner in args.variants:
        sync(device)
        start = time.perf_counter()
        result = md.refine(text, latents, goal, seeds=range(args.batch), steps=args.refine_steps,
                           inner_steps=inner or None, checkpoint=True, **run)  # fmt: skip
        sync(device)
        seconds = (time.perf_counter() - start) / args.batch
        final = {k: torch.as_tensor(v, device=device) for k, v in md.clip_features.extract(result.images).items()}
        final_loss = stage2_loss(final, goal_t, stage2_weights(goal_t, "equal", md.clip_features.sizes), cosine_weight=0.1)
        rows.append({
            "variant": "exact" if not inner else f"inner_steps={inner}",
            "s_per_image": seconds,
            "s_per_image_300_steps": seconds * 300 / args.refine_steps,
            "loss_stage1": float(result.losses[0].mean()),
            "loss_in_loop_last": float(result.losses[-1].mean()),
            "loss_final_image": float(final_loss.mean()),
        })  # fmt: skip
    return rows


def measure(args, device, ours, plain, one_image) -> dict:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t_ours = timed(ours, device, args.repeats) / args.batch
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    t_plain = timed(plain, device, args.repeats)
    flops = flops_of(one_image) if args.count_flops else float("nan")
    floor = flops / (args.peak_tflops * 1e12)
    return {
        "s_per_image_ours": t_ours,
        "s_per_image_plain": t_plain,
        "s_per_image_floor": floor,
        "tflop_per_image": flops / 1e12,
        "plain_over_ours": t_plain / t_ours,
        "ours_over_floor": t_ours / floor,
        "peak_gpu_gib": peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--method", default="all",
        choices=[*METHODS, "all"],
    )  # fmt: skip
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=50, help="DDIM schedule length")
    parser.add_argument("--strength", type=float, default=0.75, help="fraction of the schedule run (0.75 of 50: 37 steps)")
    parser.add_argument("--dtype", default="float16")
    parser.add_argument("--compile", action="store_true", help="torch.compile the UNet")
    parser.add_argument("--refine-steps", type=int, default=3, help="stage-2 Adam steps timed (extrapolated to 300)")
    parser.add_argument("--inner-steps", type=int, default=None, help="stage-2 schedule length inside the loop")
    parser.add_argument(
        "--variants", type=int, nargs="+", default=[0, 10, 5],
        help="inner schedule lengths compared by minddiffuser-stage2-variants (0 = exact: the full schedule)",
    )  # fmt: skip
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--peak-tflops", type=float, default=790.0, help="device peak for the FLOP floor")
    parser.add_argument("--no-flops", dest="count_flops", action="store_false")
    parser.add_argument("--quick", action="store_true", help="tiny models on CPU, small batch: checks the script runs")
    args = parser.parse_args()
    names = FULL
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.quick:
        names, device, args.batch, args.steps, args.dtype, args.repeats = TINY, torch.device("cpu"), 2, 8, "float32", 1
        args.refine_steps, args.inner_steps, args.variants = 2, 2, [0, 2]
    dtype = torch_dtype(args.dtype)
    torch.backends.cuda.matmul.allow_tf32 = True
    methods = [*METHODS] if args.method == "all" else [args.method]
    info = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__, "batch": args.batch, "dtype": args.dtype, "compile": args.compile,
        "steps_run": int(args.steps * args.strength), "models": "tiny" if args.quick else "full-size, random weights",
    }
    print(json.dumps(info))
    for method in methods:
        if method == "minddiffuser-stage2-variants":
            for row in bench_stage2_variants(args, names, device, dtype):
                print(json.dumps({"method": method, **{k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}}))
            continue
        if method == "havir":
            result = bench_havir(args, names, device, dtype)
        else:
            result = bench_minddiffuser(args, names, device, dtype, refine=method.endswith("stage2"))
        print(json.dumps({"method": method, **{k: round(v, 4) for k, v in result.items()}}))


if __name__ == "__main__":
    main()
