"""Stimuli of the generated THINGS worlds: procedural scenes grouped into named concepts.

A concept is one scene description (:func:`concept_of`, e.g. ``red circle and
blue square on grey``); its exemplar images are that scene drawn again with
fresh jitter of object positions and sizes (:func:`exemplar_scenes`), as
THINGS' exemplars are different photos of one object concept. Images are
written as JPEG files named THINGS-style, ``<concept_folder>_<nn>s.jpg``.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
from PIL import Image

from nsdrecon.atomic import atomic_path

from .scenes import SceneSpec, SceneTable, sample_scenes

__all__ = [
    "concatenate_scenes",
    "concept_of",
    "concept_scenes",
    "exemplar_file",
    "exemplar_scenes",
    "folder_name",
    "write_jpeg",
]

_EXEMPLAR_JITTER = 0.06  # centre shift, half image widths
_EXEMPLAR_SCALE = 0.08  # relative radius change
_OVERSAMPLE = 4


def concept_of(spec: SceneSpec) -> str:
    """A scene's concept: its objects' colour and shape and its background, ``red circle and blue square on grey``."""
    objects = " and ".join(f"{o.colour} {o.shape}" for o in spec.objects)
    return f"{objects} on {spec.background}"


def folder_name(concept: str) -> str:
    """The concept as a file-name part: spaces become underscores (``red_circle_on_grey``)."""
    return concept.replace(" ", "_")


def exemplar_file(concept: str, exemplar: int) -> str:
    """THINGS-style image file name of a concept's 0-based ``exemplar``: ``red_circle_on_grey_01s.jpg``."""
    return f"{folder_name(concept)}_{exemplar + 1:02d}s.jpg"


def concept_scenes(rng: np.random.Generator, n_concepts: int) -> tuple[SceneTable, list[str]]:
    """``n_concepts`` scenes with distinct concepts, sorted by concept name (as THINGS numbers concepts).

    Returns
    -------
    table : SceneTable
        ``n_concepts`` scenes.
    concepts : list of str, length n_concepts
        Their concepts, sorted.

    Raises
    ------
    ValueError
        When the scene vocabulary yields fewer distinct concepts than asked for.
    """
    candidates = sample_scenes(rng, n_concepts * _OVERSAMPLE)
    first = {}
    for row in range(len(candidates)):
        first.setdefault(concept_of(candidates.spec(row)), row)
    if len(first) < n_concepts:
        raise ValueError(f"asked for {n_concepts} concepts, but only {len(first)} distinct ones were drawn")
    chosen = sorted(list(first)[:n_concepts])  # the first drawn, in name order
    return candidates.subset(np.asarray([first[name] for name in chosen])), chosen


def exemplar_scenes(rng: np.random.Generator, concepts: SceneTable, n_exemplars: int) -> SceneTable:
    """Each concept scene repeated ``n_exemplars`` times (concept-major) with fresh position and size jitter."""
    table = concepts.subset(np.repeat(np.arange(len(concepts)), n_exemplars))
    shift = rng.uniform(-_EXEMPLAR_JITTER, _EXEMPLAR_JITTER, size=table.centre.shape).astype(np.float32)
    scale = 1 + rng.uniform(-_EXEMPLAR_SCALE, _EXEMPLAR_SCALE, size=table.radius.shape).astype(np.float32)
    return dataclasses.replace(table, centre=table.centre + shift, radius=table.radius * scale)


def concatenate_scenes(tables: list[SceneTable]) -> SceneTable:
    """The scenes of ``tables``, one after the other, as one table."""
    return SceneTable(
        **{name: np.concatenate([getattr(t, name) for t in tables]) for name in SceneTable.__dataclass_fields__}
    )


def write_jpeg(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write one uint8 (S, S, 3) image as JPEG (quality 95), atomically."""
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="JPEG", quality=95)
