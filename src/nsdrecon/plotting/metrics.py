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
    MEAN_SUBJECT,
    METRICS,
    NETWORK_OF_METRIC,
    SOURCE_OURS,
    SOURCE_PUBLISHED,
    WEIGHTS_RANDOM,
    WEIGHTS_TINY_TRAINED,
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

__all__ = ["Y_LABELS", "chance_handle", "decorate_metric_panel", "our_rows", "plot_metric_bars", "set_metric_title"]

logger = logging.getLogger(__name__)

Y_LABELS = {
    "PixCorr": "Pearson r",
    "SSIM": "SSIM (0 to 1)",
    "EffNet-B": "correlation distance (1 − r)",
    "SwAV": "correlation distance (1 − r)",
}
_REFERENCE_MARKERS = ["o", "s", "D", "^", "v", "P", "X"]
_PUBLISHED_TICK = "published"


def _weights_labels(summary: pd.DataFrame, metric: str) -> set[str]:
    """Every weights label of the network behind ``metric`` in ``summary`` (empty for pixel metrics)."""
    column = weights_column(NETWORK_OF_METRIC.get(metric, ""))
    if metric not in NETWORK_OF_METRIC or column not in summary.columns:
        return set()
    return {label for joined in summary[column].dropna().astype(str) for label in joined.split(" | ")}


def set_metric_title(ax, summary: pd.DataFrame, metric: str) -> None:
    """Panel title: the metric, its direction, and (in red) "random weights" when its network had no pretrained weights."""
    labels = _weights_labels(summary, metric)
    random_weights = bool(labels & WEIGHTS_RANDOM)
    lines = [f"{metric} ↓", "(lower is better)"] if metric in LOWER_IS_BETTER else [f"{metric} ↑"]
    lines += ["random weights"] if random_weights else []
    lines += ["tiny trained network"] if not random_weights and WEIGHTS_TINY_TRAINED in labels else []
    ax.set_title("\n".join(lines), color=WARNING_COLOUR if random_weights else "black")


_CHANCE_LINE = dict(color="black", ls=(0, (1, 1)), lw=0.6)


def decorate_metric_panel(ax, summary: pd.DataFrame, metric: str) -> None:
    """What every metric panel shows: chance (0.5) and the 0-1 range for identification metrics, a zero line,
    the title of :func:`set_metric_title` and the metric's y label."""
    if metric in IDENTIFICATION_METRICS:
        ax.axhline(0.5, **_CHANCE_LINE)
        ax.set_ylim(0, 1.02)
    ax.axhline(0, color="black", lw=0.5)
    set_metric_title(ax, summary, metric)
    ax.set_ylabel(Y_LABELS.get(metric, "two-way identification"))


def chance_handle() -> Line2D:
    """Legend entry of the chance line that :func:`decorate_metric_panel` draws."""
    return Line2D([], [], **_CHANCE_LINE, label="chance (identification)")


def our_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """Rows of this run only: a metrics table's published rows (``source`` column) are drawn as references."""
    return summary[summary["source"] == SOURCE_OURS] if "source" in summary.columns else summary


def _draw_references(ax, rows: list[dict], metric: str, x: float, ssim_variants: set[str]) -> None:
    """Published values as grey markers spread around ``x`` (one marker shape per published row).

    A published SSIM measured with another variant than this run's (``ssim_variants``) is left out.
    """
    offsets = [0.0] if len(rows) == 1 else [-0.3 + 0.6 * i / (len(rows) - 1) for i in range(len(rows))]
    for row, marker, offset in zip(rows, _REFERENCE_MARKERS, offsets):
        if metric == "SSIM" and ssim_variants and row.get("ssim_variant") not in ssim_variants:
            continue
        ax.plot(x + offset, row[metric], marker=marker, ls="none", ms=4, mfc="white", mec=REFERENCE_COLOUR, mew=0.9)


def plot_metric_bars(
    summary: pd.DataFrame,
    out_png: str | os.PathLike,
    out_pdf: str | os.PathLike,
    *,
    references: pd.DataFrame | None = None,
    title: str = "Reconstruction metrics",
    title_note: str = "",
) -> None:
    """One panel per metric: bars per method grouped by subject; published values as markers beside them.

    Parameters
    ----------
    summary : output of :func:`nsdrecon.tables.summarize`, or the metrics TSV of
        :func:`nsdrecon.tables.write_tables` (its ``source == "published"`` rows are
        drawn once, as reference markers, unless ``references`` is given)
        (columns subject, method, the 8 metrics, optional ``weights:<network>`` labels;
        panels of networks without pretrained weights say so; with ``ssim_variant``, a
        published SSIM of another variant than this run's is not drawn)
    out_png, out_pdf : output files (written atomically)
    references : published rows (columns method, scope, the metrics; rows with ``ablation`` True
        are skipped), drawn as markers in a "published" group right of the bars; None: the
        summary's own published rows, if any
    title : figure title
    title_note : second title line, e.g. "random-weight tiny models: images are noise"
    """
    missing = [column for column in ["subject", "method", *METRICS] if column not in summary.columns]
    if missing:
        raise ValueError(f"summary lacks columns {missing}; found {list(summary.columns)}")
    if references is None and "source" in summary.columns:
        references = summary[summary["source"] == SOURCE_PUBLISHED].rename(columns={"subject": "scope"})
        references = None if references.empty else references
    summary = our_rows(summary)
    # a published SSIM of another variant than this run's is not drawn (tables mark it)
    ssim_variants = set(summary["ssim_variant"]) if "ssim_variant" in summary.columns else set()
    methods = list(dict.fromkeys(summary["method"]))
    subjects = sorted(set(summary["subject"]) - {MEAN_SUBJECT})
    subjects += [MEAN_SUBJECT] if MEAN_SUBJECT in set(summary["subject"]) else []
    colours = method_colours(methods)
    if references is not None and "ablation" in references.columns:
        references = references[~references["ablation"].astype(bool)]
    reference_rows = [] if references is None else references.to_dict("records")
    ticks = subjects + ([_PUBLISHED_TICK] if reference_rows else [])

    with paper_style():
        fig = new_figure(FULL_WIDTH_IN, 5.6)
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
            if reference_rows:
                _draw_references(ax, reference_rows, metric, len(subjects), ssim_variants)
                ax.axvline(len(subjects) - 0.5, color="black", lw=0.4, ls=":")
            decorate_metric_panel(ax, summary, metric)
            ax.set_xticks(range(len(ticks)), ticks)
            ax.set_xlim(-0.6, len(ticks) - 0.4)
            ax.set_xlabel("")
            ax.tick_params(axis="x", labelrotation=35)
            for label in ax.get_xticklabels():
                label.set_horizontalalignment("right")
                label.set_rotation_mode("anchor")

        handles = [Patch(facecolor=colours[method], label=method) for method in methods]
        handles += [
            Line2D(
                [], [], marker=marker, ls="none", ms=4, mfc="white", mec=REFERENCE_COLOUR, mew=0.9,
                label=f"{row['method']}, {row['scope']}",
            )
            for row, marker in zip(reference_rows, _REFERENCE_MARKERS)
        ]
        handles.append(chance_handle())
        fig.legend(
            handles=handles, loc="outside lower center", ncols=3, frameon=False,
            title="bars: this run (per subject, and mean of subjects);  markers: published values (methods.md)",
        )
        set_title(fig, title, title_note)
        save_figure(fig, out_png, out_pdf)
    logger.info("metric bars (%d methods x %d subjects) -> %s", len(methods), len(subjects), out_png)
