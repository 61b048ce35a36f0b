"""Figure: how each subject's structural and semantic pathways differ.

Left: the share of each stream's decoder weight magnitude that falls in each
ROI group, one bar per subject. Right: the overlap of the streams' label sets
per subject, before shared voxels are assigned to one stream.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd
import seaborn as sns
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

__all__ = ["plot_pathways"]

logger = logging.getLogger(__name__)

_OVERLAP_PARTS = (
    ("structural_only", "structural only", STREAM_COLOURS["structural"]),
    ("both", "in both label sets", OVERLAP_COLOUR),
    ("semantic_only", "semantic only", STREAM_COLOURS["semantic"]),
)


def _check_columns(name: str, frame: pd.DataFrame, columns: list[str]) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}; found {list(frame.columns)}")


def _share_panel(ax, shares: pd.DataFrame, stream: str, subjects: list[str], palette: dict) -> None:
    rows = shares[shares["stream"] == stream]
    used = rows.groupby("roi_group", sort=False)["share"].sum()
    groups = [group for group in dict.fromkeys(rows["roi_group"]) if used[group] > 0]
    sns.barplot(
        data=rows.assign(percent=100 * rows["share"]), x="roi_group", y="percent", hue="subject",
        order=groups, hue_order=subjects, palette=palette, errorbar=None, legend=False, ax=ax,
    )
    ax.set_title(f"{stream} stream: share of decoder weight per ROI group", color=STREAM_COLOURS.get(stream, "black"))
    ax.set_ylabel("share of weight (%)")
    ax.set_xlabel("")
    if len(groups) > 8:
        ax.tick_params(axis="x", labelrotation=30)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")


def _overlap_panel(ax, overlap: pd.DataFrame, subjects: list[str], overlap_rule: str) -> None:
    table = overlap.set_index("subject").loc[subjects]
    y = np.arange(len(subjects))
    left = np.zeros(len(subjects))
    for column, _, colour in _OVERLAP_PARTS:
        ax.barh(y, table[column], left=left, color=colour, height=0.6)
        left += table[column].to_numpy()
    for yi, (subject, row) in zip(y, table.iterrows()):
        ax.text(left[yi], yi, f" Dice {row['dice']:.2f}", va="center", fontsize=6.5)
    ax.set_yticks(y, subjects)
    ax.invert_yaxis()
    ax.set_xlim(0, left.max() * 1.45)
    ax.set_xlabel("voxels")
    ax.set_title(f"label-set overlap\nshared voxels → {overlap_rule}")


def plot_pathways(
    shares: pd.DataFrame,
    overlap: pd.DataFrame,
    out_png: str | os.PathLike,
    out_pdf: str | os.PathLike,
    *,
    overlap_rule: str = "structural",
    title: str = "Structural and semantic pathways per subject",
    title_note: str = "",
) -> None:
    """ROI shares of each stream's decoder weights per subject, and the streams' overlap per subject.

    Parameters
    ----------
    shares : output of :func:`nsdrecon.interpretability.roi_weight_shares`
        (columns subject, stream, roi_group, share)
    overlap : one row per subject with structural_only, semantic_only, both, dice
        (:func:`nsdrecon.interpretability.stream_overlap`)
    out_png, out_pdf : output files (written atomically)
    overlap_rule : the ``masks.overlap`` setting, named in the overlap panel
    title, title_note : figure title and its second line
    """
    _check_columns("ROI share table", shares, ["subject", "stream", "roi_group", "share"])
    _check_columns("overlap table", overlap, ["subject", "structural_only", "semantic_only", "both", "dice"])
    subjects = sorted(set(shares["subject"]))
    absent = sorted(set(subjects) - set(overlap["subject"]))
    if absent:
        raise ValueError(f"overlap table lacks subjects {absent}")
    streams = list(dict.fromkeys(shares["stream"]))
    palette = dict(zip(subjects, sns.color_palette("Greys", n_colors=len(subjects) + 1)[1:]))

    with paper_style():
        fig = new_figure(FULL_WIDTH_IN, 1.9 * len(streams) + 1.0)
        mosaic = [[stream, "overlap"] for stream in streams]
        axes = fig.subplot_mosaic(mosaic, width_ratios=[3.2, 1])
        for stream in streams:
            _share_panel(axes[stream], shares, stream, subjects, palette)
        _overlap_panel(axes["overlap"], overlap, subjects, overlap_rule)
        handles = [Patch(facecolor=palette[subject], edgecolor="black", lw=0.4, label=subject) for subject in subjects]
        handles += [Patch(facecolor=colour, label=label) for _, label, colour in _OVERLAP_PARTS]
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 7), frameon=False)
        set_title(fig, title, title_note)
        save_figure(fig, out_png, out_pdf)
    logger.info("pathways (%d subjects, streams %s) -> %s", len(subjects), streams, out_png)
