"""Load a model's components from a Hugging Face id or a local folder, pretrained or seeded-random.

Versatile Diffusion, Stable Diffusion and the CLIP encoders are folders of
components (``unet/``, ``vae/``, ``text_encoder/`` ...), each a diffusers model,
a transformers model, a tokenizer, a scheduler or an image processor. This
module loads any such set the same way:

* ``random_init=False``: pretrained weights from the id or folder. Nothing is
  downloaded when the folder exists or ``HF_HUB_OFFLINE`` is set; a missing
  file raises :class:`ModelWeightsNotFound` once, naming what was tried and how
  to fetch it.
* ``random_init=True``: the same classes built from the configs with random
  weights, seeded per component (``SeedSequence([seed, index])``), so a
  component's weights do not depend on which other components are loaded.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nsdrecon.devices import resolve_device
from nsdrecon.hub import hub_offline, looks_like_path, pickle_weights_note, transformers_config
from nsdrecon.seeding import component_seed, seeded

logger = logging.getLogger(__name__)

__all__ = ["Component", "ModelWeightsNotFound", "load_components", "torch_dtype"]

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class ModelWeightsNotFound(FileNotFoundError):
    """The model files for an id or a local folder are not available on this machine."""


@dataclass(frozen=True)
class Component:
    """How to load one component: its class, its subfolder and what kind of object it is.

    ``kind`` is ``"diffusers"`` or ``"transformers"`` for networks (random or
    pretrained weights) and ``"files"`` for tokenizers, schedulers and image
    processors (always read from the folder with ``cls.from_pretrained``).
    """

    cls: type
    subfolder: str
    kind: str

    @property
    def is_network(self) -> bool:
        return self.kind in ("diffusers", "transformers")


def torch_dtype(name: str) -> torch.dtype:
    """Turn a config dtype name (``float32``, ``float16``, ``bfloat16``) into a torch dtype."""
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {list(DTYPES)}, got {name!r}")
    return DTYPES[name]


def load_components(
    source: str | os.PathLike,
    specs: Mapping[str, Component],
    *,
    model_name: str,
    fetch_id: str,
    config_key: str,
    random_init: bool = False,
    seed: int = 0,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    components: Collection[str] | None = None,
) -> tuple[dict[str, Any], str]:
    """Load the ``components`` of ``specs`` (default: all) from ``source``.

    Parameters
    ----------
    source : str or path
        Hugging Face id or local folder holding one subfolder per component.
    specs : mapping of name to :class:`Component`
        Every component the model has, in a fixed order (the order sets the
        random-weight seeds; do not reorder an existing model's specs).
    model_name, fetch_id, config_key : str
        For error messages: the model's name, the Hub id to download and the
        config key that points at the model.
    random_init, seed, device, dtype, components
        See the module docstring; networks end in eval mode, without gradients,
        on ``device`` in ``dtype``.

    Returns
    -------
    dict
        Name to loaded object (``None`` for components not asked for).
    str
        The source actually used (a local folder resolved to its path).
    """
    source = str(source)
    wanted = set(specs if components is None else components)
    unknown = wanted - set(specs)
    if unknown:
        raise ValueError(f"unknown {model_name} components {sorted(unknown)}; known: {list(specs)}")
    device = resolve_device(device) if isinstance(device, str) else device
    local = Path(source).expanduser()
    if local.is_dir():
        source = str(local)
    elif looks_like_path(source):
        raise ModelWeightsNotFound(
            _missing_message(model_name, fetch_id, config_key, source, random_init, f"folder {local} does not exist")
        )
    hub = {"local_files_only": local.is_dir() or hub_offline()}

    loaded: dict[str, Any] = {name: None for name in specs}
    try:
        for index, (name, spec) in enumerate(specs.items()):
            if name in wanted:
                loaded[name] = _load_one(spec, source, random_init, seed, index, dtype, hub)
    except (OSError, ValueError) as error:
        raise ModelWeightsNotFound(_missing_message(model_name, fetch_id, config_key, source, random_init, str(error))) from error
    for name, spec in specs.items():
        module = loaded[name]
        if module is not None and spec.is_network:
            if module.dtype != dtype:  # random weights are built in float32
                module = module.to(dtype)
            loaded[name] = module.to(device).eval().requires_grad_(False)
    logger.info(
        "loaded %s %s from %s (%s weights, %s, %s)",
        model_name,
        sorted(wanted),
        source,
        f"random seed {seed}" if random_init else "pretrained",
        device,
        dtype,
    )
    return loaded, source


def read_config(source: str, spec: Component) -> dict:
    """The JSON config of one diffusers component (for sizes), read without building it."""
    hub = {"local_files_only": Path(source).is_dir() or hub_offline()}
    return spec.cls.load_config(source, subfolder=spec.subfolder, **hub)


def latent_geometry(source: str, unet: Component, vae: Component) -> tuple[tuple[int, int, int], int]:
    """``(latent shape (C, h, w), image side in pixels)`` from the UNet's and the VAE's configs."""
    unet_config, vae_config = read_config(source, unet), read_config(source, vae)
    side = unet_config.get("sample_size")
    if not isinstance(side, int):
        raise ValueError(
            f"{source}: {unet.subfolder}/config.json needs an integer sample_size (latent side), found {side!r}"
        )
    image_size = side * 2 ** (len(vae_config["block_out_channels"]) - 1)
    return (vae_config["latent_channels"], side, side), image_size


def _load_one(
    spec: Component, source: str, random_init: bool, seed: int, index: int, dtype: torch.dtype, hub: dict
) -> Any:
    """Load one component; networks are random (seeded per component) or pretrained."""
    where = {"subfolder": spec.subfolder, **hub}
    if not spec.is_network:
        return spec.cls.from_pretrained(source, **where)
    if not random_init:
        try:
            if spec.kind == "diffusers":
                return spec.cls.from_pretrained(source, dtype=dtype, use_safetensors=True, **where)
            return spec.cls.from_pretrained(source, dtype=dtype, attn_implementation="sdpa", use_safetensors=True, **where)
        except OSError as error:
            raise OSError(f"{error}{pickle_weights_note(source, spec.subfolder)}") from error
    if spec.kind == "diffusers":
        config = spec.cls.load_config(source, **where)
        return seeded(lambda: spec.cls.from_config(config), component_seed(seed, index))
    config = transformers_config(spec.cls.config_class, source, **where)
    return seeded(lambda: spec.cls._from_config(config, attn_implementation="sdpa"), component_seed(seed, index))


def _missing_message(
    model_name: str, fetch_id: str, config_key: str, source: str, random_init: bool, reason: str
) -> str:
    what = "model configs" if random_init else "pretrained weights"
    return (
        f"{model_name} {what} not found at {source!r}: {reason}\n"
        f"To fetch them, on a machine with internet run\n"
        f"    huggingface-cli download {fetch_id} --local-dir <dir>\n"
        f"(if <dir> holds only *.bin weights, convert them: python -m nsdrecon.models.convert_weights <dir>), "
        f"copy <dir> here and set config {config_key} to it "
        f"(or keep the Hub id and unset HF_HUB_OFFLINE where the Hub is reachable)."
    )
