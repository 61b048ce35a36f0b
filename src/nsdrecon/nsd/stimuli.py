"""Stimulus tables, behaviour, images and COCO captions (``nsd.md`` sections 3c, 3d, 4).

Indexing conventions: ``nsdId`` in ``nsd_stim_info_merged.csv`` and the first
axis of ``imgBrick`` are 0-based 73k indices (``nsd_id`` everywhere in this
package); ``responses.tsv`` stores 1-based ``73KID``/``10KID``; captions are
found through the image's ``cocoId`` in the COCO split named by ``cocoSplit``.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from tqdm import tqdm

logger = logging.getLogger(__name__)

__all__ = ["read_stim_info", "read_responses", "read_stimuli", "read_captions"]

STIM_INFO_COLUMNS = ("cocoId", "cocoSplit", "nsdId", "shared1000")
RESPONSES_COLUMNS = ("SUBJECT", "SESSION", "RUN", "TRIAL", "73KID", "10KID")
COCO_SPLITS = ("train2017", "val2017")
IMAGE_DATASET = "imgBrick"


def _require_columns(path: os.PathLike, table: pd.DataFrame, required: Sequence[str]) -> None:
    missing = [column for column in required if column not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {list(table.columns)}")


def read_stim_info(path: str | os.PathLike) -> pd.DataFrame:
    """Read ``nsd_stim_info_merged.csv``.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    pandas.DataFrame
        One row per 73k image, row ``i`` has ``nsdId == i`` (0-based); at least
        ``cocoId``, ``cocoSplit``, ``nsdId``, ``shared1000``.

    Raises
    ------
    ValueError
        Missing columns, ``nsdId`` not equal to the row number (e.g. 1-based),
        or a ``cocoSplit`` other than ``train2017``/``val2017``.
    """
    table = pd.read_csv(path, index_col=0)
    _require_columns(path, table, STIM_INFO_COLUMNS)
    rows = np.arange(len(table))
    if not np.array_equal(table["nsdId"].to_numpy(), rows):
        first = int(np.flatnonzero(table["nsdId"].to_numpy() != rows)[0])
        raise ValueError(
            f"{path}: 'nsdId' must equal the 0-based row number; row {first} has nsdId {table['nsdId'].iloc[first]}"
        )
    splits = set(table["cocoSplit"].unique()) - set(COCO_SPLITS)
    if splits:
        raise ValueError(f"{path}: 'cocoSplit' must be one of {list(COCO_SPLITS)}, found {sorted(splits)}")
    return table


def read_responses(path: str | os.PathLike) -> pd.DataFrame:
    """Read a subject's ``behav/responses.tsv`` (one row per stimulus trial).

    Returns
    -------
    pandas.DataFrame
        The file's columns, at least ``SUBJECT, SESSION, RUN, TRIAL, 73KID, 10KID``
        (all 1-based).

    Raises
    ------
    ValueError
        Missing columns, or an index column holding values below 1.
    """
    table = pd.read_csv(path, sep="\t")
    _require_columns(path, table, RESPONSES_COLUMNS)
    for column in RESPONSES_COLUMNS:
        low = table[column].min()
        if low < 1:
            raise ValueError(f"{path}: '{column}' is 1-based but holds {low}")
    return table


def read_stimuli(path: str | os.PathLike, nsd_ids: Sequence[int] | np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Read stimulus images from ``nsd_stimuli.hdf5`` in the order of ``nsd_ids``.

    Parameters
    ----------
    path : path-like
        File with ``imgBrick`` of shape (n_images, H, W, 3) uint8.
    nsd_ids : sequence of int, shape (N,)
        0-based 73k indices, any order, repeats allowed.
    batch_size : int, default=256
        Unique images read per HDF5 call.

    Returns
    -------
    ndarray of uint8, shape (N, H, W, 3)
    """
    nsd_ids = np.asarray(nsd_ids, dtype=np.int64)
    with h5py.File(path, "r") as handle:
        if IMAGE_DATASET not in handle:
            raise ValueError(f"{path}: no '{IMAGE_DATASET}' dataset; found {list(handle)}")
        brick = handle[IMAGE_DATASET]
        if brick.ndim != 4 or brick.shape[3] != 3 or brick.dtype != np.uint8:
            raise ValueError(
                f"{path}: '{IMAGE_DATASET}' must be uint8 (n_images, H, W, 3), found {brick.dtype} {brick.shape}"
            )
        if nsd_ids.size and (nsd_ids.min() < 0 or nsd_ids.max() >= brick.shape[0]):
            raise ValueError(
                f"{path}: nsd ids must be 0-based in 0..{brick.shape[0] - 1}, "
                f"found {nsd_ids.min()}..{nsd_ids.max()}"
            )
        # h5py fancy indexing needs increasing indices: read sorted unique ids in
        # batches and scatter each batch to every position that asked for it.
        unique_ids, inverse = np.unique(nsd_ids, return_inverse=True)
        positions = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[positions], np.arange(0, len(unique_ids) + batch_size, batch_size))
        images = np.empty((len(nsd_ids), *brick.shape[1:]), dtype=np.uint8)
        for batch, start in enumerate(tqdm(range(0, len(unique_ids), batch_size), desc="stimuli", disable=None)):
            block = brick[unique_ids[start : start + batch_size]]
            targets = positions[bounds[batch] : bounds[batch + 1]]
            images[targets] = block[inverse[targets] - start]
    return images


def _caption_files(annotations: str | os.PathLike | Sequence[str | os.PathLike]) -> dict[str, Path]:
    """Map each COCO split to its ``captions_<split>.json`` from a folder or a list of files."""
    if isinstance(annotations, (str, os.PathLike)) and Path(annotations).is_dir():
        return {split: Path(annotations) / f"captions_{split}.json" for split in COCO_SPLITS}
    paths = [Path(annotations)] if isinstance(annotations, (str, os.PathLike)) else [Path(p) for p in annotations]
    files = {}
    for path in paths:
        split = path.name.removeprefix("captions_").removesuffix(".json")
        if split not in COCO_SPLITS:
            raise ValueError(f"caption file name must be captions_<split>.json with split in {COCO_SPLITS}: {path}")
        files[split] = path
    return files


def _load_captions(path: Path) -> dict[int, list[str]]:
    """COCO caption file -> ``{image_id: [caption, ...]}`` in file order."""
    if not path.exists():
        raise FileNotFoundError(f"COCO caption file not found: {path}")
    content = json.loads(path.read_text())
    if "annotations" not in content:
        raise ValueError(f"{path}: not a COCO caption file (no 'annotations'); keys {list(content)}")
    captions: dict[int, list[str]] = defaultdict(list)
    for annotation in content["annotations"]:
        captions[int(annotation["image_id"])].append(annotation["caption"].strip())
    return captions


def read_captions(
    annotations: str | os.PathLike | Sequence[str | os.PathLike],
    stim_info: pd.DataFrame,
    nsd_ids: Sequence[int] | np.ndarray,
) -> list[list[str]]:
    """COCO captions of NSD images.

    Parameters
    ----------
    annotations : path-like or sequence of path-like
        The ``annotations`` folder holding ``captions_{train2017,val2017}.json``,
        or the caption files themselves.
    stim_info : pandas.DataFrame
        From :func:`read_stim_info` (row = 0-based nsd id).
    nsd_ids : sequence of int, shape (N,)
        0-based 73k indices.

    Returns
    -------
    list of list of str
        ``N`` lists of stripped captions (usually 5), in the order of ``nsd_ids``.

    Raises
    ------
    ValueError
        An image has no caption in its split's file (names nsd id, COCO id and file).
    """
    nsd_ids = np.asarray(nsd_ids, dtype=np.int64)
    rows = stim_info.iloc[nsd_ids]
    files = _caption_files(annotations)
    needed = sorted(set(rows["cocoSplit"]))
    missing_splits = [split for split in needed if split not in files]
    if missing_splits:
        raise ValueError(f"no caption file given for COCO split(s) {missing_splits}; given {sorted(files)}")
    by_split = {split: _load_captions(files[split]) for split in needed}
    result = []
    for nsd_id, coco_id, split in zip(nsd_ids.tolist(), rows["cocoId"].tolist(), rows["cocoSplit"].tolist()):
        captions = by_split[split].get(int(coco_id))
        if not captions:
            raise ValueError(f"{files[split]}: no caption for nsd id {nsd_id} (COCO image {coco_id})")
        result.append(list(captions))
    return result
