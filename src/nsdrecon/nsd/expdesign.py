"""The NSD experimental design: which image each trial showed (``nsd.md`` section 3a).

``nsd_expdesign.mat`` holds three 1-based index arrays that are easy to misuse:
``masterordering`` (trial -> 1-based index into the subject's 10k list, the same
sequence for every subject), ``subjectim`` (subject x 10k -> 1-based 73k ID) and
``sharedix`` (the 1-based 73k IDs of the shared images, which are the first
``len(sharedix)`` entries of every subject's 10k list). :func:`trial_table`
turns them into one explicit row per trial with a 0-based ``nsd_id`` (the row
of ``imgBrick`` and of ``nsd_stim_info_merged.csv``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nsdrecon.layout import subject_index
from nsdrecon.fileformats import load_mat

logger = logging.getLogger(__name__)

__all__ = ["ExpDesign", "read_expdesign", "trial_table"]

_KEYS = ("masterordering", "subjectim", "sharedix")


@dataclass(frozen=True, eq=False)
class ExpDesign:
    """The three index arrays of ``nsd_expdesign.mat``, all 1-based as stored.

    Attributes
    ----------
    masterordering : ndarray of int64, shape (n_trials,)
        1-based index into a subject's 10k image list for each planned trial.
    subjectim : ndarray of int64, shape (n_subjects, n_images)
        1-based 73k ID of each subject's k-th image (k = 1..n_images).
    sharedix : ndarray of int64, shape (n_shared,)
        1-based 73k IDs of the shared images; they are the first ``n_shared``
        entries of every row of ``subjectim``.
    """

    masterordering: np.ndarray
    subjectim: np.ndarray
    sharedix: np.ndarray

    @property
    def n_shared(self) -> int:
        """Number of shared images: 10k indices ``1..n_shared`` are the test images."""
        return len(self.sharedix)


def _integer_array(path: os.PathLike, name: str, value: np.ndarray) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "iuf" or not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
        raise ValueError(f"{path}: '{name}' must hold whole numbers, found dtype {array.dtype}")
    return array.astype(np.int64)


def _vector(path: os.PathLike, name: str, array: np.ndarray) -> np.ndarray:
    if array.ndim > 2 or (array.ndim == 2 and 1 not in array.shape):
        raise ValueError(f"{path}: '{name}' must be a vector (1, n), found shape {array.shape}")
    return array.ravel()


def _check_range(path: os.PathLike, name: str, array: np.ndarray, high: int | None) -> None:
    low_found, high_found = int(array.min()), int(array.max())
    if low_found < 1 or (high is not None and high_found > high):
        expected = f"1..{high}" if high is not None else ">= 1"
        raise ValueError(f"{path}: '{name}' must hold 1-based indices {expected}, found {low_found}..{high_found}")


def read_expdesign(path: str | os.PathLike) -> ExpDesign:
    """Read and validate ``nsd_expdesign.mat`` (MATLAB v5).

    Parameters
    ----------
    path : path-like
        The ``.mat`` file.

    Returns
    -------
    ExpDesign
        ``masterordering`` (n_trials,), ``subjectim`` (n_subjects, n_images) and
        ``sharedix`` (n_shared,), int64 and 1-based.

    Raises
    ------
    ValueError
        A key is missing, an array has the wrong shape, an index is out of its
        1-based range (0 found: someone wrote 0-based indices), or a subject's
        first ``n_shared`` images are not the shared images.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"experiment design not found: {path}")
    content = load_mat(path)
    missing = [key for key in _KEYS if key not in content]
    if missing:
        found = sorted(key for key in content if not key.startswith("__"))
        raise ValueError(f"{path}: missing {missing}; found variables {found}")
    masterordering = _vector(path, "masterordering", _integer_array(path, "masterordering", content["masterordering"]))
    sharedix = _vector(path, "sharedix", _integer_array(path, "sharedix", content["sharedix"]))
    subjectim = _integer_array(path, "subjectim", content["subjectim"])
    if subjectim.ndim != 2:
        raise ValueError(f"{path}: 'subjectim' must be (n_subjects, n_images), found shape {subjectim.shape}")
    n_images = subjectim.shape[1]
    _check_range(path, "masterordering", masterordering, n_images)
    _check_range(path, "subjectim", subjectim, None)
    _check_range(path, "sharedix", sharedix, None)
    if len(sharedix) > n_images:
        raise ValueError(f"{path}: {len(sharedix)} shared images but only {n_images} images per subject")
    shared = np.sort(sharedix)
    for row, images in enumerate(subjectim, start=1):
        if not np.array_equal(np.sort(images[: len(sharedix)]), shared):
            raise ValueError(
                f"{path}: subject {row}'s first {len(sharedix)} images (subjectim[{row - 1}, :{len(sharedix)}]) "
                "are not the shared images listed in 'sharedix'"
            )
    logger.debug(
        "%s: %d trials, %d subjects x %d images, %d shared",
        path,
        len(masterordering),
        subjectim.shape[0],
        n_images,
        len(sharedix),
    )
    return ExpDesign(masterordering=masterordering, subjectim=subjectim, sharedix=sharedix)


def trial_table(
    design: ExpDesign,
    subject: int | str,
    n_sessions: int,
    trials_per_session: int = 750,
) -> pd.DataFrame:
    """One row per trial of a subject's first ``n_sessions`` sessions.

    Parameters
    ----------
    design : ExpDesign
    subject : int or str
        ``1`` or ``"subj01"``.
    n_sessions : int
        Number of leading sessions to include.
    trials_per_session : int, default=750

    Returns
    -------
    pandas.DataFrame
        ``n_sessions * trials_per_session`` rows with columns ``trial`` (0-based
        global trial = row of the concatenated betas), ``session`` (1-based),
        ``nsd_id`` (0-based 73k index: ``subjectim[s-1, masterordering[t]-1] - 1``),
        ``image10k`` (1-based 10k index) and ``shared`` (``image10k <= n_shared``).
    """
    index = subject_index(subject)
    n_subjects = design.subjectim.shape[0]
    if not 1 <= index <= n_subjects:
        raise ValueError(f"subject {subject!r} is not in the design, which has subjects 1..{n_subjects}")
    if n_sessions < 1:
        raise ValueError(f"n_sessions must be >= 1, got {n_sessions}")
    n_trials = n_sessions * trials_per_session
    if n_trials > len(design.masterordering):
        raise ValueError(
            f"{n_sessions} sessions x {trials_per_session} trials = {n_trials} trials, "
            f"but the design plans only {len(design.masterordering)}"
        )
    trial = np.arange(n_trials, dtype=np.int64)
    image10k = design.masterordering[:n_trials]
    return pd.DataFrame(
        {
            "trial": trial,
            "session": trial // trials_per_session + 1,
            "nsd_id": design.subjectim[index - 1, image10k - 1] - 1,
            "image10k": image10k,
            "shared": image10k <= design.n_shared,
        }
    )
