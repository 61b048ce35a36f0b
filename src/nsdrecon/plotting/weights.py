"""Figure: a subject's decoder weight magnitude per voxel, one row per stream, on axial slices.

The maps are drawn in the subject's native functional volume: NSD's
func1pt8mm voxels have no mapping to fsaverage or MNI without NSD's own
transform files, so the volume slices are shown (see the report caption).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize

from nsdrecon.plotting.masks import _slice_indices, grey_background
from nsdrecon.plotting.style import FULL_WIDTH_IN, STREAM_COLOURS, new_figure, paper_style, save_figure, set_title

__all__ = ["weight_volume", "plot_weight_maps"]

logger = logging.getLogger(__name__)

_CMAP = colormaps["magma"]


def weight_volume(ijk: np.ndarray, values: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Scatter per-voxel ``values`` at voxel indices ``ijk`` (n, 3) into a NaN volume of ``shape``."""
    ijk = np.asarray(ijk, dtype=int)
    if ijk.ndim != 2 or ijk.shape[1] != 3 or len(ijk) != len(values):
        raise ValueError(f"expected voxel indices (n, 3) and n values, found {ijk.shape} and {len(values)}")
    if np.any(ijk < 0) or np.any(ijk >= np.asarray(shape)):
        raise ValueError(f"voxel indices fall outside the volume of shape {tuple(shape)}")
    volume = np.full(shape, np.nan)
    volume[tuple(ijk.T)] = values
    return volume


def plot_weight_maps(
    volumes: Mapping[str, np.ndarray],
    background: np.ndarray,
    out_png: str | os.PathLike,
    out_pdf: str | os.PathLike,
    *,
    subject: str,
    n_slices: int = 6,
    title_note: str = "",
) -> None:
    """Axial slices of each stream's weight magnitudes over the subject's mean volume.

    Parameters
    ----------
    volumes : stream -> float array (X, Y, Z), the weight magnitude of the stream's voxels, NaN elsewhere
        (see :func:`weight_volume`)
    background : float array (X, Y, Z), e.g. the subject's mean functional volume
    out_png, out_pdf : output files (written atomically)
    subject : subject id for the title
    n_slices : axial slices, evenly spaced through the voxels of all streams
    title_note : second title line

    Each stream has its own colour scale (0 to its largest magnitude) and colour bar.
    """
    background = np.asarray(background, dtype=np.float64)
    if not volumes:
        raise ValueError(f"{subject}: no weight volumes given")
    for stream, volume in volumes.items():
        if np.shape(volume) != background.shape:
            raise ValueError(
                f"{subject} {stream}: weight volume of shape {np.shape(volume)} does not match the "
                f"background of shape {background.shape}"
            )
        if not np.isfinite(volume).any():
            raise ValueError(f"{subject} {stream}: weight volume holds no voxel")
    grey = grey_background(background, 0.8)
    any_voxel = np.any([np.isfinite(volume) for volume in volumes.values()], axis=0)
    slices = _slice_indices(any_voxel, 2, n_slices)

    with paper_style():
        fig = new_figure(FULL_WIDTH_IN, 1.25 * len(volumes) + 0.8)
        axes = fig.subplots(len(volumes), len(slices), squeeze=False)
        for row, (stream, volume) in zip(axes, volumes.items()):
            top = float(np.nanmax(volume)) or 1.0
            for ax, z in zip(row, slices):
                rgb = np.repeat(grey[:, :, z, None], 3, axis=-1)
                values = volume[:, :, z]
                inside = np.isfinite(values)
                rgb[inside] = _CMAP(values[inside] / top)[:, :3]
                ax.imshow(rgb.transpose(1, 0, 2), origin="lower", interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_visible(False)
            row[0].set_ylabel(f"{stream}\n({int(np.isfinite(volume).sum()):,} voxels)",
                              color=STREAM_COLOURS.get(stream, "black"))
            mappable = fig.colorbar(
                ScalarMappable(norm=Normalize(0, top), cmap=_CMAP), ax=list(row), location="right", fraction=0.05, pad=0.01, aspect=8
            )
            mappable.set_label("‖w‖ per voxel", fontsize=7)
        for ax, z in zip(axes[0], slices):
            ax.set_title(f"z = {z}")
        set_title(fig, f"{subject}: decoder weight magnitude per voxel (axial slices, native space)", title_note)
        save_figure(fig, out_png, out_pdf)
    logger.info("%s weight maps (%s) -> %s", subject, list(volumes), out_png)
