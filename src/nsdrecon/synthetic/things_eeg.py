"""Write a generated THINGS-EEG2 world in the real dataset's layout and formats.

Under ``root``::

    image_set/training_images/<NNNNN_concept>/<concept>_<nn>s.jpg   n_train_concepts x n_train_exemplars
    image_set/test_images/<NNNNN_concept>/<concept>_01s.jpg         n_test_concepts x 1
    image_set/image_metadata.npy                                    the real keys (nsdrecon.things.images)
    preprocessed_data/sub-XX/preprocessed_eeg_training.npy          (n_train_images, train_repetitions, C, T)
    preprocessed_data/sub-XX/preprocessed_eeg_test.npy              (n_test_concepts, test_repetitions, C, T)
    synthetic_truth.h5                                               the encoding model (meeg_encoding)

Concepts are procedural scene descriptions (:mod:`.things_stimuli`), numbered
alphabetically within each split and among all concepts (``*_THINGS``), as in
the real set; training and test concepts are disjoint. Responses come from
:mod:`.meeg_encoding` with each subject's electrode positions from MNE's
standard montage (:mod:`.sensor_layouts`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from nsdrecon import layout
from nsdrecon.atomic import atomic_path
from nsdrecon.things.eeg2 import EEG_CHANNELS_17, preprocessed_eeg, subject_dir
from nsdrecon.things.images import IMAGE_FOLDERS, IMAGE_METADATA, IMAGE_SET, metadata_keys

from .meeg_encoding import make_sensor_encoding, stimulus_features, write_sensor_truth
from .rng import stream_rng
from .scenes import render_scenes
from .sensor_layouts import eeg_positions
from .things_stimuli import (
    concatenate_scenes,
    concept_scenes,
    exemplar_file,
    exemplar_scenes,
    folder_name,
    write_jpeg,
)

logger = logging.getLogger(__name__)

__all__ = ["write_synthetic_things_eeg"]

# random-stream purposes
_CONCEPTS, _SPLIT, _EXEMPLARS, _LAYOUT, _ENCODING, _NOISE = range(6)


def _save_dict(path: Path, content: dict) -> None:
    """``np.save`` of a dict (a pickle inside an ``.npy``), as the real files are written."""
    with atomic_path(path) as tmp:
        np.save(tmp, content, allow_pickle=True)


def write_synthetic_things_eeg(
    root: str | os.PathLike,
    subjects: list[int | str] = (1, 2),
    *,
    seed: int = 0,
    n_train_concepts: int = 100,
    n_train_exemplars: int = 3,
    n_test_concepts: int = 50,
    train_repetitions: int = 4,
    test_repetitions: int = 80,
    channels: tuple[str, ...] = EEG_CHANNELS_17,
    sfreq: float = 100.0,
    tmin: float = -0.2,
    n_times: int = 100,
    image_size: int = 64,
    snr: float = 0.5,
) -> list[Path]:
    """Generate a THINGS-EEG2-format world under ``root``.

    Parameters
    ----------
    root : path-like
    subjects : list of int or str, default=(1, 2)
        ``1`` or ``"sub-01"``; each subject's layout and noise depend only on its number and ``seed``.
    seed : int, default=0
    n_train_concepts, n_train_exemplars : int, default=100, 3
        Training images = concepts x exemplars (real: 1654 x 10).
    n_test_concepts : int, default=50
        One test image each (real: 200).
    train_repetitions, test_repetitions : int, default=4, 80
        As in the real set.
    channels : tuple of str, default=EEG_CHANNELS_17
        Channel names in file order (``EEG_CHANNELS_63`` for the 63-channel layout).
    sfreq, tmin, n_times : float, float, int, default=100.0, -0.2, 100
        Time axis ``tmin + arange(n_times) / sfreq`` (real: 100 Hz, -0.2 ... 0.79 s; re-preprocessed 250 Hz).
    image_size : int, default=64
        Side of each JPEG (real: 500).
    snr : float, default=0.5
        Single-trial signal std / noise std of a sensor of amplitude 1 at a feature's peak.

    Returns
    -------
    list of pathlib.Path
        Every file written.
    """
    root = Path(root)
    names = [subject_dir(subject) for subject in subjects]
    concepts_table, concepts = concept_scenes(stream_rng(seed, _CONCEPTS), n_train_concepts + n_test_concepts)
    is_test = np.zeros(len(concepts), dtype=bool)
    is_test[stream_rng(seed, _SPLIT).choice(len(concepts), n_test_concepts, replace=False)] = True

    written, metadata, scenes, files = [], {}, [], []
    for split, members, n_exemplars in (("train", ~is_test, n_train_exemplars), ("test", is_test, 1)):
        rows = np.flatnonzero(members)  # sorted: concepts are numbered alphabetically within the split
        table = exemplar_scenes(stream_rng(seed, _EXEMPLARS, int(split == "test")), concepts_table.subset(rows), n_exemplars)
        concept_dirs, things_dirs, image_files = [], [], []
        for number, row in enumerate(rows, start=1):
            for exemplar in range(n_exemplars):
                concept_dirs.append(f"{number:05d}_{folder_name(concepts[row])}")
                things_dirs.append(f"{row + 1:05d}_{folder_name(concepts[row])}")
                image_files.append(exemplar_file(concepts[row], exemplar))
        images = render_scenes(table, image_size)
        for concept_dir, file, image in zip(concept_dirs, image_files, images):
            path = root / IMAGE_SET / IMAGE_FOLDERS[split] / concept_dir / file
            write_jpeg(path, image)
            written.append(path)
            files.append(f"{IMAGE_FOLDERS[split]}/{concept_dir}/{file}")
        metadata.update(zip(metadata_keys(split), (concept_dirs, image_files, things_dirs)))
        scenes.append((table, images))
    _save_dict(root / IMAGE_METADATA, metadata)
    written.append(root / IMAGE_METADATA)

    train_table, train_images = scenes[0]
    test_table, test_images = scenes[1]
    features = stimulus_features(
        files, np.concatenate([train_images, test_images]), concatenate_scenes([train_table, test_table])
    )
    times = np.round(tmin + np.arange(n_times) / sfreq, 9)
    n_train = len(train_images)
    encodings = {}
    for name in names:
        index = int(name[4:])
        positions = eeg_positions(stream_rng(seed, _LAYOUT, index), list(channels))
        encoding = make_sensor_encoding(stream_rng(seed, _ENCODING, index), list(channels), positions, features, snr)
        encodings[name] = encoding
        response = encoding.predict(features, times)
        for split, rows, repetitions in (
            ("train", slice(0, n_train), train_repetitions),
            ("test", slice(n_train, None), test_repetitions),
        ):
            trials = encoding.simulate(response[rows], repetitions, stream_rng(seed, _NOISE, index, int(split == "test")))
            path = root / preprocessed_eeg(name, split)
            _save_dict(path, {"preprocessed_eeg_data": trials, "ch_names": list(channels), "times": times})
            written.append(path)
        logger.info("%s: %d training and %d test images, %d channels", name, n_train, len(test_images), len(channels))
    write_sensor_truth(root / layout.SYNTHETIC_TRUTH, features, encodings)
    written.append(root / layout.SYNTHETIC_TRUTH)
    return written
