"""Figure: the eight metrics per method and subject, against the published reference values."""

from __future__ import annotations

import logging
import os

import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from nsdrecon.metrics.names import (
    IDENTIFICATION_METRICS,
    LOWER_IS_BETTER,
    METRICS,
    NETWORK_OF_METRIC,
    WEIGHTS_PRETRAINED,
    weights_column,
)
from nsdrecon.plotting.style import (
    FULL_WIDTH_IN,
    REFERENCE_COLOUR,
    WARNING_COLOUR,
    method_colours,
    new_figure,
    paper_style,
    save_figure,
    set_title,
)
from nsdrecon.tables import MEAN_SUBJECT, REFERENCE_RESULTS

__all__ = ["plot_metric_bars"]

logger = logging.getLogger(__name__)

_Y_LABELS = {"PixCorr": "Pearson r", "SSIM": "SSIM", "EffNet-B": "correlation distance", "SwAV": "correlation distance"}
_REFERENCE_DASHES = ["--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 2))]


def _random_weights(summary: pd.DataFrame, metric: str) -> bool:
    """True when the network behind ``metric`` ran without pretrained weights anywhere in ``summary``."""
    column = weights_column(NETWORK_OF_METRIC.get(metric, ""))
    if metric not in NETWORK_OF_METRIC or column not in summary.columns:
        return False
    return any(label != WEIGHTS_PRETRAINED for label in summary[column].dropna().astype(str))


def plot_metric_bars(
    summary: pd.DataFrame,
    out_png: str | os.PathLike,
    out_pdf: str | os.PathLike,
    *,
    references: pd.DataFrame | None = REFERENCE_RESULTS,
    title: str = "Reconstruction metrics",
    title_note: str = "",
) -> None:
    """One panel per metric: bars per method grouped by subject, published values as horizontal lines.

    Parameters
    ----------
    summary : output of :func:`nsdrecon.tables.summarize` (columns subject, method, the 8 metrics,
        optional ``weights:<network>`` labels; panels of networks without pretrained weights say so)
    out_png, out_pdf : output files (written atomically)
    references : published rows (columns method, scope, the metrics; rows with ``ablation`` True
        are skipped); None draws none
    title : figure title
    title_note : second title line, e.g. "random-weight tiny models: images are noise"
    """
    missing = [column for column in ["subject", "method", *METRICS] if column not in summary.columns]
    if missing:
        raise ValueError(f"summary lacks columns {missing}; found {list(summary.columns)}")
    methods = list(dict.fromkeys(summary["method"]))
    subjects = sorted(set(summary["subject"]) - {MEAN_SUBJECT})
    subjects += [MEAN_SUBJECT] if MEAN_SUBJECT in set(summary["subject"]) else []
    colours = method_colours(methods)
    if references is not None and "ablation" in references.columns:
        references = references[~references["ablation"].astype(bool)]
    reference_rows = [] if references is None else references.to_dict("records")

    with paper_style():
        fig = new_figure(FULL_WIDTH_IN, 5.4)
        axes = fig.subplots(2, 4).ravel()
        for ax, metric in zip(axes, METRICS):
            sns.barplot(
                data=summary,
                x="subject",
                y=metric,
                hue="method",
                order=subjects,
                hue_order=methods,
                palette=colours,
                errorbar=None,
                legend=False,
                ax=ax,
            )
            for row, dashes in zip(reference_rows, _REFERENCE_DASHES):
                ax.axhline(row[metric], color=REFERENCE_COLOUR, ls=dashes, lw=0.9)
            if metric in IDENTIFICATION_METRICS:
                ax.axhline(0.5, color="black", ls=(0, (1, 1)), lw=0.6)
                ax.set_ylim(0, 1.02)
            ax.axhline(0, color="black", lw=0.5)
            lines = [f"{metric} ↓", "(lower is better)"] if metric in LOWER_IS_BETTER else [f"{metric} ↑"]
            random_weights = _random_weights(summary, metric)
            lines += ["random weights"] if random_weights else []
            ax.set_title("\n".join(lines), color=WARNING_COLOUR if random_weights else "black")
            ax.set_ylabel(_Y_LABELS.get(metric, "two-way identification"))
            ax.set_xlabel("")
            if len(subjects) > 3:
                ax.tick_params(axis="x", labelrotation=45)
                for label in ax.get_xticklabels():
                    label.set_horizontalalignment("right")

        handles = [Patch(facecolor=colours[method], label=method) for method in methods]
        handles += [
            Line2D(
                [], [], color=REFERENCE_COLOUR, ls=dashes, lw=0.9, label=f"{row['method']}, {row['scope']} (published)"
            )
            for row, dashes in zip(reference_rows, _REFERENCE_DASHES)
        ]
        handles.append(Line2D([], [], color="black", ls=(0, (1, 1)), lw=0.6, label="chance (identification)"))
        fig.legend(handles=handles, loc="outside lower center", ncols=3, frameon=False)
        set_title(fig, title, title_note)
        save_figure(fig, out_png, out_pdf)
    logger.info("metric bars (%d methods x %d subjects) -> %s", len(methods), len(subjects), out_png)
