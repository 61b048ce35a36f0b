"""Figure: a subject's voxel sets (structural / semantic streams) on axial and coronal slices."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import numpy as np
import seaborn as sns
from matplotlib.colors import to_rgb
from matplotlib.patches import Patch

from nsdrecon.plotting.style import (
    FULL_WIDTH_IN,
    OVERLAP_COLOUR,
    STREAM_COLOURS,
    new_figure,
    paper_style,
    save_figure,
    set_title,
)

__all__ = ["plot_subject_masks"]

logger = logging.getLogger(__name__)

_ALPHA = 0.8  # opacity of the mask colours over the background
_VIEWS = (("axial", 2, "z"), ("coronal", 1, "y"))  # name, volume axis sliced, axis letter


def _stream_colours(streams: list[str]) -> dict[str, tuple[float, float, float]]:
    extra = iter(sns.color_palette("colorblind", n_colors=len(streams) + 4)[4:])
    return {stream: to_rgb(STREAM_COLOURS[stream]) if stream in STREAM_COLOURS else next(extra) for stream in streams}


def grey_background(background: np.ndarray, level: float) -> np.ndarray:
    """Background volume scaled to [0, ``level``] between its 2nd and 98th percentiles (zeros ignored)."""
    finite = background[np.isfinite(background) & (background != 0)]
    low, high = np.percentile(finite, [2, 98]) if finite.size else (0.0, 1.0)
    return np.clip((np.nan_to_num(background) - low) / max(high - low, 1e-12), 0, 1) * level


def _overlay(masks: dict[str, np.ndarray], count: np.ndarray, background: np.ndarray, colours: dict) -> np.ndarray:
    """RGB volume (X, Y, Z, 3): grey background, each stream's colour, OVERLAP_COLOUR where ``count`` > 1."""
    grey = grey_background(background, 0.85)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    layers = [(mask & (count == 1), colours[stream]) for stream, mask in masks.items()]
    layers.append((count > 1, to_rgb(OVERLAP_COLOUR)))
    for selected, colour in layers:
        rgb[selected] = (1 - _ALPHA) * rgb[selected] + _ALPHA * np.asarray(colour)
    return rgb


def _slice_indices(any_mask: np.ndarray, axis: int, n: int) -> np.ndarray:
    """``n`` evenly spaced slice indices along ``axis`` through the masked voxels (whole volume if none)."""
    other = tuple(a for a in range(3) if a != axis)
    occupied = np.flatnonzero(any_mask.any(axis=other))
    low, high = (occupied[0], occupied[-1]) if occupied.size else (0, any_mask.shape[axis] - 1)
    return np.unique(np.linspace(low, high, n).round().astype(int))


def plot_subject_masks(
    masks: Mapping[str, np.ndarray],
    background: np.ndarray,
    out_png: str | os.PathLike,
    out_pdf: str | os.PathLike,
    *,
    subject: str,
    n_slices: int = 6,
    title_note: str = "",
) -> None:
    """Axial (top row) and coronal (bottom row) slices with each stream's voxels coloured.

    Parameters
    ----------
    masks : stream name (e.g. "structural", "semantic") -> bool array of shape (X, Y, Z)
    background : float array of shape (X, Y, Z), e.g. a mean beta or brain-mask volume
    out_png, out_pdf : output files (written atomically)
    subject : subject id for the title
    n_slices : slices per view (evenly spaced through the masked voxels)
    title_note : second title line

    Slices are shown with x to the right and y (axial) or z (coronal) upwards,
    in voxel order; the legend gives each stream's voxel count.
    """
    if not masks:
        raise ValueError(f"{subject}: no masks given")
    background = np.asarray(background, dtype=np.float64)
    if background.ndim != 3:
        raise ValueError(f"{subject}: expected a 3-D background volume, found shape {background.shape}")
    masks = {stream: np.asarray(mask) for stream, mask in masks.items()}
    for stream, mask in masks.items():
        if mask.dtype != bool or mask.shape != background.shape:
            raise ValueError(
                f"{subject} {stream} mask: expected a bool array of shape {background.shape}, "
                f"found dtype {mask.dtype} shape {mask.shape}"
            )
    colours = _stream_colours(list(masks))
    count = np.sum([mask.astype(np.int32) for mask in masks.values()], axis=0)
    rgb = _overlay(masks, count, background, colours)
    any_mask = count > 0
    n_overlap = int((count > 1).sum())

    with paper_style():
        fig = new_figure(FULL_WIDTH_IN, 3.6)
        axes = fig.subplots(len(_VIEWS), n_slices, squeeze=False)
        for view_axes, (view, axis, letter) in zip(axes, _VIEWS):
            indices = _slice_indices(any_mask, axis, n_slices)
            for ax, index in zip(view_axes, indices):
                ax.imshow(np.take(rgb, index, axis=axis).transpose(1, 0, 2), origin="lower", interpolation="nearest")
                ax.set_title(f"{letter} = {index}")
            for ax in view_axes:
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_visible(False)
            for ax in view_axes[len(indices) :]:
                ax.set_visible(False)
            view_axes[0].set_ylabel(view)
        handles = [
            Patch(facecolor=colours[stream], label=f"{stream} ({int(mask.sum()):,} voxels)")
            for stream, mask in masks.items()
        ]
        if n_overlap:
            handles.append(Patch(facecolor=OVERLAP_COLOUR, label=f"in several streams ({n_overlap:,} voxels)"))
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
        set_title(fig, f"{subject}: voxel sets per stream", title_note)
        save_figure(fig, out_png, out_pdf)
    logger.info("%s masks %s -> %s", subject, {s: int(m.sum()) for s, m in masks.items()}, out_png)
