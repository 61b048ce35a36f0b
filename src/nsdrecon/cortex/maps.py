"""Decoder weight maps on fsaverage: names, the structural share, and comparison across subjects.

Per subject, each decoder target's weight magnitude (the L2 norm of a voxel's row of the ridge-initialised
input projection, :mod:`nsdrecon.interpretability`) is mapped from func1pt8mm to fsaverage with NSD's
recipe. A vertex *reads* a stream when the nearest voxel at one of its three depths is one of the stream's
decoder voxels. Weight magnitudes differ in scale between subjects (ridge penalties, voxel counts), so
across subjects each map is compared as a *relative weight*: the map divided by its mean over the
vertices that read its stream (1 = the stream's average vertex).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ALL_TARGETS",
    "SHARE",
    "MapInfo",
    "across_subjects",
    "member_name",
    "relative_weight",
    "structural_share",
    "weight_name",
]

SHARE = "structural_share"

ALL_TARGETS = "all"
"""The target name of a stream's norm over all its targets (``structural.all``)."""


def weight_name(stream: str, target: str) -> str:
    """Name of a weight-magnitude map: ``structural.latent``; ``<stream>.all`` for the stream's norm over targets."""
    return f"{stream}.{target}"


def member_name(stream: str) -> str:
    """Name of the 0/1 map of the vertices that read ``stream``."""
    return f"reads_{stream}"


@dataclass(frozen=True)
class MapInfo:
    """One map of a subject's surface files.

    Attributes
    ----------
    name : the map's name (GIFTI ``Name``; MGH frame order follows the table)
    stream : ``structural``, ``semantic`` or ``both``
    target : decoder target (``latent``, ``image``, ``text``), ``all`` (the stream's norm over its targets), or ``""``
    kind : ``weight`` (‖w‖ per voxel, mapped), ``share`` (|w_s| / (|w_s| + |w_m|)) or ``reads`` (0/1)
    """

    name: str
    stream: str
    target: str
    kind: str


def structural_share(
    structural: np.ndarray, semantic: np.ndarray, reads_structural: np.ndarray, reads_semantic: np.ndarray
) -> np.ndarray:
    """|w_s| / (|w_s| + |w_m|) per vertex, NaN where the vertex reads neither stream.

    Parameters
    ----------
    structural, semantic : float arrays (n_vertices,), the streams' mapped weight magnitudes (cubic
        interpolation can leave small negative values; their absolute value counts)
    reads_structural, reads_semantic : bool arrays (n_vertices,)

    Returns
    -------
    float64 array (n_vertices,): 1 where only the structural decoder's weight reaches the vertex, 0 where
    only the semantic one's, in between where both do
    """
    s, m = np.abs(np.asarray(structural, dtype=np.float64)), np.abs(np.asarray(semantic, dtype=np.float64))
    total = s + m
    defined = (np.asarray(reads_structural, bool) | np.asarray(reads_semantic, bool)) & (total > 0)
    share = np.full(s.shape, np.nan)
    share[defined] = s[defined] / total[defined]
    return share


def relative_weight(values: np.ndarray, reads: np.ndarray) -> np.ndarray:
    """``values`` divided by their mean over the vertices in ``reads`` (both hemispheres together).

    Raises
    ------
    ValueError
        No vertex reads the stream, or its mean weight there is not positive.
    """
    values, reads = np.asarray(values, dtype=np.float64), np.asarray(reads, dtype=bool)
    if not reads.any():
        raise ValueError("no vertex reads the stream: its relative weight is undefined")
    scale = float(np.mean(values[reads]))
    if not scale > 0:
        raise ValueError(f"mean weight over the stream's vertices is {scale}, not positive")
    return values / scale


def across_subjects(
    maps: Mapping[str, np.ndarray], names: Sequence[str]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Mean over subjects and each subject's deviation from it, per map and vertex.

    Parameters
    ----------
    maps : subject -> float array (n_vertices, n_maps), NaN where a map is undefined
    names : the maps' names (for messages)

    Returns
    -------
    mean : float64 (n_vertices, n_maps), the mean over the subjects where the map is defined (NaN where none is)
    deviations : subject -> float64 (n_vertices, n_maps), the subject's map minus the mean (NaN where its map is)
    """
    if not maps:
        raise ValueError("no subjects given")
    shapes = {subject: np.shape(values) for subject, values in maps.items()}
    if len(set(shapes.values())) != 1 or len(next(iter(shapes.values()))) != 2:
        raise ValueError(f"every subject needs maps of one shape (n_vertices, {len(names)}), found {shapes}")
    stack = np.stack([np.asarray(values, dtype=np.float64) for values in maps.values()])
    if stack.shape[2] != len(names):
        raise ValueError(f"{stack.shape[2]} maps per subject, {len(names)} names")
    defined = np.isfinite(stack)
    count = defined.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, np.where(defined, stack, 0).sum(axis=0) / np.maximum(count, 1), np.nan)
    return mean, {subject: stack[i] - mean for i, subject in enumerate(maps)}
