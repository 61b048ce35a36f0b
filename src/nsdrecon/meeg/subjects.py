"""One subject's THINGS-EEG2 or THINGS-MEG responses, with the ids, image files and sensor positions the stages need.

Image ids are integers shared by every subject of a dataset (they play the part of NSD's ``nsd_id``):
THINGS-EEG2 numbers the training images ``0 .. n_train - 1`` in ``image_metadata.npy`` order and the test
images after them; THINGS-MEG uses the THINGS image number of its sample attributes (``things_image_nr``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import mne
import numpy as np

from nsdrecon.things import (
    preprocessed_eeg,
    preprocessed_epochs,
    read_image_metadata,
    read_preprocessed_eeg,
    read_sample_attributes,
    read_things_meg,
    sample_attributes,
)
from nsdrecon.things.images import IMAGE_METADATA, IMAGE_SET
from nsdrecon.things.meg import image_table
from nsdrecon.things.sensor_data import SensorData

logger = logging.getLogger(__name__)

__all__ = ["EEG_MONTAGES", "SubjectResponses", "eeg_positions", "read_subject", "subject_files"]

EEG_MONTAGES = ("standard_1020", "colin27_1020")
"""MNE montages tried, in order, for EEG electrode positions (the files carry none)."""


@dataclass(frozen=True, eq=False)
class SubjectResponses:
    """A subject's training and test responses.

    Attributes
    ----------
    train, test : SensorData
        (n_images, n_repetitions, n_channels, n_times) each.
    train_ids, test_ids : ndarray of int64, shape (n_images,)
        Dataset-wide image ids of the rows.
    train_images, test_images : ndarray of str, shape (n_images,)
        Each image's file, absolute or relative to the working directory.
    positions : ndarray of float64, shape (n_channels, 3)
        Sensor positions in metres (head frame; NaN where unknown).
    ch_type : str
        ``eeg`` or ``mag``.
    """

    train: SensorData
    test: SensorData
    train_ids: np.ndarray
    test_ids: np.ndarray
    train_images: np.ndarray
    test_images: np.ndarray
    positions: np.ndarray
    ch_type: str


def subject_files(modality: str, subject: str) -> dict[str, str]:
    """A subject's data files relative to the dataset root (``eeg``: training/test; ``meg``: epochs/attributes)."""
    if modality == "eeg":
        return {split: preprocessed_eeg(subject, split) for split in ("train", "test")}
    if modality == "meg":
        return {"epochs": preprocessed_epochs(subject), "attributes": sample_attributes(subject)}
    raise ValueError(f"modality must be 'eeg' or 'meg', got {modality!r}")


def eeg_positions(ch_names: list[str] | tuple[str, ...]) -> np.ndarray:
    """Positions (C, 3) of 10-10 electrode names from MNE's standard montage; NaN rows for unknown names."""
    available = mne.channels.get_builtin_montages()
    name = next(m for m in EEG_MONTAGES if m in available)
    standard = mne.channels.make_standard_montage(name).get_positions()["ch_pos"]
    return np.asarray([standard.get(ch, np.full(3, np.nan)) for ch in ch_names], dtype=np.float64)


def read_subject(
    modality: str,
    root: str | os.PathLike,
    subject: str,
    *,
    things_images: str | os.PathLike | None = None,
    channels: list[str] | None = None,
    window: tuple[float, float] | None = None,
) -> SubjectResponses:
    """Read one subject of THINGS-EEG2 (``eeg``) or THINGS-MEG (``meg``) under ``root``.

    ``things_images``: the THINGS object-images folder THINGS-MEG's image paths are relative to.
    """
    root = Path(root)
    files = subject_files(modality, subject)
    if modality == "eeg":
        splits = read_image_metadata(root / IMAGE_METADATA)
        data = {s: read_preprocessed_eeg(root / files[s], splits[s], channels, window) for s in ("train", "test")}
        n_train = len(splits["train"])
        ids = {"train": np.arange(n_train), "test": n_train + np.arange(len(splits["test"]))}
        images = {s: np.asarray([str(root / IMAGE_SET / f) for f in data[s].image_files]) for s in data}
        positions, ch_type = eeg_positions(data["train"].ch_names), "eeg"
    else:
        attributes = read_sample_attributes(root / files["attributes"])
        meg = read_things_meg(root / files["epochs"], attributes, channels, tuple(window) if window else (0.0, 1.0))
        data = {"train": meg.train, "test": meg.test}
        number = {file: nr for nr, file in image_table(root / files["attributes"], attributes).items()}
        ids = {s: np.asarray([number[f] for f in data[s].image_files]) for s in data}
        folder = Path(things_images) if things_images is not None else root
        images = {s: np.asarray([str(folder / f) for f in data[s].image_files]) for s in data}
        info = mne.io.read_info(root / files["epochs"], verbose="error")
        locs = {ch["ch_name"]: ch["loc"][:3] for ch in info["chs"]}
        positions, ch_type = np.asarray([locs[c] for c in meg.train.ch_names], dtype=np.float64), "mag"
    if np.intersect1d(ids["train"], ids["test"]).size:
        raise ValueError(f"{root}: {subject}'s training and test images overlap")
    logger.info(
        "%s %s: %d training images x %d repetitions, %d test images x %d, %d channels, %d samples",
        modality, subject, *data["train"].data.shape[:2], *data["test"].data.shape[:3], data["test"].data.shape[3],
    )  # fmt: skip
    return SubjectResponses(
        data["train"], data["test"], ids["train"].astype(np.int64), ids["test"].astype(np.int64),
        images["train"], images["test"], positions, ch_type,
    )  # fmt: skip
