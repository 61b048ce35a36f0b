"""The published reference results the tables and figures print beside ours, read from ``resources/published_results.tsv``.

A data file, not code, so that a new paper's numbers are one row to add (with
its source in methods.md); columns are ``method``, ``scope`` ("subject 1" /
"mean of 4 subjects"), ``n_images``, ``status`` (V verified, S secondary),
the eight metrics (identification accuracies as fractions), ``ablation``, ``dataset`` and
``ssim``, the SSIM variant the row was measured with (``legacy``: Brain-Diffuser's per-column
SSIM of scikit-image 0.17; ``standard``: 2-D SSIM; ``unknown``), so a table compares like with like.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nsdrecon.metrics.names import METRICS, SSIM_VARIANTS

__all__ = ["DATASETS", "PUBLISHED_RESULTS_FILE", "REFERENCE_NOTES", "SOURCE_PUBLISHED", "dataset_of", "read_published_results"]

PUBLISHED_RESULTS_FILE = Path(__file__).resolve().parents[2] / "resources" / "published_results.tsv"
SOURCE_PUBLISHED = "published"


DATASETS = ("nsd", "things_eeg", "things_meg")
REFERENCE_NOTES = {
    "nsd": "Published rows from methods.md (Brain-Diffuser, MindEye1, MindEye2): 982 test images "
    "(1000 for MindEye2), NSD subjects 1, 2, 5, 7.",
    "things_eeg": "Published row: ATM (Li et al., NeurIPS 2024), THINGS-EEG2 subject 8, 200 test images, "
    "metrics by MindEye's notebook; no EffNet-B in the source (n/a).",
    "things_meg": "Published row: ATM (Li et al., NeurIPS 2024), THINGS-MEG, 200 test images, "
    "metrics by MindEye's notebook; no EffNet-B in the source (n/a).",
}
"""The note under each data set's table that says where its published rows come from."""


def dataset_of(source: str) -> str:
    """The data set whose published rows a run compares with: ``things_eeg`` for ``synthetic_things_eeg`` too."""
    name = source.removeprefix("synthetic_")
    return name if name in DATASETS else "nsd"


def read_published_results(path: str | Path = PUBLISHED_RESULTS_FILE, dataset: str | None = "nsd") -> pd.DataFrame:
    """The reference rows of ``dataset`` (None: all); a file without the expected columns is an error naming it.

    A file without a ``dataset`` column holds NSD rows only.
    """
    table = pd.read_csv(path, sep="\t", comment="#", dtype={"ablation": bool})
    missing = [c for c in ["method", "scope", "n_images", "status", *METRICS, "ablation"] if c not in table]
    if missing:
        raise ValueError(f"{path}: published results without columns {missing}")
    if "dataset" not in table:
        table["dataset"] = "nsd"
    if "ssim" not in table:
        table["ssim"] = "unknown"
    bad = sorted(set(table["ssim"]) - {*SSIM_VARIANTS, "unknown"})
    if bad:
        raise ValueError(f"{path}: column ssim holds {bad}; expected one of {[*SSIM_VARIANTS, 'unknown']}")
    if dataset is not None:
        if dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
        table = table[table["dataset"] == dataset].drop(columns="dataset").reset_index(drop=True)
    return table
