"""The published reference results the tables and figures print beside ours, read from ``resources/published_results.tsv``.

A data file, not code, so that a new paper's numbers are one row to add (with
its source in methods.md); columns are ``method``, ``scope`` ("subject 1" /
"mean of 4 subjects"), ``n_images``, ``status`` (V verified, S secondary),
the eight metrics (identification accuracies as fractions) and ``ablation``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nsdrecon.metrics.names import METRICS

__all__ = ["PUBLISHED_RESULTS_FILE", "SOURCE_PUBLISHED", "read_published_results"]

PUBLISHED_RESULTS_FILE = Path(__file__).resolve().parents[2] / "resources" / "published_results.tsv"
SOURCE_PUBLISHED = "published"


def read_published_results(path: str | Path = PUBLISHED_RESULTS_FILE) -> pd.DataFrame:
    """The reference rows; a file without the expected columns is an error naming it."""
    table = pd.read_csv(path, sep="\t", comment="#", dtype={"ablation": bool})
    missing = [c for c in ["method", "scope", "n_images", "status", *METRICS, "ablation"] if c not in table]
    if missing:
        raise ValueError(f"{path}: published results without columns {missing}")
    return table
