"""Metric tables: per-subject means, the 4-subject style "mean" row, and the published reference rows.

``summarize`` turns the per-image metric tables of all subjects and methods
into one row per (subject, method) plus a ``"mean"`` row per method (mean of
the subject means, as the papers report). ``write_tables`` writes it as TSV
(full precision, machine-readable), Markdown and LaTeX (paper formatting:
identification accuracies in percent, the rest to three decimals, arrows for
the direction of "better", notes on feature networks without pretrained weights).
Every row carries the SSIM variant it was measured with (``ssim_variant``); a
published SSIM of another variant than this run's is printed in parentheses
with a mark and a note, never as if it compared like with like.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import pandas as pd

from nsdrecon.atomic import atomic_path, write_text
from nsdrecon.metrics.names import (
    IDENTIFICATION_METRICS,
    LOWER_IS_BETTER,
    MEAN_SUBJECT,
    METRICS,
    SOURCE_OURS,
    SOURCE_PUBLISHED,
    SSIM_VARIANT_NOTES,
    WEIGHTS_COLUMN_PREFIX,
    WEIGHTS_RANDOM,
    WEIGHTS_TINY_TRAINED,
)

__all__ = ["summarize", "format_table", "write_tables"]

logger = logging.getLogger(__name__)


def _weights_columns(frame: pd.DataFrame) -> list[str]:
    return [column for column in frame.columns if str(column).startswith(WEIGHTS_COLUMN_PREFIX)]


def _join_labels(labels: pd.Series) -> str:
    return " | ".join(dict.fromkeys(labels.dropna().astype(str)))


def summarize(per_image: pd.DataFrame) -> pd.DataFrame:
    """Mean metrics per subject and method, plus a ``"mean"`` subject row per method.

    Parameters
    ----------
    per_image : DataFrame with one row per (subject, method, image) and columns
        ``subject``, ``method``, the 8 :data:`METRICS` and optionally
        ``"weights:<network>"`` label columns (as :func:`evaluate_reconstructions` writes).

    Returns
    -------
    DataFrame with columns subject, method, n_images, the 8 metrics, the weights
    columns; rows ordered by method (first appearance), then subject (sorted),
    then the ``"mean"`` row (mean of the subject means; n_images = mean images per subject). NaN
    metric values (constant images) are left out of the means, with a warning.
    """
    missing = [column for column in ["subject", "method", *METRICS] if column not in per_image.columns]
    if missing:
        raise ValueError(f"per-image table lacks columns {missing}; found {list(per_image.columns)}")
    n_nan = per_image[METRICS].isna().sum()
    if n_nan.any():
        logger.warning("NaN metric values left out of the means: %s", n_nan[n_nan > 0].to_dict())
    labels = _weights_columns(per_image)
    methods = list(dict.fromkeys(per_image["method"]))
    grouped = per_image.groupby(["method", "subject"], sort=False)
    subjects = grouped[METRICS].mean()
    subjects.insert(0, "n_images", grouped.size())
    for column in labels:
        subjects[column] = grouped[column].agg(_join_labels)
    subjects = subjects.reset_index()

    blocks = []
    for method in methods:
        rows = subjects[subjects["method"] == method].sort_values("subject")
        mean_row = {"method": method, "subject": MEAN_SUBJECT, "n_images": round(rows["n_images"].mean())}
        mean_row.update(rows[METRICS].mean())
        mean_row.update({column: _join_labels(rows[column]) for column in labels})
        blocks += [rows, pd.DataFrame([mean_row])]
    summary = pd.concat(blocks, ignore_index=True)
    return summary[["subject", "method", "n_images", *METRICS, *labels]]


SSIM_MARKS = {"legacy": "†", "standard": "§", "unknown": "‡"}
"""Mark of a published SSIM measured with another variant than this run's."""


def _combined(summary: pd.DataFrame, references: pd.DataFrame | None, ssim_variant: str) -> pd.DataFrame:
    """Our rows (source "this run") followed by the published main rows (source "published"), each with its SSIM variant."""
    columns = ["source", *summary.columns, "ssim_variant"]
    ours = summary.assign(source=SOURCE_OURS, ssim_variant=ssim_variant)
    if references is None:
        return ours[columns]
    published = references[~references["ablation"]].rename(columns={"scope": "subject", "ssim": "ssim_variant"})
    published = published.assign(source=SOURCE_PUBLISHED)[["source", "subject", "method", "n_images", *METRICS, "ssim_variant"]]
    return pd.concat([ours, published], ignore_index=True)[columns]


def _format_value(metric: str, value: float) -> str:
    if pd.isna(value):
        return "n/a"
    return f"{100 * value:.1f}%" if metric in IDENTIFICATION_METRICS else f"{value:.3f}"


def _header(metric: str, up: str, down: str) -> str:
    return f"{metric} {down if metric in LOWER_IS_BETTER else up}"


def _ssim_cells(combined: pd.DataFrame) -> list[str]:
    """SSIM values; one of another variant than this run's rows in parentheses with its :data:`SSIM_MARKS` mark."""
    ours = set(combined.loc[combined["source"] == SOURCE_OURS, "ssim_variant"]) if "ssim_variant" in combined else set()
    cells = []
    for value, variant in zip(combined["SSIM"], combined.get("ssim_variant", [None] * len(combined))):
        text = _format_value("SSIM", value)
        cells.append(f"({text}){SSIM_MARKS[variant]}" if ours and variant not in ours and text != "n/a" else text)
    return cells


def format_table(combined: pd.DataFrame, up: str = "↑", down: str = "↓") -> pd.DataFrame:
    """Strings for a paper table: source, method, subject, N and the 8 metrics with direction arrows.

    Parameters
    ----------
    combined : rows with columns source, method, subject, n_images, :data:`METRICS` and optionally
        ``ssim_variant`` (a published SSIM of another variant is put in parentheses and marked)
    up, down : arrow text appended to metric headers (e.g. ``"$\\uparrow$"`` for LaTeX)
    """
    table = pd.DataFrame(
        {
            "source": combined["source"],
            "method": combined["method"],
            "subject": combined["subject"],
            "N": combined["n_images"].map(lambda n: f"{int(n)}"),
        }
    )
    for metric in METRICS:
        table[_header(metric, up, down)] = [_format_value(metric, value) for value in combined[metric]]
    table[_header("SSIM", up, down)] = _ssim_cells(combined)
    return table.reset_index(drop=True)


def _ssim_notes(combined: pd.DataFrame, ssim_variant: str) -> list[str]:
    """What this run's SSIM is, and what each mark on a published SSIM means."""
    notes = [f"SSIM of this run: {SSIM_VARIANT_NOTES[ssim_variant]} (evaluate.ssim: {ssim_variant})."]
    published = combined[(combined["source"] == SOURCE_PUBLISHED) & combined["SSIM"].notna()]
    for variant in sorted(set(published["ssim_variant"]) - {ssim_variant}):
        notes.append(
            f"({SSIM_MARKS[variant]}) published SSIM measured as {SSIM_VARIANT_NOTES[variant]}: not comparable with this "
            "run's" + (f"; evaluate.ssim: {variant} computes it" if variant != "unknown" else "") + "."
        )
    return notes


def _notes(summary: pd.DataFrame, include_reference: bool, reference_note: str | None = None) -> list[str]:
    notes = [
        "AlexNet(2), AlexNet(5), Inception, CLIP: two-way identification accuracy (chance 50%), higher is better; "
        "EffNet-B, SwAV: correlation distance, lower is better; PixCorr, SSIM: higher is better.",
    ]
    for kind, note in (
        (WEIGHTS_RANDOM, "Feature networks with RANDOM weights ({}): their metrics are not comparable with published values."),
        ({WEIGHTS_TINY_TRAINED}, "Feature networks that are tiny models trained on the generated scenes ({}): "
         "meaningful here, not comparable with published values."),
    ):
        found = {}
        for column in _weights_columns(summary):
            labels = set(" | ".join(summary[column].dropna().astype(str)).split(" | ")) & kind
            if labels:
                found[column.removeprefix(WEIGHTS_COLUMN_PREFIX)] = ", ".join(sorted(labels))
        if found:
            notes.append(note.format("; ".join(f"{network}: {label}" for network, label in found.items())))
    if summary["method"].astype(str).str.endswith("_oracle").any():
        notes.append(
            "*_oracle: the same generator from each test image's true features instead of decoded ones "
            "(what the generator can do when decoding is perfect)."
        )
    if include_reference:
        notes.append(
            reference_note
            or "Published rows from methods.md (Brain-Diffuser, MindEye1, MindEye2): 982 test images "
            "(1000 for MindEye2), NSD subjects 1, 2, 5, 7."
        )
    return notes


def _markdown(table: pd.DataFrame) -> str:
    def row(cells) -> str:
        return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"

    lines = [row(table.columns), row(["---"] * len(table.columns))]
    lines += [row(values) for values in table.itertuples(index=False)]
    return "\n".join(lines)


def _latex_escape(text: str) -> str:
    for char in "\\&%$#_{}":
        text = text.replace(char, "\\" + char)
    return text


def write_tables(
    summary: pd.DataFrame,
    out_tsv: str | os.PathLike,
    out_md: str | os.PathLike,
    out_tex: str | os.PathLike,
    references: pd.DataFrame | None = None,
    extra_notes: Sequence[str] = (),
    reference_note: str | None = None,
    ssim_variant: str = "standard",
) -> None:
    """Write the summary as TSV, Markdown and LaTeX (each atomically).

    Parameters
    ----------
    summary : output of :func:`summarize`
    out_tsv : tab-separated, full precision, a ``source`` column ("this run" /
        "published"); published rows use ``subject`` for their scope
    out_md : Markdown table plus notes
    out_tex : LaTeX ``table`` (booktabs rules) with the notes as caption
    references : published results (:func:`nsdrecon.published.read_published_results`), whose
        main rows (not ``ablation``) follow ours; None leaves them out
    extra_notes : further notes (e.g. how the diffusion models' weights came about)
    reference_note : where the published rows come from (default: NSD's references)
    ssim_variant : the SSIM variant of this run's rows (``evaluate.ssim``)
    """
    combined = _combined(summary, references, ssim_variant)
    with atomic_path(out_tsv) as tmp:
        combined.to_csv(tmp, sep="\t", index=False)
    notes = _notes(summary, references is not None, reference_note) + _ssim_notes(combined, ssim_variant)
    notes += [note for note in extra_notes if note]

    markdown = _markdown(format_table(combined)) + "\n\n" + "\n".join(f"- {note}" for note in notes) + "\n"
    write_text(out_md, markdown)

    latex_table = format_table(combined, up=r"$\uparrow$", down=r"$\downarrow$")
    latex = (
        latex_table.style.hide(axis="index")
        .format(escape="latex")
        .to_latex(
            hrules=True,
            column_format="lll" + "r" * (len(latex_table.columns) - 3),
            position_float="centering",
            caption=_latex_escape(" ".join(notes)),
            label="tab:metrics",
            environment="table*",
        )
    )
    write_text(out_tex, latex)
    logger.info("wrote %d table rows to %s, %s, %s", len(combined), out_tsv, out_md, out_tex)
