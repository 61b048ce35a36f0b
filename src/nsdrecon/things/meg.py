"""THINGS-MEG's preprocessed epochs (Hebart et al. 2023; OpenNeuro ``ds004212``).

Layout (BIDS; the derivative is written by the authors' ``MEG/step1_preprocessing.py``
in ViCCo-Group/THINGS-data)::

    derivatives/preprocessed/preprocessed_P{1..4}-epo.fif   MNE epochs, continued in -epo-1.fif ... -epo-3.fif
    sourcedata/sample_attributes_P{1..4}.csv                one row per trial, in epoch order

The epochs hold the 271 working CTF sensors (``picks='mag'``), -0.1 ... 1.3 s
at 200 Hz. Each epoch's event code is the run's ``events.tsv`` ``value``: the
1-based THINGS image number (``things_image_nr``), with catch trials (no
value) coded :data:`CATCH_EVENT`. The authors attach ``sample_attributes`` as
the epochs' metadata; its ``image_path`` (``images_meg/<concept>/<file>.jpg``)
names each trial's image, whose THINGS file is ``<concept>/<file>.jpg`` under
the THINGS object-images folder, ``<concept>`` being the file stem without its
last ``_``-part (``aircraft_carrier_06s`` -> ``aircraft_carrier``).

:func:`read_things_meg` splits the trials as ATM does (its
``preprocessed_P*-epo.fif`` loader, dongyangli-del/EEG_Image_decode): catch trials
dropped; the zero-shot test set is the images shown exactly
:data:`TEST_REPETITIONS` times (the 200 test concepts' test images); training
keeps the other images except those of a test concept; both are ordered by
event code (THINGS numbers images alphabetically, so by concept) and cropped
to a window (ATM: 0 ... 1.0 s). Where ATM finds concepts through THINGS'
``image_concept_index.csv`` (row = image number), this reader uses the image
path each trial's sample attributes give, which needs no THINGS metadata file.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import mne
import numpy as np
import pandas as pd

from .sensor_data import SensorData, check_time_axis, in_window, pick_channels

logger = logging.getLogger(__name__)

__all__ = [
    "ATTRIBUTE_COLUMNS",
    "CATCH_EVENT",
    "DEFAULT_WINDOW",
    "EPOCH_SPLITS",
    "TEST_REPETITIONS",
    "ThingsMeg",
    "epoch_files",
    "image_table",
    "preprocessed_epochs",
    "read_sample_attributes",
    "read_things_meg",
    "sample_attributes",
    "things_image_file",
]

CATCH_EVENT = 999999
TEST_REPETITIONS = 12
DEFAULT_WINDOW = (0.0, 1.0)
ATTRIBUTE_COLUMNS = ("trial_type", "image_path", "things_image_nr")
"""Columns of ``sample_attributes_P*.csv`` (and the epochs' metadata) the reader uses."""
EPOCH_SPLITS = 3
"""Continuation files of each participant's epochs in ds004212 (MNE splits a file at 2 GB; the epochs are ~8 GB)."""
_CATCH_TYPE = "catch"
_CHUNK = 500


def _participant(subject: int | str) -> int:
    """``1`` for ``1``, ``"1"``, ``"P1"`` or ``"sub-01"``."""
    text = str(subject)
    for prefix in ("sub-", "P"):
        text = text.removeprefix(prefix)
    return int(text)


def preprocessed_epochs(subject: int | str) -> str:
    """A participant's epochs file, relative to the dataset root."""
    return f"derivatives/preprocessed/preprocessed_P{_participant(subject)}-epo.fif"


def epoch_files(subject: int | str) -> list[str]:
    """A participant's epochs file and its :data:`EPOCH_SPLITS` continuation files, relative to the dataset root.

    ``mne.read_epochs`` opens the first and follows the chain of names written in each part, so all of
    them must lie side by side, under these names.
    """
    first = preprocessed_epochs(subject)
    stem = first.removesuffix("-epo.fif")
    return [first, *(f"{stem}-epo-{k}.fif" for k in range(1, EPOCH_SPLITS + 1))]


def sample_attributes(subject: int | str) -> str:
    """A participant's per-trial table, relative to the dataset root."""
    return f"sourcedata/sample_attributes_P{_participant(subject)}.csv"


def things_image_file(image_path: str) -> str:
    """The THINGS file of a sample-attributes ``image_path``: ``images_meg/x/x_01b.jpg`` -> ``x/x_01b.jpg``."""
    name = Path(image_path).name
    concept, separator, _ = Path(name).stem.rpartition("_")
    if not separator or not concept:
        raise ValueError(f"not a THINGS image file name (<concept>_<exemplar>.jpg): {image_path!r}")
    return f"{concept}/{name}"


@dataclass(frozen=True, eq=False)
class ThingsMeg:
    """One participant's split epochs.

    Attributes
    ----------
    train : SensorData
        (n_train_images, 1, n_channels, n_times): every non-test-concept image, shown once.
    test : SensorData
        (n_test_images, 12, n_channels, n_times): the zero-shot test images.
    """

    train: SensorData
    test: SensorData


def read_sample_attributes(path: str | os.PathLike) -> pd.DataFrame:
    """Read ``sourcedata/sample_attributes_P*.csv``; raise ``ValueError`` naming the file if a used column is missing."""
    table = pd.read_csv(path)
    _check_columns(path, table)
    return table


def _check_columns(path, table: pd.DataFrame) -> None:
    missing = [column for column in ATTRIBUTE_COLUMNS if column not in table.columns]
    if missing:
        raise ValueError(f"{path}: trial table lacks columns {missing}; found {list(table.columns)}")


def image_table(path: str | os.PathLike, attributes: pd.DataFrame) -> dict[int, str]:
    """THINGS image number -> THINGS file (``<concept>/<file>.jpg``) over the non-catch trials of ``attributes``.

    Raises
    ------
    ValueError
        One image number given two different files, naming ``path``.
    """
    _check_columns(path, attributes)
    shown = attributes[attributes["trial_type"] != _CATCH_TYPE]
    table: dict[int, str] = {}
    for number, image_path in zip(shown["things_image_nr"].astype(int), shown["image_path"]):
        file = things_image_file(image_path)
        if table.setdefault(int(number), file) != file:
            raise ValueError(f"{path}: THINGS image {number} is both {table[int(number)]} and {file}")
    return table


def read_things_meg(
    path: str | os.PathLike,
    attributes: pd.DataFrame | None = None,
    channels: list[str] | None = None,
    window: tuple[float, float] = DEFAULT_WINDOW,
    test_repetitions: int = TEST_REPETITIONS,
) -> ThingsMeg:
    """Read a participant's epochs and split them into training and zero-shot test sets as ATM does.

    Parameters
    ----------
    path : path-like
        ``preprocessed_P{n}-epo.fif`` (its split parts are found by MNE).
    attributes : pandas.DataFrame, optional
        The trial table (:func:`read_sample_attributes`), one row per epoch; default: the epochs' metadata.
    channels : list of str, optional
        Sensors to keep, in this order (default: all, in file order).
    window : (float, float), default=(0.0, 1.0)
        Seconds kept (inclusive); the epochs must span it.
    test_repetitions : int, default=12
        An image shown exactly this many times is a test image.

    Returns
    -------
    ThingsMeg
        ``image_files`` relative to the THINGS object-images folder.

    Raises
    ------
    ValueError
        Naming the file and what was found: no trial table, a table of another length, event codes with no image,
        no image shown ``test_repetitions`` times, training images shown unequal numbers of times, a configured
        sensor missing, or a window outside the epochs.
    FileNotFoundError
        ``path`` or one of its continuation files (:func:`epoch_files`) missing, naming it.
    """
    path = Path(path)
    try:
        epochs = mne.read_epochs(path, preload=False, verbose="error")
    except FileNotFoundError as e:
        if Path(e.filename or "") == path:
            raise
        raise FileNotFoundError(f"{path}: its continuation file {e.filename} is missing (download it beside it)") from e
    if attributes is None:
        if epochs.metadata is None:
            raise ValueError(f"{path}: the epochs carry no trial table (metadata); pass sourcedata/sample_attributes")
        attributes = epochs.metadata
    if len(attributes) != len(epochs):
        raise ValueError(f"{path}: {len(epochs)} epochs but the trial table has {len(attributes)} rows")
    times = check_time_axis(path, epochs.times, len(epochs.times))
    half_step = 0.5 / epochs.info["sfreq"]
    if window[0] < times[0] - half_step or window[1] > times[-1] + half_step or window[0] >= window[1]:
        raise ValueError(
            f"{path}: time window {window[0]:g} ... {window[1]:g} s is outside the epochs, "
            f"{times[0]:g} ... {times[-1]:g} s at {epochs.info['sfreq']:g} Hz"
        )
    picked = [epochs.ch_names[i] for i in pick_channels(path, epochs.ch_names, channels)]

    codes = epochs.events[:, 2]
    files = image_table(path, attributes)
    unknown = sorted(set(codes[codes != CATCH_EVENT].tolist()) - set(files))
    if unknown:
        raise ValueError(f"{path}: {len(unknown)} event codes name no image in the trial table, e.g. {unknown[:10]}")
    counts = Counter(codes[codes != CATCH_EVENT].tolist())
    test_codes = sorted(code for code, count in counts.items() if count == test_repetitions)
    if not test_codes:
        raise ValueError(
            f"{path}: no image is shown {test_repetitions} times (the zero-shot test set); "
            f"repetition counts found: {dict(sorted(Counter(counts.values()).items()))}"
        )
    test_concepts = {_concept(files[code]) for code in test_codes}
    train_codes = sorted(
        code for code in counts if code not in test_codes and _concept(files[code]) not in test_concepts
    )
    logger.info(
        "%s: %d catch trials dropped, %d test images x %d, %d training images (%d of a test concept dropped)",
        path,
        int((codes == CATCH_EVENT).sum()),
        len(test_codes),
        test_repetitions,
        len(train_codes),
        len(counts) - len(test_codes) - len(train_codes),
    )
    split = {
        name: _split_data(path, epochs, codes, selected, files, picked, window)
        for name, selected in (("train", train_codes), ("test", test_codes))
    }
    return ThingsMeg(**split)


def _concept(file: str) -> str:
    return file.split("/", 1)[0]


def _split_data(path, epochs, codes, selected, files, picked, window) -> SensorData:
    """The epochs of the images ``selected`` (event codes), (n_images, n_repetitions, n_channels, n_times).

    Read from disk :data:`_CHUNK` epochs at a time and stored as float32 (the full real set is gigabytes).
    """
    trials = [np.flatnonzero(codes == code) for code in selected]
    repetitions = {len(rows) for rows in trials}
    if len(repetitions) != 1:
        raise ValueError(f"{path}: images shown unequal numbers of times: {sorted(repetitions)}")
    order = np.concatenate(trials)  # output row -> epoch
    destination = np.argsort(order)  # k-th smallest epoch -> output row
    ascending = order[destination]
    kept = in_window(epochs.times, window)
    data = np.empty((len(order), len(picked), kept.sum()), dtype=np.float32)
    for start in range(0, len(order), _CHUNK):
        rows = slice(start, start + _CHUNK)
        data[destination[rows]] = epochs[ascending[rows]].get_data(picks=picked, verbose="error")[..., kept]
    image_files = np.asarray([files[code] for code in selected])
    return SensorData(
        data=data.reshape(len(selected), repetitions.pop(), len(picked), -1),
        ch_names=tuple(picked),
        times=epochs.times[kept],
        image_files=image_files,
        concepts=np.asarray([_concept(file).replace("_", " ") for file in image_files]),
        source=Path(path),
    )
