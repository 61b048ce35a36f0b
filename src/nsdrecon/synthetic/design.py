"""A synthetic ``nsd_expdesign.mat`` that follows NSD's design rules (``nsd.md`` section 3a).

Rules kept: every subject sees ``n_images`` images three times each, in one
trial order common to all subjects (``masterordering``, 1-based 10k indices);
10k indices ``1..n_shared`` are the shared images (``sharedix``), the same 73k
IDs for every subject, while the other 73k IDs are disjoint between subjects;
repeats fall both within a session and across sessions (lags drawn log-uniform
from a few trials up to most of the experiment); first presentations are
spread over the sessions with more of them early on, as in NSD (where 907 of
the 1000 shared images had been shown by session 30 of 40); an image never
repeats on two consecutive trials. Each session has 12 runs; odd runs carry
one more stimulus trial than even runs (63/62 for 750 trials) among a fixed
number of 4-s slots per run (75 for 750 trials), the rest blank.

``basiccnt`` is stored with a synthetic meaning (the real one is
undocumented): row r counts the trials of each session that are the
(r+1)-th presentation of their image.
"""

from __future__ import annotations

import logging
import math
import os

import numpy as np
import scipy.io

from nsdrecon.atomic import atomic_path

logger = logging.getLogger(__name__)

__all__ = [
    "N_REPEATS",
    "N_RUNS",
    "make_expdesign",
    "n_sessions",
    "presentation_trials",
    "run_trial_counts",
    "save_expdesign",
]

N_REPEATS = 3
N_RUNS = 12
_NSD_MAX_RUN_TRIALS, _NSD_RUN_SLOTS = 63, 75
_FIRST_PRESENTATION_SKEW = 5.0  # Beta(1, b) first times; at NSD size ~88% of shared seen by session 30 (NSD: 91%)
_MIN_LAG = 8.0


def run_trial_counts(trials_per_session: int) -> np.ndarray:
    """Stimulus trials in each of the 12 runs: odd runs (1, 3, ...) get the extra trials.

    Returns
    -------
    ndarray of int64, shape (12,)
        e.g. ``[63, 62, 63, 62, ...]`` for 750 trials.
    """
    base, extra = divmod(trials_per_session, N_RUNS)
    order = np.r_[np.arange(0, N_RUNS, 2), np.arange(1, N_RUNS, 2)]  # odd runs first (0-based even)
    counts = np.full(N_RUNS, base, dtype=np.int64)
    counts[order[:extra]] += 1
    return counts


def _master_ordering(rng: np.random.Generator, n_images: int) -> np.ndarray:
    """Trial order of 10k indices (1-based), each exactly three times, no back-to-back repeat."""
    n_trials = N_REPEATS * n_images
    first = n_trials * rng.beta(1.0, _FIRST_PRESENTATION_SKEW, size=n_images)
    lags = np.exp(rng.uniform(np.log(_MIN_LAG), np.log(0.6 * n_trials), size=(n_images, N_REPEATS - 1)))
    times = np.concatenate([first[:, None], first[:, None] + np.cumsum(lags, axis=1)], axis=1)
    image = np.repeat(np.arange(1, n_images + 1), N_REPEATS)
    ordering = image[np.argsort(times.ravel(), kind="stable")]
    for _ in range(100):
        repeats = np.flatnonzero(ordering[1:] == ordering[:-1]) + 1
        if repeats.size == 0:
            return ordering
        # move each back-to-back repeat a few trials later (or earlier at the very end)
        for position in repeats:
            target = position + int(rng.integers(2, 12))
            target = target if target < n_trials else position - int(rng.integers(2, 12))
            ordering[[position, target]] = ordering[[target, position]]
    raise RuntimeError(f"could not remove back-to-back repeats from a {n_trials}-trial ordering")


def _stim_pattern(rng: np.random.Generator, n_sessions: int, trials_per_session: int) -> np.ndarray:
    counts = run_trial_counts(trials_per_session)
    n_slots = math.ceil(counts.max() * _NSD_RUN_SLOTS / _NSD_MAX_RUN_TRIALS)
    ranks = np.argsort(rng.random((n_sessions, N_RUNS, n_slots)), axis=2).argsort(axis=2)
    return (ranks < counts[None, :, None]).astype(np.uint8)


def presentation_trials(masterordering: np.ndarray) -> np.ndarray:
    """0-based trials at which each 10k image is shown, in order.

    Parameters
    ----------
    masterordering : ndarray of int, shape (n_trials,) or (1, n_trials)
        1-based 10k indices, each appearing ``N_REPEATS`` times.

    Returns
    -------
    ndarray of int64, shape (n_images, N_REPEATS)
        Row k-1 holds the trials showing 10k image k.
    """
    ordering = np.ravel(masterordering)
    return np.argsort(ordering, kind="stable").reshape(-1, N_REPEATS)


def n_sessions(n_images_per_subject: int, trials_per_session: int) -> int:
    """Scan sessions of a generated subject: each image shown ``N_REPEATS`` times, ``trials_per_session`` a session."""
    return N_REPEATS * n_images_per_subject // trials_per_session


def make_expdesign(
    rng: np.random.Generator,
    n_images_per_subject: int,
    n_shared: int,
    trials_per_session: int,
    n_design_subjects: int,
) -> dict[str, np.ndarray]:
    """Build the arrays of ``nsd_expdesign.mat``.

    Parameters
    ----------
    rng : numpy.random.Generator
    n_images_per_subject : int
        Images per subject (NSD: 10000), each shown three times.
    n_shared : int
        Images common to all subjects (NSD: 1000), 10k indices ``1..n_shared``.
    trials_per_session : int
        Stimulus trials per session (NSD: 750); must divide ``3 * n_images_per_subject``.
    n_design_subjects : int
        Rows of ``subjectim`` (NSD: 8).

    Returns
    -------
    dict of str to ndarray
        ``masterordering`` int32 (1, 3n); ``subjectim`` int32 (n_design_subjects, n);
        ``sharedix`` int32 (1, n_shared); ``stimpattern`` uint8 (n_sessions, 12, n_slots);
        ``basiccnt`` int32 (3, n_sessions). Image IDs are 1-based 73k IDs in
        ``1..n_shared + n_design_subjects * (n - n_shared)``.

    Raises
    ------
    ValueError
        Sizes that do not fit: sessions not a whole number, ``n_shared`` out of range.
    """
    n_trials = N_REPEATS * n_images_per_subject
    if not 0 < n_shared <= n_images_per_subject:
        raise ValueError(f"n_shared must be in 1..n_images_per_subject={n_images_per_subject}, got {n_shared}")
    if trials_per_session < N_RUNS:
        raise ValueError(f"trials_per_session must be >= {N_RUNS} (one per run), got {trials_per_session}")
    if n_trials % trials_per_session:
        raise ValueError(
            f"{N_REPEATS} x n_images_per_subject = {n_trials} trials is not a whole number of sessions "
            f"of trials_per_session = {trials_per_session} (n_sessions would be {n_trials / trials_per_session:g})"
        )
    if n_design_subjects < 1:
        raise ValueError(f"n_design_subjects must be >= 1, got {n_design_subjects}")
    sessions = n_sessions(n_images_per_subject, trials_per_session)
    n_own = n_images_per_subject - n_shared
    n_stimuli = n_shared + n_design_subjects * n_own

    ids = rng.permutation(n_stimuli) + 1
    sharedix = np.sort(ids[:n_shared])
    own = np.sort(ids[n_shared:].reshape(n_design_subjects, n_own), axis=1)
    subjectim = np.concatenate([np.broadcast_to(sharedix, (n_design_subjects, n_shared)), own], axis=1)

    masterordering = _master_ordering(rng, n_images_per_subject)
    repeat_of_trial = np.empty(n_trials, dtype=np.int64)
    repeat_of_trial[presentation_trials(masterordering)] = np.arange(N_REPEATS)
    session_of_trial = np.arange(n_trials) // trials_per_session
    basiccnt = np.zeros((N_REPEATS, sessions), dtype=np.int32)
    np.add.at(basiccnt, (repeat_of_trial, session_of_trial), 1)

    logger.info(
        "expdesign: %d subjects x %d images (%d shared), %d trials in %d sessions, %d stimuli",
        n_design_subjects,
        n_images_per_subject,
        n_shared,
        n_trials,
        sessions,
        n_stimuli,
    )
    return {
        "masterordering": masterordering.astype(np.int32)[None, :],
        "subjectim": subjectim.astype(np.int32),
        "sharedix": sharedix.astype(np.int32)[None, :],
        "stimpattern": _stim_pattern(rng, sessions, trials_per_session),
        "basiccnt": basiccnt,
    }


def save_expdesign(path: str | os.PathLike, design: dict[str, np.ndarray]) -> None:
    """Write ``design`` (from :func:`make_expdesign`) as a MATLAB v5 ``.mat`` file, atomically.

    Index arrays are stored as integers so that ``subjectim[s, masterordering[t] - 1]``
    indexes directly after ``scipy.io.loadmat``, as peer code does.
    """
    with atomic_path(path) as tmp:
        scipy.io.savemat(tmp, design, do_compression=True)
