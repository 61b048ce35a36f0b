"""The training world of the tiny models: procedural scenes of their own, never the dataset's.

Real pretrained models never saw NSD's test images; the tiny models of the
embedded default must not see the generated dataset's images either. Their
scenes come from the same generator (:mod:`nsdrecon.synthetic.scenes`) under
a seed stream of their own, ``SeedSequence([seed, TRAINING_STREAM, split])``,
which the dataset generator never uses; :func:`overlapping_images` checks that
no rendered training image equals a dataset image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nsdrecon.synthetic.captions import scene_captions
from nsdrecon.synthetic.rng import stream_rng
from nsdrecon.synthetic.scenes import render_scenes, sample_scenes

__all__ = ["TRAINING_STREAM", "SceneSet", "make_scene_set", "overlapping_images"]

TRAINING_STREAM = 1_000_003
"""Seed-stream key of the tiny models' scenes (the dataset generator uses keys 0..7)."""

SPLITS = {"train": 0, "heldout": 1}


@dataclass(frozen=True)
class SceneSet:
    """Rendered scenes with their five captions each.

    Attributes
    ----------
    images : uint8 (n, S, S, 3)
    captions : list of n lists of 5 str
    """

    images: np.ndarray
    captions: list[list[str]]

    def __len__(self) -> int:
        return len(self.images)


def make_scene_set(seed: int, split: str, n: int, image_size: int) -> SceneSet:
    """``n`` scenes of ``split`` (``"train"`` or ``"heldout"``), deterministic from ``seed``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    rng = stream_rng(seed, TRAINING_STREAM, SPLITS[split])
    table = sample_scenes(rng, n)
    captions = [scene_captions(table.spec(i), rng) for i in range(n)]
    return SceneSet(render_scenes(table, image_size), captions)


def overlapping_images(images: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Indices of ``images`` that are pixel-identical to some image of ``others``."""
    seen = {image.tobytes() for image in others}
    return np.asarray([i for i, image in enumerate(images) if image.tobytes() in seen], dtype=np.int64)
