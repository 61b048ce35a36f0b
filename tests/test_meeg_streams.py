"""EEG/MEG responses as decoder inputs (nsdrecon.meeg): channel groups, windows, averaging, temporal decoding."""

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from nsdrecon import settings
from nsdrecon.meeg import StreamSpec, stream_features
from nsdrecon.meeg.temporal import activation_pattern, sliding_windows, temporal_decoding
from nsdrecon.meeg.streams import sensor_dataset, stream_betas
from nsdrecon.meeg.subjects import SubjectResponses, eeg_positions
from nsdrecon.published import read_published_results
from nsdrecon.things.sensor_data import SensorData

ROOT = Path(__file__).resolve().parents[1]
CHANNELS = ("Fp1", "Cz", "O1", "Oz", "PO7", "P3")


def sensor_data(rng, n_images=6, reps=3, times=np.round(np.arange(-0.1, 0.5, 0.01), 6)):
    data = rng.normal(size=(n_images, reps, len(CHANNELS), len(times))).astype(np.float32)
    files = np.asarray([f"c{i}/c{i}_01s.jpg" for i in range(n_images)])
    return SensorData(data, CHANNELS, times, files, np.asarray([f"c{i}" for i in range(n_images)]), Path("x.npy"))


def test_stream_features_take_the_channel_group_and_window_channel_major():
    data = sensor_data(np.random.default_rng(0))
    features, channels, times = stream_features(data, StreamSpec("^(O|PO|P)", (0.05, 0.20)))
    assert list(dict.fromkeys(channels)) == ["O1", "Oz", "PO7", "P3"]
    assert features.shape == (6, 3, 4 * 16) and np.allclose(times[:16], np.arange(0.05, 0.205, 0.01))
    c, t = CHANNELS.index("PO7"), np.flatnonzero(np.isclose(data.times, 0.05))[0]
    assert features[2, 1, 2 * 16] == data.data[2, 1, c, t]
    binned, _, bin_times = stream_features(data, StreamSpec("Oz", (0.05, 0.20)), decimate=4)
    assert binned.shape == (6, 3, 4) and np.isclose(bin_times[0], 0.065)
    assert np.isclose(binned[0, 0, 0], data.data[0, 0, CHANNELS.index("Oz"), t : t + 4].mean())


@pytest.mark.parametrize(
    ("spec", "message"),
    [(StreamSpec("^T", (0.0, 0.1)), "no channel matches '^T'"), (StreamSpec(".", (0.6, 0.7)), "holds no sample")],
)
def test_a_stream_outside_the_data_is_an_error_naming_the_file(spec, message):
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        stream_features(sensor_data(np.random.default_rng(0)), spec)
    assert "x.npy" in str(error.value)


@pytest.mark.parametrize("train_trials", ["averaged", "single"])
def test_stream_betas_have_the_betas_layout(train_trials):
    rng = np.random.default_rng(1)
    train, test = sensor_data(rng), sensor_data(rng, n_images=4, reps=5)
    responses = SubjectResponses(
        train, test, np.arange(6), 6 + np.arange(4), train.image_files, test.image_files, eeg_positions(CHANNELS), "eeg"
    )
    streams = {"structural": StreamSpec("^(O|PO)", (0.05, 0.2)), "semantic": StreamSpec(".", (0.2, 0.4))}
    ds = stream_betas(responses, streams, subject="sub-01", train_trials=train_trials, test_repetitions=2)
    n_train = 6 if train_trials == "averaged" else 18
    assert ds["structural"].shape == (n_train + 4, 3 * 16) and ds["semantic"].shape == (n_train + 4, 6 * 21)
    assert (ds["split"].values == "test").sum() == 4 and set(ds["nsd_id"].values[-4:]) == {6, 7, 8, 9}
    assert (ds["n_repeats"].values[-4:] == 2).all()
    train_rows = ds["structural"].values[ds["split"].values == "train"]
    assert np.allclose(train_rows.mean(axis=0), 0, atol=1e-5) and np.allclose(train_rows.std(axis=0, ddof=1), 1, atol=1e-4)
    assert set(ds["structural_channel"].values) == {"O1", "Oz", "PO7"}


def test_sensor_responses_average_repetitions_and_bins_of_samples():
    rng = np.random.default_rng(2)
    train, test = sensor_data(rng), sensor_data(rng, n_images=4, reps=5)
    responses = SubjectResponses(
        train, test, np.arange(6), 6 + np.arange(4), train.image_files, test.image_files, eeg_positions(CHANNELS), "eeg"
    )
    full = sensor_dataset(responses, subject="sub-01", test_repetitions=2)
    binned = sensor_dataset(responses, subject="sub-01", test_repetitions=2, decimate=4)
    assert full["response"].shape == (10, 6, 60) and binned["response"].shape == (10, 6, 15)
    np.testing.assert_allclose(full["response"].values[7, 3], test.data[1, :2, 3].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(binned["time"].values[:2], [-0.085, -0.045])
    np.testing.assert_allclose(binned["response"].values[2, 1, 1], train.data[2, :, 1, 4:8].mean(), rtol=1e-5)
    assert list(binned["split"].values) == ["train"] * 6 + ["test"] * 4


def test_sliding_windows_stay_inside_the_time_axis():
    windows = sliding_windows(np.round(np.arange(-0.1, 0.5, 0.01), 6), 0.05, 0.02)
    assert windows[0] == (-0.1, -0.05) and windows[-1][1] <= 0.49 + 1e-9
    with pytest.raises(ValueError):
        sliding_windows(np.arange(3) * 0.01, 0.5, 0.02)


def test_temporal_decoding_finds_when_and_where_a_target_is_carried():
    """A target carried by channel 2 at 0.2 s only: accuracy peaks in the windows around 0.2 s, the pattern on channel 2."""
    rng = np.random.default_rng(0)
    n, times = 160, np.round(np.arange(0.0, 0.4, 0.01), 6)
    target = rng.normal(size=(n, 8))
    data = rng.normal(size=(n, 4, len(times)))
    data[:, 2] += (target @ rng.normal(size=8))[:, None] * np.exp(-0.5 * ((times - 0.2) / 0.02) ** 2)
    train, test = slice(0, 120), slice(120, None)
    scores = temporal_decoding(
        data[train], data[test], times, {"t": (target[train], target[test])}, sliding_windows(times, 0.04, 0.02),
        alphas=[1.0, 10.0, 100.0], cv=5,
    )  # fmt: skip
    best = scores.loc[scores["feature_r"].idxmax()]
    assert best["start"] <= 0.2 <= best["end"]
    assert scores["two_way"].max() > 0.6 and scores.loc[scores["end"] < 0.1, "two_way"].max() < scores["two_way"].max()
    X = data[train][..., (times >= 0.15) & (times <= 0.25)].reshape(120, -1)
    pattern = activation_pattern(X, data[train][:, 2, 20:21], 4)  # a decoder reading channel 2 at 0.2 s
    assert pattern.argmax() == 2


def test_published_rows_are_per_data_set_and_nsd_unchanged():
    nsd = read_published_results()
    assert "ATM (NeurIPS 2024)" not in set(nsd["method"]) and "dataset" not in nsd and len(nsd) == 7
    eeg = read_published_results(dataset="things_eeg")
    assert eeg["method"].tolist() == ["ATM (NeurIPS 2024)"] and eeg["EffNet-B"].isna().all()
    assert eeg[["PixCorr", "AlexNet(2)", "SwAV"]].values.tolist() == [[0.160, 0.776, 0.582]]
    meg = read_published_results(dataset="things_meg")
    assert meg[["SSIM", "CLIP", "SwAV"]].values.tolist() == [[0.340, 0.603, 0.651], [0.336, 0.767, 0.584]]
    assert "subject 8" not in set(meg["scope"])  # THINGS-MEG has participants P1-P4; ATM's EEG row is subject 8


@pytest.mark.parametrize("name", ["things_eeg", "things_meg"])
def test_dataset_configs_hold_only_what_differs_and_fit_the_models(name):
    default = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    cfg = yaml.safe_load((ROOT / f"config/{name}.yaml").read_text())

    def leaves(tree, prefix=""):
        for key, value in tree.items():
            if isinstance(value, dict) and value:
                yield from leaves(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}", value

    defaults = dict(leaves(default))
    assert [k for k, v in leaves(cfg) if defaults.get(k, object()) == v] == []
    def merge(base, over):  # as Snakemake merges a --configfile over config/config.yaml
        return {**base, **{k: merge(base[k], v) if isinstance(v, dict) and base.get(k) else v for k, v in over.items()}}

    merged = settings.load(merge(default, cfg))
    assert settings.modality(merged.source) == name.split("_")[1]
