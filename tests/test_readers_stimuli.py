"""Stimulus info, behaviour, imgBrick images and COCO captions."""

import h5py
import numpy as np
import pandas as pd
import pytest

from nsdrecon.nsd import read_captions, read_responses, read_stim_info, read_stimuli
from tests.nsd_testfiles import write_captions, write_stim_info


@pytest.fixture
def stim_info_path(tmp_path):
    path = tmp_path / "nsd_stim_info_merged.csv"
    write_stim_info(path, n_images=10, shared=np.array([2, 5]))
    return path


def test_read_stim_info_is_row_indexed_by_zero_based_nsd_id(stim_info_path):
    table = read_stim_info(stim_info_path)
    assert table["nsdId"].tolist() == list(range(10))
    assert table.loc[4, "cocoId"] == 1028
    assert table["shared1000"].tolist() == [i in (2, 5) for i in range(10)]


def test_read_stim_info_rejects_one_based_ids_and_missing_columns(tmp_path, stim_info_path):
    table = pd.read_csv(stim_info_path, index_col=0)
    table.assign(nsdId=table["nsdId"] + 1).to_csv(tmp_path / "one_based.csv")
    with pytest.raises(
        ValueError, match=r"one_based\.csv: 'nsdId' must equal the 0-based row number; row 0 has nsdId 1"
    ):
        read_stim_info(tmp_path / "one_based.csv")
    table.drop(columns="cocoSplit").to_csv(tmp_path / "no_split.csv")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['cocoSplit'\]"):
        read_stim_info(tmp_path / "no_split.csv")


def test_read_responses_checks_one_based_columns(tmp_path):
    table = pd.DataFrame(
        {
            "SUBJECT": [1, 1],
            "SESSION": [1, 1],
            "RUN": [1, 1],
            "TRIAL": [1, 2],
            "73KID": [8, 12],
            "10KID": [3, 1],
            "ISOLD": [0, 0],
        }
    )
    table.to_csv(tmp_path / "responses.tsv", sep="\t", index=False)
    assert read_responses(tmp_path / "responses.tsv")["73KID"].tolist() == [8, 12]
    table.assign(TRIAL=[0, 1]).to_csv(tmp_path / "bad.tsv", sep="\t", index=False)
    with pytest.raises(ValueError, match=r"bad\.tsv: 'TRIAL' must lie in 1\.\.63 \(1-based\), but data row 1 holds 0"):
        read_responses(tmp_path / "bad.tsv")


def test_read_stimuli_returns_requested_order_with_repeats(tmp_path):
    brick = np.random.default_rng(0).integers(0, 256, (12, 4, 5, 3), dtype=np.uint8)
    path = tmp_path / "nsd_stimuli.hdf5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("imgBrick", data=brick, chunks=(1, 4, 5, 3))
    ids = [9, 2, 11, 2, 0, 7, 9]
    images = read_stimuli(path, ids, batch_size=2)  # 5 unique ids -> 3 batches
    assert images.dtype == np.uint8 and images.shape == (7, 4, 5, 3)
    np.testing.assert_array_equal(images, brick[ids])
    with pytest.raises(ValueError, match=r"0-based in 0..11, found 0..12"):
        read_stimuli(path, [0, 12])


def test_read_captions_follow_coco_id_and_split(tmp_path, stim_info_path):
    stim_info = read_stim_info(stim_info_path)
    folder = write_captions(tmp_path / "annotations", stim_info)
    # nsd 3 -> cocoId 1021 in val2017 (3 % 3 == 0), nsd 4 -> cocoId 1028 in train2017.
    expected = [["1028 a", "1028 b"], ["1021 a", "1021 b"], ["1028 a", "1028 b"]]
    assert read_captions(folder, stim_info, [4, 3, 4]) == expected
    assert read_captions([folder / "captions_train2017.json"], stim_info, [4]) == expected[:1]
    with pytest.raises(ValueError, match=r"no caption file given for COCO split\(s\) \['val2017'\]"):
        read_captions([folder / "captions_train2017.json"], stim_info, [3])


def test_read_captions_reports_image_without_caption(tmp_path, stim_info_path):
    stim_info = read_stim_info(stim_info_path)
    folder = write_captions(tmp_path / "annotations", stim_info)
    stim_info.loc[5, "cocoId"] = 999999
    with pytest.raises(ValueError, match=r"no caption for nsd id 5 \(COCO image 999999\)"):
        read_captions(folder, stim_info, [5])
