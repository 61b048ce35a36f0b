"""THINGS-EEG2: the generated world in the real formats, read back; malformed files named with what was found."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nsdrecon.synthetic.things_eeg import write_synthetic_things_eeg
from nsdrecon.things import (
    EEG_CHANNELS_17,
    EEG_CHANNELS_63,
    load_pickled_npy,
    preprocessed_eeg,
    read_image_metadata,
    read_preprocessed_eeg,
)
from nsdrecon.things.images import IMAGE_METADATA, IMAGE_SET, concept_caption

WORLD = dict(n_train_concepts=12, n_train_exemplars=2, n_test_concepts=4, test_repetitions=6, image_size=32)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("things_eeg")
    write_synthetic_things_eeg(root, [1, 2], **WORLD)
    return root


def test_files_have_the_real_keys_and_shapes(world):
    metadata = load_pickled_npy(world / IMAGE_METADATA)
    assert set(metadata) == {
        f"{split}_img_{key}" for split in ("train", "test") for key in ("concepts", "files", "concepts_THINGS")
    }
    assert metadata["train_img_concepts"][0].startswith("00001_") and metadata["train_img_files"][0].endswith(
        "_01s.jpg"
    )
    for split, shape in (("train", (24, 4, 17, 100)), ("test", (4, 6, 17, 100))):
        stored = load_pickled_npy(world / preprocessed_eeg("sub-02", split))
        assert set(stored) == {"preprocessed_eeg_data", "ch_names", "times"}
        assert stored["preprocessed_eeg_data"].shape == shape and stored["ch_names"] == list(EEG_CHANNELS_17)
        np.testing.assert_allclose(stored["times"][[0, -1]], [-0.2, 0.79])


def test_round_trip_with_images_on_disk(world):
    images = read_image_metadata(world / IMAGE_METADATA)
    train = read_preprocessed_eeg(world / preprocessed_eeg(1, "train"), images["train"])
    test = read_preprocessed_eeg(world / preprocessed_eeg(1, "test"), images["test"], window=(0.0, 0.5))
    assert train.data.shape == (24, 4, 17, 100) and train.data.dtype == np.float32 and train.sfreq == pytest.approx(100)
    assert test.data.shape == (4, 6, 17, 51) and test.times[0] == pytest.approx(0.0)
    assert not set(train.concepts) & set(test.concepts)  # disjoint concepts, as in the real set
    for file in (*train.image_files, *test.image_files):
        assert Image.open(world / IMAGE_SET / file).size == (32, 32)
    assert concept_caption(train.concepts[0]) == f"a photo of {train.concepts[0]}"
    things = images["test"].things_concepts
    assert len(set(things)) == 4 and all(name.split("_", 1)[1] for name in things)


def test_channels_come_from_the_caller(world, tmp_path):
    images = read_image_metadata(world / IMAGE_METADATA)
    picked = read_preprocessed_eeg(world / preprocessed_eeg(1, "test"), images["test"], channels=["Oz", "P7"])
    full = read_preprocessed_eeg(world / preprocessed_eeg(1, "test"), images["test"])
    assert picked.ch_names == ("Oz", "P7")
    np.testing.assert_array_equal(picked.data[:, :, 1], full.data[:, :, EEG_CHANNELS_17.index("P7")])
    write_synthetic_things_eeg(tmp_path, [1], channels=EEG_CHANNELS_63, sfreq=250, n_times=250, **WORLD)
    wide = read_preprocessed_eeg(
        tmp_path / preprocessed_eeg(1, "train"), read_image_metadata(tmp_path / IMAGE_METADATA)["train"]
    )
    assert wide.data.shape == (24, 4, 63, 250) and wide.sfreq == pytest.approx(250)


def _broken(world, tmp_path, **changes):
    stored = load_pickled_npy(world / preprocessed_eeg(1, "test"))
    stored.update(changes)
    path = tmp_path / "preprocessed_eeg_test.npy"
    np.save(path, stored, allow_pickle=True)
    return path


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: {"preprocessed_eeg_data": s["preprocessed_eeg_data"][0]}, r"found float32 shape \(6, 17, 100\)"),
        (
            lambda s: {"preprocessed_eeg_data": s["preprocessed_eeg_data"][:3]},
            r"3 images, but the image metadata lists 4",
        ),
        (lambda s: {"ch_names": s["ch_names"][:16]}, r"17 channels, but ch_names holds 16"),
        (lambda s: {"times": s["times"][:99]}, r"time axis must be 100 numbers.*shape \(99,\)"),
        (lambda s: {"times": s["times"] ** 2}, r"not increasing at a constant rate: 100 points from 0.04 to 0.6241"),
        (lambda s: {"ch_names": None}, r"17 channels, but ch_names holds None"),
    ],
    ids=["not 4-D", "image count", "channel count", "time length", "time spacing", "no channel names"],
)
def test_malformed_files_are_rejected_naming_file_and_what_was_found(world, tmp_path, change, message):
    stored = load_pickled_npy(world / preprocessed_eeg(1, "test"))
    path = _broken(world, tmp_path, **change(stored))
    images = read_image_metadata(world / IMAGE_METADATA)["test"]
    with pytest.raises(ValueError, match=message) as error:
        read_preprocessed_eeg(path, images)
    assert str(path) in str(error.value)


def test_missing_channels_and_windows_outside_the_axis_are_named(world):
    path = world / preprocessed_eeg(1, "test")
    images = read_image_metadata(world / IMAGE_METADATA)["test"]
    with pytest.raises(ValueError, match=r"missing: \['Cz'\]; the file has 17 channels") as error:
        read_preprocessed_eeg(path, images, channels=["Oz", "Cz"])
    assert str(path) in str(error.value)
    with pytest.raises(ValueError, match=r"window 0 ... 1 s is outside the file's time axis -0.2 ... 0.79 s"):
        read_preprocessed_eeg(path, images, window=(0.0, 1.0))
