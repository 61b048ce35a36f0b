"""Figure: stimuli next to each method's reconstructions."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import numpy as np

from nsdrecon.images import check_images
from nsdrecon.plotting.style import new_figure, paper_style, save_figure, set_title, wrap_label

__all__ = ["plot_reconstruction_grid"]

logger = logging.getLogger(__name__)

_CELL_IN = 0.95  # inches per image


def plot_reconstruction_grid(
    stimuli: np.ndarray,
    recons: Mapping[str, np.ndarray],
    out_png: str | os.PathLike,
    out_pdf: str | os.PathLike,
    *,
    n_images: int = 8,
    image_labels: Sequence[str] | None = None,
    title: str = "Seen images and reconstructions",
    title_note: str = "",
) -> None:
    """Grid of the first ``n_images`` stimuli (rows) with the stimulus and each method's reconstruction (columns).

    Parameters
    ----------
    stimuli : uint8 array of shape (N, H, W, 3)
    recons : method name -> uint8 array of shape (N, h, w, 3), aligned with ``stimuli``
    out_png, out_pdf : output files (written atomically)
    n_images : rows shown (at most N)
    image_labels : optional row labels (e.g. NSD ids), length >= the rows shown
    title : figure title
    title_note : second title line, e.g. "random-weight tiny models: images are noise"
    """
    stimuli = check_images("stimuli", stimuli)
    for method, images in recons.items():
        check_images(f"reconstructions of {method}", images)
        if len(images) != len(stimuli):
            raise ValueError(
                f"{method}: expected {len(stimuli)} reconstructions (one per stimulus), found {len(images)}"
            )
    n_rows = min(n_images, len(stimuli))
    if n_rows < 1:
        raise ValueError(f"nothing to plot: {len(stimuli)} stimuli, n_images={n_images}")
    if image_labels is not None and len(image_labels) < n_rows:
        raise ValueError(f"expected at least {n_rows} image labels, found {len(image_labels)}")
    columns = {"stimulus": stimuli, **recons}

    with paper_style():
        fig = new_figure(_CELL_IN * len(columns) + 0.4, _CELL_IN * n_rows + 0.6)
        axes = fig.subplots(n_rows, len(columns), squeeze=False)
        for col, (name, images) in enumerate(columns.items()):
            axes[0, col].set_title(wrap_label(name), fontweight="bold" if col == 0 else "normal")
            for row in range(n_rows):
                ax = axes[row, col]
                ax.imshow(images[row], interpolation="lanczos")
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_visible(False)
        if image_labels is not None:
            for row in range(n_rows):
                axes[row, 0].set_ylabel(str(image_labels[row]), rotation=0, ha="right", va="center")
        set_title(fig, title, title_note)
        save_figure(fig, out_png, out_pdf)
    logger.info("reconstruction grid (%d images x %d columns) -> %s", n_rows, len(columns), out_png)
