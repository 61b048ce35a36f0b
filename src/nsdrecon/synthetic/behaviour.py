"""Simulated behaviour in the format of NSD's ``responses.tsv`` (``nsd.md`` section 3d).

One row per stimulus trial with NSD's 19 columns. The trial order, image IDs,
runs, trial numbers and onset times follow the design; the continuous
old/new recognition responses are simulated: novel images are called new
with probability 0.85, old ones are recognised more often when the previous
presentation was recent; about 1.5 % of trials have no button press (BUTTON,
RT, CHANGEMIND NaN) and 3 % a change of mind. Buttons: 1 = new, 2 = old.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .design import N_REPEATS, presentation_trials

logger = logging.getLogger(__name__)

__all__ = ["RESPONSE_COLUMNS", "responses_table"]

RESPONSE_COLUMNS = (
    "SUBJECT",
    "SESSION",
    "RUN",
    "TRIAL",
    "73KID",
    "10KID",
    "TIME",
    "ISOLD",
    "ISCORRECT",
    "RT",
    "CHANGEMIND",
    "MEMORYRECENT",
    "MEMORYFIRST",
    "ISOLDCURRENT",
    "ISCORRECTCURRENT",
    "TOTAL1",
    "TOTAL2",
    "BUTTON",
    "MISSINGDATA",
)
_SLOT_SECONDS = 4.0
_RUN_GAP_SECONDS = 90.0
_SECONDS_PER_DAY = 86400.0


def _trial_timing(rng: np.random.Generator, stimpattern: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run (1-based), trial-in-run (1-based) and onset (days) of every stimulus trial, in order."""
    n_sessions, n_runs, n_slots = stimpattern.shape
    flat = stimpattern.reshape(n_sessions, -1).astype(bool)
    session, position = np.nonzero(flat)  # row-major: sessions, then runs, then slots in order
    run = position // n_slots
    slot = position % n_slots
    trial_in_run = np.cumsum(flat.reshape(n_sessions, n_runs, n_slots), axis=2)[session, run, slot]
    gaps = rng.integers(3, 11, size=n_sessions)  # days between sessions, about weekly
    gaps[0] = 0  # time 0 = midnight before the first session
    start = np.cumsum(gaps) + rng.uniform(0.35, 0.7, size=n_sessions)
    seconds = run * (n_slots * _SLOT_SECONDS + _RUN_GAP_SECONDS) + slot * _SLOT_SECONDS
    return run + 1, trial_in_run, start[session] + seconds / _SECONDS_PER_DAY


def responses_table(
    rng: np.random.Generator,
    design: dict[str, np.ndarray],
    subject: int,
    trials_per_session: int,
) -> pd.DataFrame:
    """The ``responses.tsv`` rows of one subject for every planned trial.

    Parameters
    ----------
    rng : numpy.random.Generator
    design : dict
        From :func:`nsdrecon.synthetic.design.make_expdesign`.
    subject : int
        1-based subject number (row of ``subjectim``).
    trials_per_session : int

    Returns
    -------
    pandas.DataFrame
        Columns :data:`RESPONSE_COLUMNS`; ``73KID`` = ``subjectim[subject-1, 10KID-1]``.
    """
    masterordering = design["masterordering"].ravel().astype(np.int64)
    n_trials = len(masterordering)
    trial = np.arange(n_trials)
    session = trial // trials_per_session
    run, trial_in_run, time = _trial_timing(rng, design["stimpattern"])

    presentations = presentation_trials(masterordering)
    repeat = np.empty(n_trials, dtype=np.int64)
    repeat[presentations] = np.arange(N_REPEATS)
    image_rows = masterordering - 1
    previous = np.where(repeat > 0, presentations[image_rows, np.maximum(repeat - 1, 0)], -1)
    is_old = repeat > 0
    is_old_current = is_old & (session[np.maximum(previous, 0)] == session)
    memory_recent = np.where(is_old, trial - previous - 1, np.nan)
    memory_first = np.where(is_old, trial - presentations[image_rows, 0] - 1, np.nan)

    p_correct = np.where(is_old, 0.5 + 0.45 * np.exp(-np.nan_to_num(memory_recent) / 800.0), 0.85)
    correct = rng.random(n_trials) < p_correct
    pressed = rng.random(n_trials) >= 0.015
    changed = pressed & (rng.random(n_trials) < 0.03)
    says_old = is_old == correct
    button = np.where(pressed, np.where(says_old, 2.0, 1.0), np.nan)
    final1 = (pressed & ~says_old).astype(np.int64)
    final2 = (pressed & says_old).astype(np.int64)

    return pd.DataFrame(
        {
            "SUBJECT": subject,
            "SESSION": session + 1,
            "RUN": run,
            "TRIAL": trial_in_run,
            "73KID": design["subjectim"][subject - 1, image_rows].astype(np.int64),
            "10KID": masterordering,
            "TIME": time,
            "ISOLD": is_old.astype(np.int64),
            "ISCORRECT": (pressed & correct).astype(np.int64),
            "RT": np.where(pressed, rng.lognormal(np.log(850.0), 0.3, n_trials), np.nan),
            "CHANGEMIND": np.where(pressed, changed.astype(float), np.nan),
            "MEMORYRECENT": memory_recent,
            "MEMORYFIRST": memory_first,
            "ISOLDCURRENT": is_old_current.astype(np.int64),
            "ISCORRECTCURRENT": (pressed & (says_old == is_old_current)).astype(np.int64),
            "TOTAL1": final1 + (changed & (final2 == 1)),
            "TOTAL2": final2 + (changed & (final1 == 1)),
            "BUTTON": button,
            "MISSINGDATA": 0,
        },
        columns=list(RESPONSE_COLUMNS),
    )
