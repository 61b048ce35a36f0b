"""Hub ids and local model folders: which one a config value names, offline mode, configs read strictly.

Light on purpose (no torch, diffusers or transformers at import): the parse-time
config checks and the metric networks use it as well as the model loaders.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["hub_offline", "looks_like_path", "model_files", "pickle_weights_note", "transformers_config"]

NOT_READ = (".bin", ".ckpt", ".pt", ".pth", ".msgpack", ".h5", ".onnx", ".md")
"""Suffixes of files in a model folder that the loaders never read: pickle or other
frameworks' weights (weights load from safetensors only) and documentation."""


def transformers_config(config_class: type, source: str, subfolder: str = "", **hub: Any) -> Any:
    """``config_class.from_pretrained``, but a local folder without ``config.json`` is an error.

    transformers 5 builds a default config from a folder that has none, so an
    empty or wrong folder would silently give a network of the default size.
    """
    folder = Path(source, subfolder)
    if Path(source).is_dir() and not (folder / "config.json").is_file():
        raise FileNotFoundError(f"no config.json in {folder}")
    return config_class.from_pretrained(source, subfolder=subfolder, **hub)


def looks_like_path(source: str) -> bool:
    """True for strings that name a filesystem path rather than a Hub id (``owner/name``)."""
    return source.startswith((".", "/", "~")) or source.count("/") > 1 or "\\" in source


def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` set to a true value."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def pickle_weights_note(source: str, subfolder: str = "") -> str:
    """Why a local folder with only pickle weights (``*.bin``) does not load, and the one command that fixes it.

    Weights load from safetensors only: a ``.bin`` file is a pickle, unpickled
    by ``torch.load``. Empty when ``source`` is no local folder or has no ``.bin``.
    """
    folder = Path(source, subfolder)
    if not folder.is_dir() or not any(folder.glob("*.bin")):
        return ""
    return (
        f"\n{folder} has pickle weights (*.bin) only; weights are loaded from safetensors only. Convert them once "
        f"(torch.load with weights_only=True, no code runs): python -m nsdrecon.models.convert_weights {source}"
    )


def model_files(source: str) -> list[str]:
    """The files the loaders may read from a model: a local folder's, or a cached Hub snapshot's.

    Rules that load a model declare these as inputs, so that an edited config
    or new weights rerun exactly those rules. Links are followed (the tiny
    Stable Diffusion links Versatile Diffusion's autoencoder). A Hub id that is
    not cached gives none: the parse-time checks decide whether that is an error.
    """
    folder = Path(source)
    if not folder.is_dir():
        folder = _cached_snapshot(source)
        if folder is None:
            return []
    files = []
    for root, dirs, names in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files += [os.path.join(root, n) for n in sorted(names) if not n.startswith(".") and not n.endswith(NOT_READ)]
    return [f for f in files if Path(f).name != "training.json"]


def _cached_snapshot(repo_id: str) -> Path | None:
    """The local snapshot folder of a Hub model, or None when it is not in the cache."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # noqa: BLE001 - any failure means: not in the local cache
        return None
