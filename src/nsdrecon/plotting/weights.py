"""Figure: a subject's decoder weight magnitude per voxel, one row per stream, on axial slices.

The maps are drawn by nilearn in the subject's native functional volume (scanner mm of its affine): NSD's
func1pt8mm voxels have no mapping to fsaverage or MNI without NSD's own transform files, so the volume
slices are shown (see the report caption).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import nibabel as nib
import numpy as np
from matplotlib.figure import Figure
from nibabel.spatialimages import SpatialImage
from nilearn import plotting

from nsdrecon.plotting.masks import background_image, cut_coords
from nsdrecon.plotting.style import (
    FULL_WIDTH_IN,
    STREAM_COLOURS,
    new_figure,
    paper_style,
    save_figure,
    set_title,
    slice_rows,
)

__all__ = ["weight_volume", "plot_weight_maps"]

logger = logging.getLogger(__name__)

_CMAP = "magma"


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
    background: np.ndarray | SpatialImage,
    out_png: str | os.PathLike,
    out_pdf: str | os.PathLike,
    *,
    subject: str,
    n_slices: int = 6,
    title_note: str = "",
) -> Figure:
    """Axial slices of each stream's weight magnitudes over the subject's mean volume.

    Parameters
    ----------
    volumes : stream -> float array (X, Y, Z), the weight magnitude of the stream's voxels, NaN elsewhere
        (see :func:`weight_volume`), on the background's grid
    background : the subject's mean functional volume as a nibabel image (its affine places the slices in
        scanner mm), or a float array (X, Y, Z) (taken as 1 mm voxels)
    out_png, out_pdf : output files (written atomically)
    subject : subject id for the title
    n_slices : axial slices, evenly spaced through the voxels of all streams
    title_note : second title line

    Each stream has its own colour scale (0 to its largest magnitude) and colour bar; slices are shown in
    neurological convention, labelled with their position in mm. Voxels of magnitude exactly 0 are left
    undrawn, like those outside the stream. Returns the saved figure.
    """
    bg_img = background_image(background, subject)
    if not volumes:
        raise ValueError(f"{subject}: no weight volumes given")
    for stream, volume in volumes.items():
        if np.shape(volume) != bg_img.shape:
            raise ValueError(
                f"{subject} {stream}: weight volume of shape {np.shape(volume)} does not match the "
                f"background of shape {bg_img.shape}"
            )
        if not np.isfinite(volume).any():
            raise ValueError(f"{subject} {stream}: weight volume holds no voxel")
    any_voxel = np.any([np.isfinite(volume) for volume in volumes.values()], axis=0)
    cuts = cut_coords(any_voxel, bg_img.affine, "z", n_slices)

    with paper_style():
        fig = new_figure(FULL_WIDTH_IN, 1.25 * len(volumes) + 0.8)
        set_title(fig, f"{subject}: decoder weight magnitude per voxel (axial slices, native space)", title_note)
        hosts = slice_rows(fig, len(volumes), left=0.4, right=0.2, bottom=0.05)
        for host, (stream, volume) in zip(hosts, volumes.items()):
            top = float(np.nanmax(volume)) or 1.0
            # voxels outside the stream (NaN) become 0, which threshold=0 leaves undrawn
            stat_img = nib.Nifti1Image(np.nan_to_num(np.asarray(volume, dtype=np.float32)), bg_img.affine)
            display = plotting.plot_stat_map(
                stat_img, bg_img=bg_img, cut_coords=cuts, display_mode="z", figure=fig, axes=host, cmap=_CMAP,
                vmin=0, vmax=top, symmetric_cbar=False, threshold=0, resampling_interpolation="nearest",
                colorbar=True, annotate=False, draw_cross=False, black_bg=False,
            )
            display.annotate(size=7)
            # row label beside the slices: nilearn's title would sit inside the first slice
            n_voxels = int(np.isfinite(volume).sum())
            host.text(0, 0.5, f"{stream}\n({n_voxels:,} voxels)", transform=host.transAxes, rotation=90,
                      ha="right", va="center", color=STREAM_COLOURS.get(stream, "black"))
            # nilearn's colour bar takes no label
            host.text(1, 0.5, "‖w‖ per voxel", transform=host.transAxes, rotation=270, ha="left", va="center",
                      fontsize=7)
        save_figure(fig, out_png, out_pdf)
    logger.info("%s weight maps (%s) -> %s", subject, list(volumes), out_png)
    return fig
