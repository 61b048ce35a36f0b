"""Inputs of the figure rules that read pipeline files; no deep-learning imports (figures run in the data env)."""

from __future__ import annotations

import numpy as np

from ..h5io import load_arrays
from ..nsd import read_stimuli

__all__ = ["load_reconstructions", "reconstruction_panel"]


def load_reconstructions(path) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (N,H,W,3), nsd_ids (N,))`` of a reconstruction file."""
    arrays, _ = load_arrays(path, ["images", "nsd_id"])
    return arrays["images"], arrays["nsd_id"]


def reconstruction_panel(stimuli, recon_paths: dict, n_images: int = 8):
    """The first ``n_images`` test ids all methods reconstructed, their stimuli, and each method's images.

    Returns
    -------
    ids : int array (n,), stimuli : uint8 (n, H, W, 3), recons : method -> uint8 (n, h, w, 3)
    """
    loaded = {m: load_reconstructions(p) for m, p in recon_paths.items()}
    common = np.asarray(sorted(set.intersection(*(set(ids.tolist()) for _, ids in loaded.values())))[:n_images])
    recons = {}
    for method, (images, ids) in loaded.items():
        row = {int(i): k for k, i in enumerate(ids)}
        recons[method] = images[[row[int(i)] for i in common]]
    return common, read_stimuli(stimuli, common), recons
