"""Feature files: the HDF5 files of stimulus features, written resumably row batch by row batch and read by ``nsd_id``.

Torch-free on purpose: the decoders and the oracle read these files without the
diffusion stack; :mod:`nsdrecon.features` computes what goes into them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

import h5py
import numpy as np
from tqdm.auto import tqdm

from nsdrecon.nsd.stimuli import read_stimuli
from nsdrecon.resumable import RowWriter, inputs_digest

logger = logging.getLogger(__name__)

__all__ = ["FEATURE_NAMES", "layer_name", "layer_number", "read_features", "write_feature_rows"]

FEATURE_NAMES = ("vae_latent", "clip_image", "clip_text")
"""Datasets of a HAVIR feature file besides ``nsd_id``."""


def layer_name(layer: int) -> str:
    """Feature name of a CLIP vision block's features (``layer02`` for block 2; its dataset is ``clip_layer02``)."""
    return f"layer{layer:02d}"


def layer_number(name: str) -> int | None:
    """The block a feature name of :func:`layer_name` stands for; None for other features (``embedding``)."""
    return int(name.removeprefix("layer")) if name.startswith("layer") else None


def write_feature_rows(
    out_path: str | os.PathLike,
    images_uint8: Any | str | os.PathLike,
    captions: Sequence[Sequence[str]],
    nsd_ids: Sequence[int] | np.ndarray,
    shapes: dict[str, tuple[int, ...]],
    encode: Callable[[np.ndarray, Sequence[Sequence[str]], np.ndarray], dict[str, np.ndarray]],
    provenance: dict[str, Any],
    batch_size: int,
) -> None:
    """Encode the stimuli batch by batch into the float32 datasets ``shapes`` names (resumable, see above).

    ``encode(images, captions, nsd_ids)`` maps one batch to one array per dataset.
    """
    nsd_ids = np.asarray(nsd_ids, dtype=np.int64)
    n_images = len(nsd_ids)
    from_file = isinstance(images_uint8, (str, os.PathLike))
    if not from_file and len(images_uint8) != n_images:
        raise ValueError(f"{out_path}: expected {n_images} images (one per nsd_id), got {len(images_uint8)}")
    if len(captions) != n_images:
        raise ValueError(f"{out_path}: expected {n_images} caption lists (one per nsd_id), got {len(captions)}")
    if len(np.unique(nsd_ids)) != n_images:
        raise ValueError(f"{out_path}: nsd_ids must be unique; repeated: {_repeated(nsd_ids)}")
    rows = {name: (tuple(shape), "float32") for name, shape in shapes.items()}
    # a path or an in-memory array counts by content; other array-likes (h5py datasets) by their name
    attrs = {**provenance, "inputs_digest": inputs_digest(images_uint8, [list(c) for c in captions])}
    with RowWriter(out_path, n_images, rows, {"nsd_id": nsd_ids}, attrs) as out:
        starts = range(out.done, n_images, batch_size)  # a rerun continues after the last finished batch
        for start in tqdm(starts, desc="stimulus features", unit="batch", disable=None):
            stop = min(start + batch_size, n_images)
            if from_file:
                images = read_stimuli(images_uint8, nsd_ids[start:stop])
            else:
                images = np.asarray(images_uint8[start:stop])
            out.write(start, encode(images, captions[start:stop], nsd_ids[start:stop]))
        out.finish()
    logger.info("wrote features of %d stimuli to %s", n_images, out_path)


def read_features(
    path: str | os.PathLike, names: Sequence[str], nsd_ids: Sequence[int] | np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Read feature sets from a file written by :func:`compute_stimulus_features`.

    Parameters
    ----------
    path : str or path
    names : sequence of str
        Datasets to read, from ``nsd_id`` and :data:`FEATURE_NAMES`.
    nsd_ids : sequence of int, optional
        Rows to return, in this order (repeats allowed); default: all rows in
        file order.

    Returns
    -------
    dict of str to ndarray
        One array per name, first axis in the order of ``nsd_ids``.

    Raises
    ------
    KeyError
        An asked-for dataset is not in the file.
    ValueError
        Some ``nsd_ids`` are not in the file (all missing ids are listed).
    """
    with h5py.File(path, "r") as h5:
        missing_names = [name for name in names if name not in h5]
        if missing_names:
            raise KeyError(f"{path}: no dataset {missing_names}; datasets in the file: {sorted(h5)}")
        file_ids = h5["nsd_id"][()]
        if nsd_ids is None:
            return {name: h5[name][()] for name in names}
        nsd_ids = np.asarray(nsd_ids, dtype=np.int64)
        order = np.argsort(file_ids, kind="stable")
        position = np.searchsorted(file_ids[order], nsd_ids)
        position = np.minimum(position, len(file_ids) - 1)
        found = file_ids[order][position] == nsd_ids
        if not found.all():
            missing = np.unique(nsd_ids[~found])
            raise ValueError(f"{path}: {len(missing)} requested nsd_ids are not in the file: {missing.tolist()}")
        rows = order[position]
        unique_rows, inverse = np.unique(rows, return_inverse=True)  # h5py reads increasing indices only
        return {name: h5[name][unique_rows][inverse] for name in names}


def _repeated(ids: np.ndarray) -> list[int]:
    values, counts = np.unique(ids, return_counts=True)
    return values[counts > 1].tolist()
