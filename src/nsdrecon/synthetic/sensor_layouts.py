"""Per-subject sensor layouts of the generated EEG and MEG worlds, from the layouts MNE ships.

EEG: channel positions of MNE's ``colin27_1020`` montage (named ``standard_1020``
before MNE 1.13; 10-20/10-10 names as THINGS-EEG2 uses them), scaled to each subject's head size and jittered by
cap placement. MEG: sensors of MNE's ``CTF-275`` layout, named as THINGS-MEG's
CTF system names them (``MLO11-1609``), placed on a helmet-sized sphere and
shifted by each subject's head position.
"""

from __future__ import annotations

import mne
import numpy as np

__all__ = ["HELMET_RADIUS", "ctf_sensors", "eeg_positions", "meg_info"]

HELMET_RADIUS = 0.12  # metres
_MONTAGE = "colin27_1020"
_HEAD_SCALE_SD = 0.04
_CAP_JITTER_SD = 0.002  # metres
_HEAD_SHIFT_SD = 0.003  # metres
_CTF_SYSTEM = "1609"  # THINGS-MEG's CTF channel-name suffix


def eeg_positions(rng: np.random.Generator, ch_names: list[str]) -> np.ndarray:
    """One subject's EEG electrode positions, float32 (C, 3) in metres (x right, y anterior, z up)."""
    standard = mne.channels.make_standard_montage(_MONTAGE).get_positions()["ch_pos"]
    missing = [name for name in ch_names if name not in standard]
    if missing:
        raise ValueError(f"channels not in MNE's {_MONTAGE} montage: {missing}")
    positions = np.stack([standard[name] for name in ch_names]) * rng.normal(1.0, _HEAD_SCALE_SD)
    return (positions + rng.normal(0.0, _CAP_JITTER_SD, positions.shape)).astype(np.float32)


def ctf_sensors(rng: np.random.Generator, n_sensors: int) -> tuple[list[str], np.ndarray]:
    """``n_sensors`` CTF-275 sensors spread evenly over the layout, and one subject's positions.

    Returns
    -------
    names : list of str, length n_sensors
    positions : ndarray of float32, shape (n_sensors, 3)
        On a sphere of radius :data:`HELMET_RADIUS` (layout centre at the top), in metres, shifted by the
        subject's head position.
    """
    layout = mne.channels.read_layout("CTF-275")
    if not 3 <= n_sensors <= len(layout.names):
        raise ValueError(f"n_sensors must be within 3..{len(layout.names)}, got {n_sensors}")
    chosen = np.unique(np.linspace(0, len(layout.names) - 1, n_sensors).round().astype(int))
    names = [f"{layout.names[i].split('-')[0]}-{_CTF_SYSTEM}" for i in chosen]
    flat = layout.pos[chosen, :2] + layout.pos[chosen, 2:] / 2  # box centres in [0, 1]
    flat = (flat - flat.mean(axis=0)) / np.abs(flat - flat.mean(axis=0)).max()  # [-1, 1], nose up
    polar = np.hypot(*flat.T) * np.pi / 2  # 0 at the vertex, pi/2 at the rim
    azimuth = np.arctan2(flat[:, 1], flat[:, 0])
    positions = HELMET_RADIUS * np.stack(
        [np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth), np.cos(polar)], axis=1
    )
    return names, (positions + rng.normal(0.0, _HEAD_SHIFT_SD, 3)).astype(np.float32)


def meg_info(names: list[str], positions: np.ndarray, sfreq: float) -> mne.Info:
    """Measurement info of magnetometer channels ``names`` at ``positions`` (C, 3), radially oriented."""
    info = mne.create_info(names, sfreq, ch_types="mag")
    for channel, position in zip(info["chs"], positions):
        normal = position / np.linalg.norm(position)
        channel["loc"][:3] = position
        channel["loc"][9:12] = normal
    return info
