"""THINGS-EEG2's preprocessed EEG files (Gifford et al. 2022; OSF ``anp5v``).

Each subject has ``preprocessed_data/sub-XX/preprocessed_eeg_training.npy`` and
``preprocessed_data/sub-XX/preprocessed_eeg_test.npy`` (under the dataset root), each ``np.save`` of a dict
(OSF keeps each subject's two files in one archive, ``sub-XX.zip``, :func:`subject_archive`):

* ``preprocessed_eeg_data``: float array (n_images, n_repetitions, n_channels,
  n_times), (16540, 4, 17, 100) and (200, 80, 17, 100) in the authors' release;
* ``ch_names``: list of str, the 17 channels matching ``^O`` or ``^P``
  (:data:`EEG_CHANNELS_17`); re-preprocessings (ATM and followers) keep all 63
  (:data:`EEG_CHANNELS_63`) at 250 Hz with the same keys;
* ``times``: seconds, -0.2 ... 0.8 at 100 Hz in the authors' release.

Shapes are taken from the file and checked against each other and against the
image metadata; the channel set comes from the caller. The files are read with
:func:`nsdrecon.things.restricted_pickle.load_pickled_npy`, never
``np.load(allow_pickle=True)``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from .images import ImageSplit
from .restricted_pickle import load_pickled_npy
from .sensor_data import SensorData, check_time_axis, in_window, pick_channels

logger = logging.getLogger(__name__)

__all__ = [
    "DATA_KEYS",
    "EEG_CHANNELS_17",
    "EEG_CHANNELS_63",
    "FILE_SPLITS",
    "OSF_PROJECT",
    "PREPROCESSED_DATA",
    "preprocessed_eeg",
    "read_preprocessed_eeg",
    "subject_archive",
    "subject_dir",
]

EEG_CHANNELS_63 = (
    "Fp1", "F3", "F7", "FT9", "FC5", "FC1", "C3", "T7", "TP9", "CP5", "CP1", "Pz", "P3", "P7", "O1", "Oz",
    "O2", "P4", "P8", "TP10", "CP6", "CP2", "Fz", "C4", "T8", "FT10", "FC6", "FC2", "F4", "F8", "Fp2", "AF7",
    "AF3", "AFz", "F1", "F5", "FT7", "FC3", "FCz", "C1", "C5", "TP7", "CP3", "P1", "P5", "PO7", "PO3", "POz",
    "PO4", "PO8", "P6", "P2", "CPz", "CP4", "TP8", "C6", "C2", "FC4", "FT8", "F6", "F2", "AF4", "AF8",
)  # fmt: skip
"""The 63 recorded EEG channels in THINGS-EEG2's recording order (a 64-channel 10-10 cap referenced to Cz)."""
EEG_CHANNELS_17 = tuple(name for name in EEG_CHANNELS_63 if name[0] in "OP")
"""The authors' occipital and parietal selection (names matching ``^O`` or ``^P``), in file order."""
FILE_SPLITS = {"train": "training", "test": "test"}
DATA_KEYS = ("preprocessed_eeg_data", "ch_names", "times")
PREPROCESSED_DATA = "preprocessed_data"
OSF_PROJECT = "anp5v"
"""The OSF project of the preprocessed data."""


def subject_dir(subject: int | str) -> str:
    """``sub-01`` for ``1``, ``"1"`` or ``"sub-01"``."""
    if isinstance(subject, str) and subject.startswith("sub-"):
        subject = subject[4:]
    return f"sub-{int(subject):02d}"


def preprocessed_eeg(subject: int | str, split: str) -> str:
    """A subject's file of one split (``train`` or ``test``), relative to the dataset root."""
    if split not in FILE_SPLITS:
        raise ValueError(f"split must be one of {sorted(FILE_SPLITS)}, got {split!r}")
    return f"{PREPROCESSED_DATA}/{subject_dir(subject)}/preprocessed_eeg_{FILE_SPLITS[split]}.npy"


def subject_archive(subject: int | str) -> str:
    """The name of a subject's archive in :data:`OSF_PROJECT` (``sub-01.zip``), which holds both splits' files."""
    return f"{subject_dir(subject)}.zip"


def read_preprocessed_eeg(
    path: str | os.PathLike,
    images: ImageSplit,
    channels: list[str] | None = None,
    window: tuple[float, float] | None = None,
) -> SensorData:
    """Read one preprocessed EEG file and check it against its image split.

    Parameters
    ----------
    path : path-like
        ``sub-XX/preprocessed_eeg_{training,test}.npy``.
    images : ImageSplit
        The split's entry of :func:`nsdrecon.things.images.read_image_metadata` (n_images of them).
    channels : list of str, optional
        Channels to keep, in this order (default: all, in file order).
    window : (float, float), optional
        Keep time points with ``window[0] <= t <= window[1]`` seconds (default: all).

    Returns
    -------
    SensorData
        ``data`` float32 (n_images, n_repetitions, n_channels, n_times); ``image_files`` relative to the
        image-set folder (``training_images/<concept_dir>/<file>``).

    Raises
    ------
    ValueError
        Naming the file and what was found: keys missing, data not a 4-D float array, an image count other than
        the metadata's, channel names that do not match the channel axis or lack a configured channel, a time
        axis of the wrong length or not uniformly sampled, or a window outside it.
    """
    path = Path(path)
    stored = load_pickled_npy(path)
    if not isinstance(stored, dict) or any(key not in stored for key in DATA_KEYS):
        found = sorted(map(str, stored)) if isinstance(stored, dict) else type(stored).__name__
        raise ValueError(f"{path}: expected a dict with keys {list(DATA_KEYS)}, found {found}")
    data = stored["preprocessed_eeg_data"]
    if not isinstance(data, np.ndarray) or data.ndim != 4 or not np.issubdtype(data.dtype, np.floating):
        found = f"{data.dtype} shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(
            f"{path}: preprocessed_eeg_data must be a float array (images, repetitions, channels, times), found {found}"
        )
    if data.shape[0] != len(images):
        raise ValueError(
            f"{path}: preprocessed_eeg_data has shape {data.shape}: {data.shape[0]} images, but the image metadata "
            f"lists {len(images)} {images.split} images"
        )
    ch_names = stored["ch_names"]
    if not isinstance(ch_names, (list, tuple, np.ndarray)) or len(ch_names) != data.shape[2]:
        raise ValueError(
            f"{path}: preprocessed_eeg_data has shape {data.shape}: {data.shape[2]} channels, "
            f"but ch_names holds {len(ch_names) if hasattr(ch_names, '__len__') else ch_names!r}"
        )
    ch_names = [str(name) for name in ch_names]
    times = check_time_axis(path, stored["times"], data.shape[3])
    picked = pick_channels(path, ch_names, channels)
    kept = np.ones(len(times), dtype=bool)
    if window is not None:
        kept = in_window(times, window)
        if window[0] < times[0] - 1e-9 or window[1] > times[-1] + 1e-9 or not kept.any():
            raise ValueError(
                f"{path}: time window {window[0]:g} ... {window[1]:g} s is outside the file's time axis "
                f"{times[0]:g} ... {times[-1]:g} s"
            )
    logger.info("%s: %s, keeping %d channels and %d time points", path, data.shape, len(picked), kept.sum())
    return SensorData(
        data=np.ascontiguousarray(data[:, :, picked][..., kept], dtype=np.float32),
        ch_names=tuple(ch_names[i] for i in picked),
        times=times[kept],
        image_files=images.image_files,
        concepts=images.concepts,
        source=path,
    )
