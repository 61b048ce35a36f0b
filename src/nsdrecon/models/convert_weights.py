"""Convert a model folder's pickle weights (``*.bin``) to safetensors, once, so the pipeline can load it.

The pipeline loads weights from safetensors only: a ``.bin`` file is a pickle,
and unpickling runs whatever the file says. Hub repositories that ship only
``.bin`` files (older uploads) are converted here with ``torch.load(...,
weights_only=True)``, PyTorch's restricted unpickler, which admits tensors and
plain containers and refuses anything else. The file names follow the
libraries' conventions (``pytorch_model.bin`` -> ``model.safetensors``,
``diffusion_pytorch_model.bin`` -> ``diffusion_pytorch_model.safetensors``,
shards and their index alike); the ``.bin`` files are left in place.

Usage: ``python -m nsdrecon.models.convert_weights <folder>``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

import torch
from safetensors.torch import save_file

from nsdrecon.atomic import atomic_path, write_text

logger = logging.getLogger(__name__)

__all__ = ["convert_folder", "safetensors_name"]


def safetensors_name(bin_name: str) -> str:
    """The safetensors file name transformers/diffusers look for instead of ``bin_name``."""
    stem = bin_name.removesuffix(".bin")
    if stem == "pytorch_model" or stem.startswith("pytorch_model-"):
        stem = "model" + stem.removeprefix("pytorch_model")
    return stem + ".safetensors"


def _convert_file(path: Path) -> Path:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: not a state dict of tensors; cannot convert it")
    # tied weights share storage, which safetensors refuses: each tensor gets its own copy
    tensors = {name: tensor.detach().clone().contiguous() for name, tensor in state.items()}
    out = path.with_name(safetensors_name(path.name))
    with atomic_path(out) as tmp:
        save_file(tensors, tmp, metadata={"format": "pt"})
    return out


def _convert_index(path: Path) -> Path:
    """``*.bin.index.json`` of a sharded checkpoint -> the safetensors index with the shard names renamed."""
    index = json.loads(path.read_text())
    index["weight_map"] = {name: safetensors_name(shard) for name, shard in index["weight_map"].items()}
    out = path.with_name(safetensors_name(path.name.removesuffix(".index.json")) + ".index.json")
    write_text(out, json.dumps(index, indent=2) + "\n")
    return out


def convert_folder(folder: str | os.PathLike) -> list[Path]:
    """Write a safetensors file next to every ``*.bin`` under ``folder`` that has none; returns the files written."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no model folder {folder}")
    written = []
    for path in sorted(folder.rglob("*.bin")):
        if not path.with_name(safetensors_name(path.name)).exists():
            written.append(_convert_file(path))
            logger.info("converted %s -> %s", path, written[-1].name)
    for path in sorted(folder.rglob("*.bin.index.json")):
        written.append(_convert_index(path))
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a model folder (e.g. a downloaded Hub snapshot)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    written = convert_folder(args.folder)
    print(f"{len(written)} safetensors file(s) written under {args.folder}")


if __name__ == "__main__":
    main()
