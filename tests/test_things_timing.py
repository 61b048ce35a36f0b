"""The generated EEG and MEG worlds carry their encoding model's timing: low-level features peak early, semantic later.

Computed from the written files against ``synthetic_truth.h5``: per time point, the correlation over images of
each sensor's repetition-averaged response with its true low-level and semantic scores, averaged over sensors.
"""

from __future__ import annotations

import numpy as np
import pytest

from nsdrecon import layout
from nsdrecon.synthetic.meeg_encoding import read_sensor_truth
from nsdrecon.synthetic.things_eeg import write_synthetic_things_eeg
from nsdrecon.synthetic.things_meg import write_synthetic_things_meg
from nsdrecon.things import preprocessed_eeg, preprocessed_epochs, read_image_metadata, read_preprocessed_eeg
from nsdrecon.things import read_things_meg
from nsdrecon.things.images import IMAGE_METADATA


def _correlation_over_time(responses: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Mean over sensors of corr_images(responses[:, c, t], scores[:, c]): (n, C, T), (n, C) -> (T,)."""
    centred = responses - responses.mean(axis=0)
    score = (scores - scores.mean(axis=0))[:, :, None]
    r = (centred * score).sum(axis=0) / np.sqrt((centred**2).sum(axis=0) * (score**2).sum(axis=0))
    return r.mean(axis=0)


def _check_timing(sensor_data, encoding, features, courses):
    rows = np.searchsorted(features.image_files, sensor_data.image_files, sorter=np.argsort(features.image_files))
    rows = np.argsort(features.image_files)[rows]
    assert (features.image_files[rows] == sensor_data.image_files).all()
    low, semantic = encoding.scores(features)
    channels = [list(encoding.ch_names).index(name) for name in sensor_data.ch_names]
    responses = sensor_data.data.mean(axis=1)
    peaks = {}
    for name, scores in (("low_level", low), ("semantic", semantic)):
        curve = _correlation_over_time(responses, scores[rows][:, channels])
        peaks[name] = sensor_data.times[np.argmax(curve)]
        # the truth's time course: the peak lies within one width of its latency
        assert abs(peaks[name] - courses[name].peak_s) <= courses[name].width_s, (name, peaks[name])
    assert peaks["low_level"] < peaks["semantic"]


def test_eeg_low_level_information_peaks_before_semantic(tmp_path):
    write_synthetic_things_eeg(
        tmp_path, [3], n_train_concepts=40, n_train_exemplars=3, n_test_concepts=4, test_repetitions=4, image_size=32
    )
    train = read_preprocessed_eeg(
        tmp_path / preprocessed_eeg(3, "train"), read_image_metadata(tmp_path / IMAGE_METADATA)["train"]
    )
    encoding, features, courses = read_sensor_truth(tmp_path / layout.SYNTHETIC_TRUTH, "sub-03")
    features_files = np.asarray([f for f in features.image_files])
    assert set(train.image_files) <= set(features_files)
    _check_timing(train, encoding, features, courses)


def test_meg_low_level_information_peaks_before_semantic(tmp_path):
    write_synthetic_things_meg(
        tmp_path, [2], n_concepts=40, n_exemplars=3, n_test_concepts=4, n_catch=4, n_sensors=24, image_size=32
    )
    meg = read_things_meg(tmp_path / preprocessed_epochs(2))
    encoding, features, courses = read_sensor_truth(tmp_path / layout.SYNTHETIC_TRUTH, "P2")
    _check_timing(meg.train, encoding, features, courses)


@pytest.mark.parametrize("name", ["low_level", "semantic"])
def test_truth_amplitudes_follow_the_sensor_positions(tmp_path, name):
    write_synthetic_things_eeg(
        tmp_path, [1], n_train_concepts=6, n_train_exemplars=1, n_test_concepts=2, test_repetitions=2, image_size=16
    )
    encoding, _, _ = read_sensor_truth(tmp_path / layout.SYNTHETIC_TRUTH, "sub-01")
    amplitude = dict(zip(encoding.ch_names, getattr(encoding, f"{name}_amplitude")))
    if name == "low_level":  # occipital midline over lateral parietal
        assert amplitude["Oz"] > amplitude["P7"] and amplitude["Oz"] > amplitude["P8"]
    else:  # lateral over midline
        assert amplitude["P7"] > amplitude["Pz"] and amplitude["PO8"] > amplitude["Oz"]
