"""Failure modes of the stimulus-table readers: each error names the file and the mismatch."""

import numpy as np
import pandas as pd
import pytest

from nsdrecon.nsd import read_responses, read_stim_info
from tests.nsd_testfiles import write_stim_info

RESPONSES = {"SUBJECT": [1, 1], "SESSION": [1, 1], "RUN": [1, 1], "TRIAL": [1, 2], "73KID": [8, 12], "10KID": [3, 1]}


def test_stim_info_with_unknown_coco_split_is_named(tmp_path):
    path = tmp_path / "nsd_stim_info_merged.csv"
    table = write_stim_info(path, n_images=6, shared=np.array([1]))
    table.assign(cocoSplit=["train2017", "test2015", *table["cocoSplit"][2:]]).to_csv(path)
    with pytest.raises(
        ValueError,
        match=r"nsd_stim_info_merged\.csv: 'cocoSplit' must be one of \['train2017', 'val2017'\], found \['test2015'\]",
    ):
        read_stim_info(path)


def test_responses_missing_column_is_named(tmp_path):
    path = tmp_path / "responses.tsv"
    pd.DataFrame(RESPONSES).drop(columns="10KID").to_csv(path, sep="\t", index=False)
    with pytest.raises(ValueError, match=r"responses\.tsv: missing column\(s\) \['10KID'\]"):
        read_responses(path)


@pytest.mark.parametrize("column", ["SESSION", "73KID", "10KID"])
def test_responses_zero_based_index_column_is_named(tmp_path, column):
    path = tmp_path / "responses.tsv"
    table = pd.DataFrame(RESPONSES)
    table[column] = table[column] - table[column].min()
    table.to_csv(path, sep="\t", index=False)
    with pytest.raises(
        ValueError, match=rf"responses\.tsv: '{column}' must lie in 1\.\.\d+ \(1-based\), but data row \d holds 0"
    ):
        read_responses(path)


@pytest.mark.parametrize(
    ("column", "value"),
    [("SUBJECT", 9), ("SESSION", 41), ("RUN", 13), ("TRIAL", 64), ("73KID", 73001), ("10KID", 10001)],
)
def test_responses_index_beyond_nsd_is_named(tmp_path, column, value):
    path = tmp_path / "responses.tsv"
    pd.DataFrame(RESPONSES).assign(**{column: [1, value]}).to_csv(path, sep="\t", index=False)
    with pytest.raises(
        ValueError,
        match=rf"'{column}' must lie in 1\.\.{value - 1} \(1-based\), but data row 2 holds {value} \(1 such rows\)",
    ):
        read_responses(path)
