"""The files between the decoders and the generators: one reader/writer pair per kind.

Each kind states its datasets, so a stage never recovers meaning from key names:

* **HAVIR inputs** (``decoders/{stream}_test_predictions.h5``, or both streams in
  one oracle file): ``nsd_id`` (n,), ``vae_latent`` (n, C, h, w) from the
  structural stream, ``clip_image`` (n, 257, d) and ``clip_text`` (n, 77, d) from
  the semantic one.
* **MindDiffuser inputs** (``decoders/minddiffuser_test_predictions.h5``, or the
  oracle's): ``nsd_id``, ``sd_latent`` (n, C, h, w), ``sd_text`` (n, tokens, d)
  the decoded first text tokens, ``sd_text_tail`` (context - tokens, d) the rest
  (train mean), and for each matched CLIP feature (attribute ``clip_features``,
  e.g. ``["layer2", "layer4", "embedding"]``) ``clip_<name>`` (n, k) with the
  selected dimensions ``clip_<name>_index`` (k,); the attributes ``clip_output``
  and ``clip_input`` say how the features were computed
  (:class:`nsdrecon.models.ClipLayerFeatures`), so stage 2 computes them alike.
* **Reconstructions** (``{method}/reconstructions.h5``, written row by row by
  :class:`nsdrecon.resumable.RowWriter`): ``images`` (n, H, W, 3) uint8,
  ``nsd_id`` (n,), and for MindDiffuser's stage 2 ``stage2_loss`` (n, steps + 1),
  each image's feature loss before every refinement step and after the last.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from .fileformats import open_hdf5
from .h5io import load_arrays, save_arrays

__all__ = [
    "HavirInputs",
    "MindDiffuserInputs",
    "read_havir_inputs",
    "read_minddiffuser_inputs",
    "read_reconstructions",
    "read_stage2_losses",
    "write_minddiffuser_inputs",
]

Path = str | os.PathLike


@dataclass(frozen=True)
class HavirInputs:
    """What HAVIR's generator starts from and is guided by, for the test images ``nsd_id``."""

    nsd_id: np.ndarray
    vae_latent: np.ndarray
    clip_image: np.ndarray
    clip_text: np.ndarray


def read_havir_inputs(structural: Path, semantic: Path) -> HavirInputs:
    """The structural stream's latent and the semantic stream's CLIP tokens (the same file for the oracle)."""
    s, _ = load_arrays(structural, ["nsd_id", "vae_latent"])
    c, _ = load_arrays(semantic, ["nsd_id", "clip_image", "clip_text"])
    if not np.array_equal(s["nsd_id"], c["nsd_id"]):
        raise ValueError(f"{structural} and {semantic} hold different test images")
    return HavirInputs(s["nsd_id"], s["vae_latent"], c["clip_image"], c["clip_text"])


@dataclass(frozen=True)
class MindDiffuserInputs:
    """MindDiffuser's decoded (or true) conditioning, latent and CLIP feature targets for ``nsd_id``."""

    nsd_id: np.ndarray
    sd_latent: np.ndarray
    sd_text: np.ndarray
    sd_text_tail: np.ndarray
    clip: dict[str, np.ndarray] = field(default_factory=dict)  # feature name -> (n, k) targets
    clip_index: dict[str, np.ndarray] = field(default_factory=dict)  # feature name -> (k,) selected dimensions
    clip_output: str = "hidden_state"  # ClipLayerFeatures' output
    clip_input: str = "clip"  # ClipLayerFeatures' preprocess

    def __post_init__(self):
        if self.clip.keys() != self.clip_index.keys():
            raise ValueError(f"CLIP targets {sorted(self.clip)} and selections {sorted(self.clip_index)} differ")


def write_minddiffuser_inputs(path: Path, inputs: MindDiffuserInputs, attrs: dict | None = None) -> None:
    """Write ``inputs`` atomically, the CLIP feature names in the attribute ``clip_features``."""
    arrays = {"nsd_id": inputs.nsd_id, "sd_latent": inputs.sd_latent, "sd_text": inputs.sd_text,
              "sd_text_tail": inputs.sd_text_tail}  # fmt: skip
    for name in inputs.clip:
        arrays[f"clip_{name}"] = inputs.clip[name]
        arrays[f"clip_{name}_index"] = inputs.clip_index[name]
    attrs = {**(attrs or {}), "clip_output": inputs.clip_output, "clip_input": inputs.clip_input}
    save_arrays(path, arrays, {**attrs, "clip_features": json.dumps(list(inputs.clip))})


def read_minddiffuser_inputs(path: Path) -> MindDiffuserInputs:
    """The file :func:`write_minddiffuser_inputs` wrote; names the file when it is not one."""
    arrays, attrs = load_arrays(path)
    absent = [key for key in ("clip_features", "clip_output", "clip_input") if key not in attrs]
    if absent:
        raise ValueError(f"{path}: no attribute {absent}; not MindDiffuser inputs written by this pipeline")
    names = attrs["clip_features"]
    wanted = ["nsd_id", "sd_latent", "sd_text", "sd_text_tail", *(f"clip_{n}{s}" for n in names for s in ("", "_index"))]
    missing = [name for name in wanted if name not in arrays]
    if missing:
        raise ValueError(f"{path}: missing datasets {missing}; found {sorted(arrays)}")
    return MindDiffuserInputs(
        arrays["nsd_id"], arrays["sd_latent"], arrays["sd_text"], arrays["sd_text_tail"],
        clip={n: arrays[f"clip_{n}"] for n in names}, clip_index={n: arrays[f"clip_{n}_index"] for n in names},
        clip_output=attrs["clip_output"], clip_input=attrs["clip_input"],
    )


def read_reconstructions(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (n, H, W, 3), nsd_id (n,))`` of a reconstructions file."""
    arrays, _ = load_arrays(path, ["images", "nsd_id"])
    return arrays["images"], arrays["nsd_id"]


def read_stage2_losses(path: Path) -> np.ndarray | None:
    """``stage2_loss`` (n, steps + 1) of a MindDiffuser reconstructions file; None for methods without stage 2."""
    with open_hdf5(path) as f:
        return f["stage2_loss"][()] if "stage2_loss" in f else None
