"""Figure: a subject's voxel sets (structural / semantic streams) on axial and coronal slices.

Slices are drawn by nilearn in the world (scanner mm) coordinates of the background image's affine.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import nibabel as nib
import numpy as np
import seaborn as sns
from matplotlib.colors import ListedColormap, to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from nibabel.spatialimages import SpatialImage
from nilearn import plotting

from nsdrecon.plotting.style import (
    FULL_WIDTH_IN,
    OVERLAP_COLOUR,
    STREAM_COLOURS,
    new_figure,
    paper_style,
    save_figure,
    set_title,
    slice_rows,
)

__all__ = ["plot_subject_masks", "background_image", "cut_coords"]

logger = logging.getLogger(__name__)

_ALPHA = 0.8  # opacity of the mask colours over the background
_VIEWS = (("axial", "z"), ("coronal", "y"))  # row label, nilearn display mode (world axis cut)


def _stream_colours(streams: list[str]) -> dict[str, tuple[float, float, float]]:
    extra = iter(sns.color_palette("colorblind", n_colors=len(streams) + 4)[4:])
    return {stream: to_rgb(STREAM_COLOURS[stream]) if stream in STREAM_COLOURS else next(extra) for stream in streams}


def background_image(background: np.ndarray | SpatialImage, subject: str) -> nib.Nifti1Image:
    """``background`` as a 3-D float NIfTI image: an image keeps its affine, an array gets a 1 mm identity one.

    Values are clipped to their 2nd and 98th percentiles (zeros ignored): nilearn scales the grey background
    between the volume's minimum and maximum, which a few bright voxels would wash out.
    """
    if isinstance(background, SpatialImage):
        data, affine = np.asanyarray(background.dataobj), background.affine
    else:
        data, affine = np.asarray(background), np.eye(4)
    if data.ndim != 3:
        raise ValueError(f"{subject}: expected a 3-D background volume, found shape {data.shape}")
    data = np.nan_to_num(data.astype(np.float32))
    inside = data[data != 0]
    if inside.size:
        data = np.clip(data, *np.percentile(inside, [2, 98]))
    return nib.Nifti1Image(data, affine)


def cut_coords(selected: np.ndarray, affine: np.ndarray, letter: str, n: int) -> list[float]:
    """Up to ``n`` slice positions (mm) along world axis ``letter`` ("x", "y", "z"), evenly spaced through the
    ``selected`` voxels (the whole volume if none), each on a voxel centre."""
    ijk = np.argwhere(selected if selected.any() else np.ones_like(selected, dtype=bool))
    centres = np.unique(nib.affines.apply_affine(affine, ijk)[:, "xyz".index(letter)].round(3))
    targets = np.linspace(centres[0], centres[-1], n)
    return np.unique(centres[np.abs(centres[:, None] - targets).argmin(axis=0)]).tolist()


def plot_subject_masks(
    masks: Mapping[str, np.ndarray],
    background: np.ndarray | SpatialImage,
    out_png: str | os.PathLike,
    out_pdf: str | os.PathLike,
    *,
    subject: str,
    n_slices: int = 6,
    title_note: str = "",
) -> Figure:
    """Axial (top row) and coronal (bottom row) slices with each stream's voxels coloured.

    Parameters
    ----------
    masks : stream name (e.g. "structural", "semantic") -> bool array of shape (X, Y, Z), on the background's grid
    background : the subject's mean volume as a nibabel image (its affine places the slices in scanner mm),
        or a float array of shape (X, Y, Z) (taken as 1 mm voxels)
    out_png, out_pdf : output files (written atomically)
    subject : subject id for the title
    n_slices : slices per view (evenly spaced through the masked voxels)
    title_note : second title line

    Slices are shown in neurological convention (left hemisphere on the left), each labelled with its
    position in mm; voxels in several streams get OVERLAP_COLOUR; the legend gives each stream's voxel count.
    Returns the saved figure.
    """
    if not masks:
        raise ValueError(f"{subject}: no masks given")
    bg_img = background_image(background, subject)
    masks = {stream: np.asarray(mask) for stream, mask in masks.items()}
    for stream, mask in masks.items():
        if mask.dtype != bool or mask.shape != bg_img.shape:
            raise ValueError(
                f"{subject} {stream} mask: expected a bool array of shape {bg_img.shape}, "
                f"found dtype {mask.dtype} shape {mask.shape}"
            )
    colours = _stream_colours(list(masks))
    count = np.sum([mask.astype(np.int32) for mask in masks.values()], axis=0)
    # one label per stream (voxels in that stream only), then one for voxels in several streams
    labels = np.zeros(bg_img.shape, dtype=np.int16)
    for label, mask in enumerate(masks.values(), start=1):
        labels[mask & (count == 1)] = label
    labels[count > 1] = len(masks) + 1
    label_img = nib.Nifti1Image(labels, bg_img.affine)
    cmap = ListedColormap([*colours.values(), to_rgb(OVERLAP_COLOUR)])
    n_overlap = int((count > 1).sum())

    with paper_style():
        fig = new_figure(FULL_WIDTH_IN, 3.6)
        set_title(fig, f"{subject}: voxel sets per stream", title_note)
        for host, (view, letter) in zip(slice_rows(fig, len(_VIEWS), left=0.25, right=0.05, bottom=0.3), _VIEWS):
            display = plotting.plot_roi(
                label_img, bg_img=bg_img, cut_coords=cut_coords(count > 0, bg_img.affine, letter, n_slices),
                display_mode=letter, figure=fig, axes=host, cmap=cmap, vmin=0.5, vmax=len(masks) + 1.5,
                alpha=_ALPHA, colorbar=False, annotate=False, draw_cross=False, black_bg=False,
            )
            display.annotate(size=7)
            # row label beside the slices: nilearn's title would sit inside the first slice
            host.text(0, 0.5, view, transform=host.transAxes, rotation=90, ha="right", va="center")
        # nilearn has no categorical legend (its ROI colour bar shows label numbers, not stream names)
        handles = [
            Patch(facecolor=colours[stream], label=f"{stream} ({int(mask.sum()):,} voxels)")
            for stream, mask in masks.items()
        ]
        if n_overlap:
            handles.append(Patch(facecolor=OVERLAP_COLOUR, label=f"in several streams ({n_overlap:,} voxels)"))
        fig.legend(handles=handles, loc="lower center", ncols=len(handles), frameon=False)
        save_figure(fig, out_png, out_pdf)
    logger.info("%s masks %s -> %s", subject, {s: int(m.sum()) for s, m in masks.items()}, out_png)
    return fig
