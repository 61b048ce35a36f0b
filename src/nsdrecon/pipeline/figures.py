"""Stages from results to paper outputs: the metric tables and the figures that read pipeline files.

No deep-learning imports: these jobs run in the data environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..atomic import write_text
from ..nsd import read_stimuli
from ..plotting import plot_ablations, plot_metric_bars, plot_pathways, plot_reconstruction_grid
from ..prediction_files import read_reconstructions
from ..published import REFERENCE_NOTES, read_published_results
from ..tables import summarize, write_tables

__all__ = [
    "reconstruction_panel",
    "run_figure_ablations",
    "run_figure_metrics",
    "run_figure_pathways",
    "run_figure_reconstructions",
    "run_metrics_table",
]

PathLike = str | os.PathLike


def reconstruction_panel(stimuli, recon_paths: dict, n_images: int = 8):
    """The first ``n_images`` test ids all methods reconstructed, their stimuli, and each method's images.

    Returns
    -------
    ids : int array (n,), stimuli : uint8 (n, H, W, 3), recons : method -> uint8 (n, h, w, 3)
    """
    loaded = {m: read_reconstructions(p) for m, p in recon_paths.items()}
    common = np.asarray(sorted(set.intersection(*(set(ids.tolist()) for _, ids in loaded.values())))[:n_images])
    recons = {}
    for method, (images, ids) in loaded.items():
        row = {int(i): k for k, i in enumerate(ids)}
        recons[method] = images[[row[int(i)] for i in common]]
    return common, read_stimuli(stimuli, common), recons


def run_metrics_table(
    *, metrics: list[PathLike], published: PathLike, notes: list[str], outputs: Mapping[str, PathLike],
    dataset: str = "nsd", ssim_variant: str = "standard",
) -> None:  # fmt: skip
    """Mean metrics per subject and method with ``dataset``'s published rows; ``outputs``: ``tsv``, ``md``, ``tex``.

    ``ssim_variant``: the SSIM the metrics stage computed (``evaluate.ssim``); published SSIMs of another
    variant are marked as not comparable.
    """
    per_image = pd.concat([pd.read_csv(path, sep="\t") for path in metrics], ignore_index=True)
    write_tables(
        summarize(per_image), outputs["tsv"], outputs["md"], outputs["tex"],
        references=read_published_results(published, dataset), extra_notes=notes,
        reference_note=REFERENCE_NOTES[dataset], ssim_variant=ssim_variant,
    )  # fmt: skip


def run_figure_metrics(*, table: PathLike, title_note: str, out_png: PathLike, out_pdf: PathLike) -> None:
    """Bars of every metric per method (subject means) with the published values."""
    plot_metric_bars(pd.read_csv(table, sep="\t"), out_png, out_pdf, title_note=title_note)


def run_figure_ablations(*, table: PathLike, ablations: list[str], title_note: str, out_png: PathLike, out_pdf: PathLike) -> None:
    """HAVIR against each of its ablations, per metric."""
    plot_ablations(pd.read_csv(table, sep="\t"), out_png, out_pdf, ablations=ablations, title_note=title_note)


def run_figure_reconstructions(
    *, stimuli: PathLike, reconstructions: Mapping[str, PathLike], n_images: int, subject: str, title_note: str,
    out_png: PathLike, out_pdf: PathLike,
) -> None:
    """A grid of the first ``n_images`` test stimuli and each method's reconstruction of them."""
    ids, images, recons = reconstruction_panel(stimuli, dict(reconstructions), n_images=n_images)
    plot_reconstruction_grid(
        images, recons, out_png, out_pdf, n_images=n_images, image_labels=[f"NSD {i}" for i in ids],
        title_note=f"{subject}; {title_note}".rstrip("; "),
    )  # fmt: skip


def run_figure_pathways(
    *, shares: list[PathLike], overlap: list[PathLike], overlap_rule: str, title_note: str,
    outputs: Mapping[str, PathLike],
) -> None:
    """The subjects' ROI weight shares and stream overlaps, as tables and one figure.

    ``outputs``: ``shares`` and ``overlap`` (TSV, all subjects), ``png`` and ``pdf``.
    """
    tables = {
        "shares": pd.concat([pd.read_csv(path, sep="\t") for path in shares], ignore_index=True),
        "overlap": pd.concat([pd.read_csv(path, sep="\t") for path in overlap], ignore_index=True),
    }
    for name, table in tables.items():
        write_text(outputs[name], table.to_csv(sep="\t", index=False))
    plot_pathways(
        tables["shares"], tables["overlap"], outputs["png"], outputs["pdf"], overlap_rule=overlap_rule, title_note=title_note
    )
