"""Figure: HAVIR against its ablations (no structural prior, no text, no image guidance), per metric."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from nsdrecon.metrics.names import MEAN_SUBJECT, METRICS
from nsdrecon.plotting.metrics import chance_handle, decorate_metric_panel, our_rows
from nsdrecon.plotting.style import (
    FULL_WIDTH_IN,
    method_colours,
    new_figure,
    paper_style,
    save_figure,
    set_title,
)

__all__ = ["ABLATIONS", "plot_ablations"]

logger = logging.getLogger(__name__)

# HAVIR's ablations (methods.md): what each leaves out, and a short tick label.
ABLATIONS = {
    "havir_no_structure": ("no structural prior", "−structure"),
    "havir_no_text": ("no text guidance", "−text"),
    "havir_no_image": ("no image guidance", "−image"),
}
_SUBJECT_MARKERS = ["o", "s", "D", "^", "v", "P", "X", "*"]


def plot_ablations(
    summary: pd.DataFrame,
    out_png: str | os.PathLike,
    out_pdf: str | os.PathLike,
    *,
    full: str = "havir",
    ablations: Sequence[str] | None = None,
    title: str = "HAVIR ablations",
    title_note: str = "",
) -> None:
    """One panel per metric: a bar per variant (mean of subjects), a marker per subject.

    Parameters
    ----------
    summary : output of :func:`nsdrecon.tables.summarize` or the metrics TSV (published rows skipped)
    out_png, out_pdf : output files (written atomically)
    full : the full model's method name
    ablations : ablated variants to show, in order; default: those of :data:`ABLATIONS` in ``summary``
    title, title_note : figure title and its second line
    """
    summary = our_rows(summary)
    present = list(dict.fromkeys(summary["method"]))
    ablations = [m for m in ABLATIONS if m in present] if ablations is None else list(ablations)
    variants = [full, *ablations]
    missing = [m for m in variants if m not in present]
    if missing or not ablations:
        raise ValueError(
            f"ablation figure needs {full!r} and at least one ablation in the metrics table; "
            f"missing {missing or list(ABLATIONS)}, found methods {present}"
        )
    rows = summary[summary["method"].isin(variants)]
    subjects = sorted(set(rows["subject"]) - {MEAN_SUBJECT})
    per_subject = rows[rows["subject"] != MEAN_SUBJECT].set_index(["method", "subject"])
    means = per_subject.groupby(level="method")[METRICS].mean()
    colours = method_colours(variants)
    ticks = {m: ABLATIONS[m][1] if m in ABLATIONS else "full" for m in variants}
    legend = {m: f"{m}: {ABLATIONS[m][0]}" if m in ABLATIONS else f"{m}: full model" for m in variants}
    x = np.arange(len(variants))
    offsets = np.linspace(-0.2, 0.2, len(subjects)) if len(subjects) > 1 else np.zeros(1)

    with paper_style():
        fig = new_figure(FULL_WIDTH_IN, 5.4)
        axes = fig.subplots(2, 4).ravel()
        for ax, metric in zip(axes, METRICS):
            ax.bar(x, [means.loc[m, metric] for m in variants], color=[colours[m] for m in variants], width=0.7)
            for subject, offset, marker in zip(subjects, offsets, _SUBJECT_MARKERS):
                values = [per_subject.loc[(m, subject), metric] if (m, subject) in per_subject.index else np.nan
                          for m in variants]
                ax.plot(x + offset, values, marker=marker, ls="none", ms=3.5, mfc="white", mec="black", mew=0.7)
            decorate_metric_panel(ax, rows, metric)
            ax.set_xticks(x, [ticks[m] for m in variants], rotation=30, ha="right", rotation_mode="anchor")
        handles = [Patch(facecolor=colours[m], label=legend[m]) for m in variants]
        handles += [
            Line2D([], [], marker=marker, ls="none", ms=3.5, mfc="white", mec="black", mew=0.7, label=subject)
            for subject, marker in zip(subjects, _SUBJECT_MARKERS)
        ]
        handles.append(chance_handle())
        fig.legend(
            handles=handles, loc="outside lower center", ncols=3, frameon=False,
            title="bars: mean of subjects;  markers: each subject",
        )
        set_title(fig, title, title_note)
        save_figure(fig, out_png, out_pdf)
    logger.info("ablations %s vs %s (%d subjects) -> %s", ablations, full, len(subjects), out_png)
