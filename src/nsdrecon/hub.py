"""Hub ids and local model folders: which one a config value names, offline mode, configs read strictly.

Light on purpose (no torch, diffusers or transformers at import): the parse-time
config checks and the metric networks use it as well as the model loaders.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["hub_offline", "looks_like_path", "pickle_weights_note", "transformers_config"]


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
