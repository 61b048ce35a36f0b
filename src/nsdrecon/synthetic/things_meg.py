"""Write a generated THINGS-MEG world in the real dataset's layout and formats.

Under ``root``::

    derivatives/preprocessed/preprocessed_P{n}-epo.fif   MNE epochs, -0.1 ... 1.3 s at 200 Hz, with metadata,
                                                         split like the real files into -epo-1.fif ... -epo-3.fif
    sourcedata/sample_attributes_P{n}.csv                the same trial table (BIDS source data)
    THINGS-images/<concept>/<concept>_<nn>s.jpg          the THINGS-like object images (:data:`IMAGES`)
    synthetic_truth.h5                                   the encoding model (meeg_encoding)

As in the real set, every concept's ``n_exemplars`` images are shown once;
``n_test_concepts`` of the concepts have one more exemplar, the test image,
shown ``test_repetitions`` times; ``n_catch`` catch trials (event
:data:`~nsdrecon.things.meg.CATCH_EVENT`, an image outside THINGS) are mixed
in. Event codes are THINGS image numbers: all images numbered 1.. in
concept and file order. Trials are shuffled and spread over sessions and runs.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import mne
import numpy as np
import pandas as pd

from nsdrecon import layout
from nsdrecon.atomic import atomic_path
from nsdrecon.things.meg import CATCH_EVENT, EPOCH_SPLITS, TEST_REPETITIONS, epoch_files, sample_attributes

from .meeg_encoding import make_sensor_encoding, stimulus_features, write_sensor_truth
from .rng import stream_rng
from .scenes import render_scenes
from .sensor_layouts import ctf_sensors, meg_info
from .things_stimuli import concept_scenes, exemplar_file, exemplar_scenes, folder_name, write_jpeg

logger = logging.getLogger(__name__)

__all__ = ["IMAGES", "write_synthetic_things_meg"]

IMAGES = "THINGS-images"
_N_SESSIONS, _RUNS_PER_SESSION = 2, 5
_TRIAL_SPACING = 300  # samples between epoch onsets in the (notional) recording

# random-stream purposes
_CONCEPTS, _SPLIT, _EXEMPLARS, _LAYOUT, _ENCODING, _TRIALS, _NOISE = range(7)


def _trial_table(rng: np.random.Generator, images: pd.DataFrame, test_repetitions: int, n_catch: int) -> pd.DataFrame:
    """The shuffled trials: one per training exemplar, ``test_repetitions`` per test image, ``n_catch`` catch trials."""
    shown = images.loc[images.index.repeat(np.where(images["test"], test_repetitions, 1))]
    trials = pd.DataFrame(
        {
            "trial_type": np.where(shown["test"], "test", "exp"),
            "image_path": "images_meg/" + shown["file"],
            "things_image_nr": shown["things_image_nr"].astype(float),
            "things_category_nr": shown["things_category_nr"].astype(float),
        }
    )
    catch = pd.DataFrame(
        {
            "trial_type": "catch",
            "image_path": [f"images_catch_meg/catch_{i + 1:03d}.jpg" for i in range(n_catch)],
            "things_image_nr": np.nan,
            "things_category_nr": np.nan,
        }
    )
    trials = pd.concat([trials, catch], ignore_index=True).iloc[rng.permutation(len(trials) + n_catch)]
    runs = np.array_split(np.arange(len(trials)), _N_SESSIONS * _RUNS_PER_SESSION)
    run_of_trial = np.concatenate([np.full(len(rows), i) for i, rows in enumerate(runs)])
    trials.insert(0, "session_nr", run_of_trial // _RUNS_PER_SESSION + 1)
    trials.insert(1, "run_nr", run_of_trial % _RUNS_PER_SESSION + 1)
    return trials.reset_index(drop=True)


def write_synthetic_things_meg(
    root: str | os.PathLike,
    subjects: list[int | str] = (1, 2),
    *,
    seed: int = 0,
    n_concepts: int = 80,
    n_exemplars: int = 4,
    n_test_concepts: int = 15,
    test_repetitions: int = TEST_REPETITIONS,
    n_catch: int = 20,
    n_sensors: int = 48,
    sfreq: float = 200.0,
    tmin: float = -0.1,
    n_times: int = 281,
    image_size: int = 64,
    snr: float = 0.5,
) -> list[Path]:
    """Generate a THINGS-MEG-format world under ``root``.

    Parameters
    ----------
    root : path-like
    subjects : list of int or str, default=(1, 2)
        Participants ``1`` or ``"P1"``; each one's sensor positions and noise depend only on its number and ``seed``.
    seed : int, default=0
    n_concepts, n_exemplars : int, default=80, 4
        Images shown once (real: 1854 x 12).
    n_test_concepts : int, default=15
        Concepts with a test image (real: 200).
    test_repetitions : int, default=12
    n_catch : int, default=20
        Catch trials (real: 2400).
    n_sensors : int, default=48
        CTF-275 sensors kept, spread over the helmet (real: 271).
    sfreq, tmin, n_times : float, float, int, default=200.0, -0.1, 281
        Epoch time axis (real: -0.1 ... 1.3 s at 200 Hz).
    image_size : int, default=64
    snr : float, default=0.5
        Single-trial signal std / noise std of a sensor of amplitude 1 at a feature's peak.

    Returns
    -------
    list of pathlib.Path
        Every file written.
    """
    root = Path(root)
    if not 0 < n_test_concepts <= n_concepts:
        raise ValueError(f"n_test_concepts must be within 1..n_concepts={n_concepts}, got {n_test_concepts}")
    concepts_table, concepts = concept_scenes(stream_rng(seed, _CONCEPTS), n_concepts)
    test_rows = np.sort(stream_rng(seed, _SPLIT).choice(n_concepts, n_test_concepts, replace=False))
    # each concept's exemplars, then (test concepts) its test image; THINGS numbers images in this order
    per_concept = np.full(n_concepts, n_exemplars)
    per_concept[test_rows] += 1
    scenes = exemplar_scenes(stream_rng(seed, _EXEMPLARS), concepts_table, int(per_concept.max()))
    keep = np.concatenate([np.arange(count) + row * per_concept.max() for row, count in enumerate(per_concept)])
    scenes = scenes.subset(keep)
    concept_of_image = np.repeat(np.arange(n_concepts), per_concept)
    exemplar = np.concatenate([np.arange(count) for count in per_concept])
    images = pd.DataFrame(
        {
            "file": [
                f"{folder_name(concepts[c])}/{exemplar_file(concepts[c], e)}"
                for c, e in zip(concept_of_image, exemplar)
            ],
            "things_image_nr": np.arange(1, len(keep) + 1),
            "things_category_nr": concept_of_image + 1,
            "test": np.isin(concept_of_image, test_rows) & (exemplar == n_exemplars),
        }
    )
    pixels = render_scenes(scenes, image_size)
    written = []
    for file, image in zip(images["file"], pixels):
        write_jpeg(root / IMAGES / file, image)
        written.append(root / IMAGES / file)
    features = stimulus_features(list(images["file"]), pixels, scenes)

    times = np.round(tmin + np.arange(n_times) / sfreq, 9)
    encodings = {}
    for subject in subjects:
        number = int(str(subject).removeprefix("P"))
        name = f"P{number}"
        trials = _trial_table(stream_rng(seed, _TRIALS, number), images, test_repetitions, n_catch)
        codes = trials["things_image_nr"].fillna(CATCH_EVENT).astype(int).to_numpy()
        names, positions = ctf_sensors(stream_rng(seed, _LAYOUT, number), n_sensors)
        encoding = make_sensor_encoding(stream_rng(seed, _ENCODING, number), names, positions, features, snr)
        encodings[name] = encoding
        response = np.concatenate([encoding.predict(features, times), np.zeros((1, len(names), n_times), np.float32)])
        image_row = np.where(codes == CATCH_EVENT, len(images), codes - 1)  # catch trials: noise only
        data = encoding.simulate(response[image_row], 1, stream_rng(seed, _NOISE, number))[:, 0]
        events = np.stack([np.arange(len(codes)) * _TRIAL_SPACING + _TRIAL_SPACING, np.zeros_like(codes), codes], 1)
        epochs = mne.EpochsArray(
            data.astype(np.float64),
            meg_info(names, positions, sfreq),
            events=events,
            tmin=float(times[0]),
            event_id={"catch" if code == CATCH_EVENT else str(code): int(code) for code in np.unique(codes)},
            metadata=trials,
            verbose="error",
        )
        written += save_split_epochs(epochs, root, number)
        with atomic_path(root / sample_attributes(number)) as tmp:
            trials.to_csv(tmp, index=False)
        written.append(root / sample_attributes(number))
        logger.info("%s: %d trials (%d catch), %d sensors", name, len(codes), n_catch, len(names))
    write_sensor_truth(root / layout.SYNTHETIC_TRUTH, features, encodings)
    written.append(root / layout.SYNTHETIC_TRUTH)
    return written


def save_split_epochs(epochs: mne.BaseEpochs, root: Path, subject: int) -> list[Path]:
    """Save ``epochs`` as the real set's first file and :data:`EPOCH_SPLITS` continuation files; return their paths.

    Each part names the next one inside it, so the parts are written under their final names in a
    temporary folder and moved into place afterwards, the first file last: a killed run leaves no
    first file, and its rule runs again. The split size puts a quarter of the data in each part
    plus MNE's per-file overhead (its 1 MiB cushion and the measurement info), with the margin of
    half a part either way.
    """
    names = epoch_files(subject)
    parts = len(names)
    data_bytes = len(epochs) * len(epochs.ch_names) * len(epochs.times) * 4  # saved as float32
    overhead = (1 << 20) + len(repr(epochs.info)) + 16 * len(epochs.info) + 64 * len(epochs)
    split_size = overhead + data_bytes * (1 / parts + 1 / (parts - 1)) / 2
    first = root / names[0]
    first.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".epochs.", dir=first.parent) as tmp:
        epochs.save(Path(tmp) / first.name, split_size=int(split_size), overwrite=True, verbose="error")
        made = sorted(p.name for p in Path(tmp).iterdir())
        if made != sorted(Path(n).name for n in names):
            raise RuntimeError(
                f"{first}: MNE wrote {made}, not the first file and {EPOCH_SPLITS} continuation files of the real "
                f"set; {data_bytes / 1e6:.1f} MB of epochs is too little to split so (more trials or sensors)"
            )
        for name in reversed(names):
            os.replace(Path(tmp) / Path(name).name, root / name)
    return [root / name for name in names]
