"""Figures of the EEG/MEG interpretability: decoding accuracy over time, and activation patterns on the sensors.

:func:`plot_temporal_decoding`: per target, two-way identification of the test images by a ridge in each
sliding window (x: the window's centre), thin lines per subject and the subjects' mean; chance is 50 %.
:func:`plot_topographies`: rows = targets, columns = time windows; each map is the decoder's activation
pattern per sensor (:func:`nsdrecon.meeg.activation_pattern`), scaled to its own maximum (the shape, not the
size, is compared), drawn by :func:`mne.viz.plot_topomap`; with several subjects the maps are each subject's
scaled map averaged over subjects.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import mne
import numpy as np
import pandas as pd
import seaborn as sns
import xarray as xr

from nsdrecon.plotting.style import FULL_WIDTH_IN, new_figure, paper_style, save_figure, set_title

__all__ = ["plot_temporal_decoding", "plot_topographies", "sensor_info"]

logger = logging.getLogger(__name__)

TARGET_LABELS = {"vae_latent": "VAE latent (low level)", "clip_image": "CLIP image", "clip_text": "CLIP text (semantic)"}


def _target_colours(targets: Sequence[str]) -> dict:
    return dict(zip(targets, sns.color_palette("colorblind", n_colors=max(len(targets), 1))))


def plot_temporal_decoding(
    scores: pd.DataFrame, out_png: str | os.PathLike, out_pdf: str | os.PathLike, *, title_note: str = ""
) -> None:
    """Decoding accuracy over time per target: two-way identification (%, chance 50) and feature-wise r (chance 0).

    ``scores``: ``subject, target, centre, two_way, feature_r``.
    """
    targets = list(dict.fromkeys(scores["target"]))
    subjects = list(dict.fromkeys(scores["subject"]))
    colours = _target_colours(targets)
    panels = (("two_way", 100, "two-way identification (%)", 50), ("feature_r", 1, "feature-wise r", 0))
    with paper_style():
        fig = new_figure(FULL_WIDTH_IN, 3.4)
        axes = fig.subplots(1, 2)
        for ax, (column, scale, label, chance) in zip(axes, panels):
            for target in targets:
                rows = scores[scores["target"] == target]
                if len(subjects) > 1:
                    for _, one in rows.groupby("subject"):
                        ax.plot(one["centre"], scale * one[column], color=colours[target], lw=0.5, alpha=0.35)
                mean = rows.groupby("centre")[column].mean()
                peak = mean.idxmax()
                ax.plot(mean.index, scale * mean.values, color=colours[target], lw=1.6,
                        label=f"{TARGET_LABELS.get(target, target)}: peak {1000 * peak:.0f} ms")  # fmt: skip
                ax.axvline(peak, color=colours[target], lw=0.6, ls=":")
            ax.axhline(chance, color="grey", lw=0.6, ls="--")
            ax.axvline(0, color="black", lw=0.5)
            ax.set_xlabel("window centre (s from stimulus onset)")
            ax.set_ylabel(label)
            ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=6)  # below: no curve hidden
        who = f"mean of {len(subjects)} subjects (thin: each)" if len(subjects) > 1 else subjects[0]
        set_title(fig, f"Decoding over time, sliding-window ridge on the test images; {who}", title_note)
        save_figure(fig, out_png, out_pdf)


def sensor_info(channels: Sequence[str], positions: np.ndarray, ch_type: str) -> mne.Info:
    """Measurement info of ``channels`` at ``positions`` (C, 3) in metres: EEG as a head-frame montage, MEG
    magnetometers radially oriented."""
    info = mne.create_info(list(channels), 100.0, ch_types=ch_type)
    if ch_type == "eeg":
        montage = mne.channels.make_dig_montage(dict(zip(channels, positions)), coord_frame="head")
        info.set_montage(montage, on_missing="ignore")
    else:
        for ch, pos in zip(info["chs"], positions):
            ch["loc"][:3] = pos
            ch["loc"][9:12] = pos / np.linalg.norm(pos)
    return info


def _scaled(pattern: np.ndarray) -> np.ndarray:
    top = np.nanmax(pattern, axis=-1, keepdims=True)
    return pattern / np.where(top > 0, top, 1)


def plot_topographies(
    patterns: Sequence[xr.Dataset], out_png: str | os.PathLike, out_pdf: str | os.PathLike, *, title_note: str = ""
) -> None:
    """Activation-pattern maps, targets x windows, of one subject or averaged over subjects (see the module)."""
    first = patterns[0]
    channels = list(first["channel"].to_numpy())
    for ds in patterns[1:]:
        if list(ds["channel"].to_numpy()) != channels:
            raise ValueError(f"subjects {first.attrs['subject']} and {ds.attrs['subject']} have different channels")
    maps = np.mean([_scaled(ds["pattern"].to_numpy()) for ds in patterns], axis=0)
    accuracy = np.mean([ds["two_way"].to_numpy() for ds in patterns], axis=0)
    positions = np.mean([ds["position"].to_numpy() for ds in patterns], axis=0)
    info = sensor_info(channels, positions, first.attrs["ch_type"])
    targets = list(first["target"].to_numpy())
    starts, ends = first["window_start"].to_numpy(), first["window_end"].to_numpy()
    with paper_style():
        fig = new_figure(1.0 + 1.5 * len(starts), 0.5 + 1.55 * len(targets))
        grid = fig.add_gridspec(len(targets), len(starts) + 1, width_ratios=[*([1] * len(starts)), 0.06])
        image = None
        for i, target in enumerate(targets):
            for j in range(len(starts)):
                ax = fig.add_subplot(grid[i, j])
                image, _ = mne.viz.plot_topomap(
                    maps[i, j], info, axes=ax, show=False, cmap="viridis", vlim=(0, 1), contours=4, sensors=True
                )
                if i == 0:
                    ax.set_title(f"{1000 * starts[j]:.0f}-{1000 * ends[j]:.0f} ms")
                ax.set_xlabel(f"two-way {100 * accuracy[i, j]:.0f} %", fontsize=6)
                if j == 0:
                    ax.set_ylabel(TARGET_LABELS.get(target, target))
        cbar = fig.colorbar(image, cax=fig.add_subplot(grid[:, -1]))
        cbar.set_label("activation pattern (share of the map's maximum)")
        who = f"mean of {len(patterns)} subjects" if len(patterns) > 1 else str(first.attrs["subject"])
        kind = "EEG electrodes" if first.attrs["ch_type"] == "eeg" else "MEG sensors"
        set_title(fig, f"Where each target is decoded from, per time window ({kind}); {who}", title_note)
        save_figure(fig, out_png, out_pdf)
