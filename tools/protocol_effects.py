"""The authors' protocols on the embedded default: what each of config/nsd.yaml's protocol choices does to the metrics.

    .venv/bin/python tools/protocol_effects.py --workdir /tmp/protocol-effects [--cores 2] [--variants NAME ...]

Runs the real Snakefile on the embedded default (diffusers' protocols, tiny models), then once per variant with
one protocol choice of docs/protocols.md switched on, and once with all of them. Each variant runs in a copy of the
default's working directory, so Snakemake redoes only the jobs the choice touches. Prints a Markdown table per
method: the subject mean of the eight metrics under the default and each variant that changes the method.

The tiny models were trained with diffusers' conventions (black unconditional image, 77-token text, mean
latents); a protocol that departs from them measures that mismatch too, which the printed note says.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
METRICS = ["PixCorr", "SSIM", "AlexNet(2)", "AlexNet(5)", "Inception", "CLIP", "EffNet-B", "SwAV"]

STAGE2 = {"noise": "fresh", "layer_weights": "minddiffuser", "snapshot_every": 2, "inner_steps": None, "lr": 0.00999}
"""MindDiffuser's loop at the embedded default's 4 steps: the image of iteration 2 (theirs: 290 of 300)."""

VARIANTS: dict[str, dict] = {
    "havir uncond_image: grey": {"reconstruct": {"uncond_image": "grey"}},
    "havir schedule: brain_diffuser": {"reconstruct": {"schedule": "brain_diffuser"}},
    "features vae_latent: sample": {"features": {"vae_latent": "sample"}},
    "features clip_image_input: brain_diffuser": {"features": {"clip_image_input": "brain_diffuser"}},
    "minddiffuser schedule: minddiffuser": {"minddiffuser": {"schedule": "minddiffuser"}},
    "minddiffuser CLIP: mlp blocks 1-4, its input": {
        "minddiffuser": {"clip_layers": [1, 2, 3, 4], "clip_output": "mlp", "clip_input": "minddiffuser"}
    },
    "minddiffuser text: 15 tokens, 5 captions": {"minddiffuser": {"context_tokens": 15, "captions": 5}},
    "minddiffuser decoders: fastl2lir": {"minddiffuser": {"regression": "fastl2lir", "alphas": [0.15]}},  # + n_voxels
    "minddiffuser stage 2: fresh noise, its weights, snapshot": {"minddiffuser": {"stage2": STAGE2}},
}


def merged(*overlays: dict) -> dict:
    """Nested dicts merged left to right (later values win), as Snakemake merges config files."""
    out: dict = {}
    for overlay in overlays:
        for key, value in overlay.items():
            out[key] = merged(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


ALL = "all of the above (config/nsd.yaml's protocols)"
MINDDIFFUSER_VOXELS = {"total": 11694, "sd_latent": 3000, "sd_text": 450, "clip": 850}
"""Subject 1's 11 ROIs and the n_feat of MindDiffuser's training scripts: the embedded default keeps their shares."""


def scaled_voxels(scores: Path) -> dict:
    """MindDiffuser's voxels per target as the same share of the embedded default's visual voxels."""
    total = int(pd.read_csv(scores, sep="\t")["n_voxels"].iloc[0])
    share = {k: v / MINDDIFFUSER_VOXELS["total"] for k, v in MINDDIFFUSER_VOXELS.items() if k != "total"}
    return {"minddiffuser": {"n_voxels": {k: max(1, round(f * total)) for k, f in share.items()}}}


def run(workdir: Path, overlay: dict, cores: int, log: Path) -> pd.DataFrame:
    """Run the workflow in ``workdir`` with ``overlay`` over config/config.yaml; the subject-mean rows of this run."""
    files = [str(ROOT / "config" / "config.yaml")]
    if overlay:
        (workdir / "overlay.yaml").write_text(yaml.safe_dump(overlay))
        files.append(str(workdir / "overlay.yaml"))
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
               "--cores", str(cores), "--configfile", *files]  # fmt: skip
    with open(log, "w") as out:
        subprocess.run(command, check=True, stdout=out, stderr=subprocess.STDOUT)
    table = pd.read_csv(workdir / "results" / "tables" / "metrics.tsv", sep="\t")
    return table[(table["source"] == "this run") & (table["subject"] == "mean")].set_index("method")[METRICS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, required=True, help="scratch folder (one subfolder per variant)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--variants", nargs="*", default=[*VARIANTS, ALL], help="names of VARIANTS to run")
    args = parser.parse_args()
    base = args.workdir / "default"
    base.mkdir(parents=True, exist_ok=True)
    rows = {"default": run(base, {}, args.cores, args.workdir / "default.log")}
    voxels = scaled_voxels(base / "results" / "subj01" / "decoders" / "minddiffuser_scores.tsv")
    VARIANTS["minddiffuser decoders: fastl2lir"] = merged(VARIANTS["minddiffuser decoders: fastl2lir"], voxels)
    VARIANTS[ALL] = merged(*(VARIANTS[name] for name in VARIANTS if name != ALL))
    print(f"voxels per target (fastl2lir): {voxels['minddiffuser']['n_voxels']}", file=sys.stderr)
    for name in args.variants:
        folder = args.workdir / name.replace(" ", "_").replace(":", "").replace(",", "")
        if folder.exists():
            shutil.rmtree(folder)
        shutil.copytree(base, folder, symlinks=True)
        rows[name] = run(folder, VARIANTS[name], args.cores, folder.with_suffix(".log"))
        print(f"done: {name}", file=sys.stderr)
    default = rows["default"]
    for method in default.index:
        lines = [rows["default"].loc[[method]].assign(variant="default")]
        lines += [table.loc[[method]].assign(variant=name) for name, table in rows.items()
                  if name != "default" and not table.loc[method].equals(default.loc[method])]  # fmt: skip
        if len(lines) == 1:
            continue
        block = pd.concat(lines).reset_index(drop=True)[["variant", *METRICS]]
        print(f"\n### {method}\n")
        print(block.to_markdown(index=False, floatfmt=".3f"))
    print("\nThe tiny models were trained with diffusers' conventions: a protocol that departs from them measures "
          "that mismatch too.")


if __name__ == "__main__":
    main()
