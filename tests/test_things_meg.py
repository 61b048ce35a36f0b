"""THINGS-MEG: the generated epochs are real MNE files; the reader splits them as ATM does and names bad input."""

from __future__ import annotations

from collections import Counter

import mne
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from nsdrecon.synthetic.things_meg import IMAGES, write_synthetic_things_meg
from nsdrecon.things import epoch_files, preprocessed_epochs, read_sample_attributes, read_things_meg, sample_attributes
from nsdrecon.things.meg import CATCH_EVENT

WORLD = dict(n_concepts=16, n_exemplars=3, n_test_concepts=4, n_catch=5, n_sensors=20, image_size=32)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("things_meg")
    write_synthetic_things_meg(root, [1], **WORLD)
    return root


def test_epochs_read_with_mne_hold_catch_trials_and_the_trial_table(world):
    epochs = mne.read_epochs(world / preprocessed_epochs(1), verbose="error")
    counts = Counter(epochs.events[:, 2].tolist())
    assert counts[CATCH_EVENT] == 5 and sorted(Counter(counts.values()).items()) == [(1, 48), (5, 1), (12, 4)]
    assert epochs.get_channel_types(unique=True) == ["mag"] and len(epochs.ch_names) == 20
    assert (
        epochs.times[0] == pytest.approx(-0.1) and epochs.times[-1] == pytest.approx(1.3) and len(epochs.times) == 281
    )
    table = read_sample_attributes(world / sample_attributes(1))
    pd.testing.assert_frame_equal(table, epochs.metadata.reset_index(drop=True), check_dtype=False)
    shown = table["trial_type"] != "catch"
    np.testing.assert_array_equal(table.loc[shown, "things_image_nr"].astype(int), epochs.events[shown.to_numpy(), 2])


def test_epochs_are_split_over_the_real_sets_files(world, tmp_path):
    """As in ds004212, the first file and three continuation files, which mne.read_epochs follows by name."""
    folder = world / "derivatives/preprocessed"
    assert sorted(p.name for p in folder.iterdir()) == sorted(name.rsplit("/", 1)[1] for name in epoch_files(1))
    assert [name.rsplit("/", 1)[1] for name in epoch_files(1)][1:] == [f"preprocessed_P1-epo-{k}.fif" for k in (1, 2, 3)]
    sizes = [(world / name).stat().st_size for name in epoch_files(1)]
    assert min(sizes) > 0.5 * max(sizes)  # the data are spread over all four, not one big part and three stubs
    broken = tmp_path / "derivatives/preprocessed"
    broken.mkdir(parents=True)
    for name in epoch_files(1)[:2] + epoch_files(1)[3:]:
        (broken / name.rsplit("/", 1)[1]).symlink_to(world / name)
    with pytest.raises(FileNotFoundError, match=r"its continuation file .*preprocessed_P1-epo-2.fif is missing"):
        read_things_meg(tmp_path / preprocessed_epochs(1))


def test_reader_drops_catch_trials_and_splits_as_atm(world):
    meg = read_things_meg(world / preprocessed_epochs(1))
    assert meg.test.data.shape == (4, 12, 20, 201) and meg.train.data.shape == (12 * 3, 1, 20, 201)
    np.testing.assert_allclose(meg.train.times[[0, -1]], [0.0, 1.0])
    assert not set(meg.train.concepts) & set(meg.test.concepts)  # overlapping training concepts removed
    assert len(set(meg.train.image_files)) == 36 and not set(meg.train.image_files) & set(meg.test.image_files)
    for file in (*meg.train.image_files, *meg.test.image_files):
        assert Image.open(world / IMAGES / file).size == (32, 32)
    epochs = mne.read_epochs(world / preprocessed_epochs(1), verbose="error")
    table = epochs.metadata.reset_index(drop=True)
    first_test = table.index[table["image_path"].str.endswith(meg.test.image_files[0])][0]
    np.testing.assert_allclose(meg.test.data[0, 0], epochs[first_test].get_data()[0][:, 20:221], rtol=1e-6)


def test_channels_and_window_are_configurable(world):
    meg = read_things_meg(world / preprocessed_epochs(1), channels=["MLC41-1609", "MLC11-1609"], window=(-0.1, 0.5))
    assert meg.test.ch_names == ("MLC41-1609", "MLC11-1609") and meg.test.data.shape[-1] == 121


def test_bad_input_is_named(world):
    path = world / preprocessed_epochs(1)
    with pytest.raises(ValueError, match=r"missing: \['MZO01-1609'\]; the file has 20 channels") as error:
        read_things_meg(path, channels=["MZO01-1609"])
    assert str(path) in str(error.value)
    with pytest.raises(ValueError, match=r"window 0 ... 1.5 s is outside the epochs, -0.1 ... 1.3 s at 200 Hz"):
        read_things_meg(path, window=(0.0, 1.5))
    with pytest.raises(ValueError, match=r"no image is shown 10 times .* repetition counts found: \{1: 48, 12: 4\}"):
        read_things_meg(path, test_repetitions=10)
    table = read_sample_attributes(world / sample_attributes(1))
    with pytest.raises(ValueError, match=r"101 epochs but the trial table has 100 rows"):
        read_things_meg(path, attributes=table.iloc[:-1])
    with pytest.raises(ValueError, match=r"lacks columns \['image_path'\]"):
        read_things_meg(path, attributes=table.drop(columns="image_path"))
