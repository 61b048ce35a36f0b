"""Stimulus tables, behaviour, images and COCO captions (``nsd.md`` sections 3c, 3d, 4).

Indexing conventions: ``nsdId`` in ``nsd_stim_info_merged.csv`` and the first
axis of ``imgBrick`` are 0-based 73k indices (``nsd_id`` everywhere in this
package); ``responses.tsv`` stores 1-based ``73KID``/``10KID``; captions are
found through the image's ``cocoId`` in the COCO split named by ``cocoSplit``.
"""

from __future__ import annotations

import hashlib
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

from ..atomic import write_text
from ..fileformats import open_hdf5

logger = logging.getLogger(__name__)

__all__ = ["StimulusImages", "read_stim_info", "read_responses", "read_stimuli", "read_captions", "write_caption_table"]

STIM_INFO_COLUMNS = ("cocoId", "cocoSplit", "nsdId", "shared1000")
RESPONSES_COLUMNS = ("SUBJECT", "SESSION", "RUN", "TRIAL", "73KID", "10KID")
# largest value of each 1-based responses.tsv index (nsd.md 3d: 40 sessions of 12 runs of up to 63 trials)
RESPONSES_MAX = {"SUBJECT": 8, "SESSION": 40, "RUN": 12, "TRIAL": 63, "73KID": 73000, "10KID": 10000}
COCO_SPLITS = ("train2017", "val2017")
IMAGE_DATASET = "imgBrick"
SUBSET_IDS = "nsd_id"  # subset files: the 0-based nsd id of each imgBrick row, sorted


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
        Missing columns, or an index column outside its 1-based range
        (:data:`RESPONSES_MAX`); the message names the first bad row.
    """
    table = pd.read_csv(path, sep="\t")
    _require_columns(path, table, RESPONSES_COLUMNS)
    for column in RESPONSES_COLUMNS:
        values = table[column].to_numpy()
        bad = np.flatnonzero((values < 1) | (values > RESPONSES_MAX[column]))
        if len(bad):
            raise ValueError(
                f"{path}: '{column}' must lie in 1..{RESPONSES_MAX[column]} (1-based), "
                f"but data row {bad[0] + 1} holds {values[bad[0]]} ({len(bad)} such rows)"
            )
    return table


def check_brick(path, handle: h5py.File, brick: h5py.Dataset | None, nsd_ids: np.ndarray) -> None:
    """Fail with the file name unless ``brick`` is uint8 (n, H, W, 3) and a full file covers ``nsd_ids``."""
    if brick is None:
        raise ValueError(f"{path}: no '{IMAGE_DATASET}' dataset; found {list(handle)}")
    if brick.ndim != 4 or brick.shape[3] != 3 or brick.dtype != np.uint8:
        raise ValueError(f"{path}: '{IMAGE_DATASET}' must be uint8 (n_images, H, W, 3), found {brick.dtype} {brick.shape}")
    if SUBSET_IDS not in handle and nsd_ids.size and (nsd_ids.min() < 0 or nsd_ids.max() >= brick.shape[0]):
        raise ValueError(
            f"{path}: nsd ids must be 0-based in 0..{brick.shape[0] - 1}, found {nsd_ids.min()}..{nsd_ids.max()}"
        )


def _stimulus_rows(path, handle: h5py.File, nsd_ids: np.ndarray) -> np.ndarray:
    """Row of each id in ``handle``'s ``imgBrick``; -1 where a subset file lacks it."""
    if SUBSET_IDS not in handle:
        return nsd_ids.copy()
    held = handle[SUBSET_IDS][:]
    rows = np.searchsorted(held, nsd_ids).clip(max=len(held) - 1)
    return np.where(held[rows] == nsd_ids, rows, -1) if len(held) else np.full(len(nsd_ids), -1)


def read_stimuli(
    path: str | os.PathLike | Sequence[str | os.PathLike], nsd_ids: Sequence[int] | np.ndarray, batch_size: int = 256
) -> np.ndarray:
    """Read stimulus images in the order of ``nsd_ids`` from NSD's file or subject subsets of it.

    Parameters
    ----------
    path : path-like or sequence of path-like
        ``nsd_stimuli.hdf5`` (``imgBrick`` (73000, H, W, 3) uint8, row = nsd id)
        and/or subset files written by
        :func:`~nsdrecon.nsd.stimulus_subset.write_stimulus_subset`
        (``imgBrick`` rows listed by a sorted ``nsd_id``). Each id is read from
        the first file that holds it.
    nsd_ids : sequence of int, shape (N,)
        0-based 73k indices, any order, repeats allowed.
    batch_size : int, default=256
        Unique images read per HDF5 call.

    Returns
    -------
    ndarray of uint8, shape (N, H, W, 3)
    """
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    nsd_ids = np.asarray(nsd_ids, dtype=np.int64)
    unique_ids, inverse = np.unique(nsd_ids, return_inverse=True)
    images = None
    todo = np.ones(len(unique_ids), dtype=bool)
    for file in paths:
        with open_hdf5(file) as handle:
            brick = handle.get(IMAGE_DATASET)
            check_brick(file, handle, brick, unique_ids if len(paths) == 1 else np.empty(0, np.int64))
            if images is None:
                images = np.empty((len(nsd_ids), *brick.shape[1:]), dtype=np.uint8)
            elif images.shape[1:] != brick.shape[1:]:
                raise ValueError(f"{file}: images of shape {brick.shape[1:]}, other files {images.shape[1:]}")
            rows = _stimulus_rows(file, handle, unique_ids)
            here = np.flatnonzero(todo & (rows >= 0) & (rows < brick.shape[0]))
            _read_rows(brick, rows[here], here, inverse, images, batch_size)
            todo[here] = False
    if todo.any():
        raise ValueError(f"nsd ids {unique_ids[todo][:10].tolist()} ({todo.sum()} in all) are in none of {paths}")
    return images


def _read_rows(brick: h5py.Dataset, rows: np.ndarray, wanted: np.ndarray, inverse: np.ndarray, images, batch_size) -> None:
    """Copy ``brick[rows]`` (increasing) to every position of ``images`` asking for unique id ``wanted``."""
    # h5py fancy indexing needs increasing indices: read sorted rows in batches
    # and scatter each batch to every position that asked for it.
    slot = np.full(inverse.max(initial=-1) + 1, -1)
    slot[wanted] = np.arange(len(wanted))
    positions = np.flatnonzero(slot[inverse] >= 0)
    which = slot[inverse[positions]]
    for start in tqdm(range(0, len(rows), batch_size), desc="stimuli", disable=None):
        block = brick[rows[start : start + batch_size]]
        sel = (which >= start) & (which < start + batch_size)
        images[positions[sel]] = block[which[sel] - start]


class StimulusImages:
    """Lazy ``(len(nsd_ids), H, W, 3)`` uint8 array of stimuli: a slice reads only its images.

    For code that takes an array of images batch by batch (e.g.
    :func:`~nsdrecon.features.compute_stimulus_features`) when the images live
    in one or several stimulus files.
    """

    def __init__(self, paths: str | os.PathLike | Sequence[str | os.PathLike], nsd_ids: Sequence[int] | np.ndarray):
        self.paths = paths
        self.nsd_ids = np.asarray(nsd_ids, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.nsd_ids)

    def __getitem__(self, index) -> np.ndarray:
        return read_stimuli(self.paths, np.atleast_1d(self.nsd_ids[index]))

    def __repr__(self) -> str:
        """Names the files (path, size, mtime) and the ids, so a digest of it changes when they do."""
        paths = [self.paths] if isinstance(self.paths, (str, os.PathLike)) else self.paths
        files = [f"{Path(p).resolve()}:{Path(p).stat().st_size}:{Path(p).stat().st_mtime_ns}" for p in paths]
        ids = hashlib.sha256(self.nsd_ids.tobytes()).hexdigest()[:16]
        return f"StimulusImages({files}, {len(self.nsd_ids)} ids sha256 {ids})"


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


CAPTION_TABLE_COLUMNS = ["nsd_id", "cocoId", "cocoSplit", "caption"]


def _caption_tables(annotations) -> list[Path]:
    """The given paths when they are caption tables (``.tsv``), else []."""
    paths = [annotations] if isinstance(annotations, (str, os.PathLike)) else list(annotations)
    return [Path(p) for p in paths] if paths and all(str(p).endswith(".tsv") for p in paths) else []


def _captions_from_tables(tables: list[Path], rows: pd.DataFrame) -> list[list[str]]:
    """Captions of ``rows`` (stim-info rows) from caption tables, checking their COCO ids."""
    frames = []
    for path in tables:
        table = pd.read_csv(path, sep="\t", keep_default_na=False)
        _require_columns(path, table, CAPTION_TABLE_COLUMNS)
        frames.append(table.assign(file=str(path)))
    table = pd.concat(frames).drop_duplicates(["nsd_id", "caption"])
    by_id = {int(k): g for k, g in table.groupby("nsd_id", sort=False)}
    result = []
    for nsd_id, coco_id in zip(rows["nsdId"].tolist(), rows["cocoId"].tolist()):
        group = by_id.get(int(nsd_id))
        if group is None:
            raise ValueError(f"no caption of nsd id {nsd_id} in the caption tables {[str(t) for t in tables]}")
        if int(group["cocoId"].iloc[0]) != int(coco_id):
            raise ValueError(
                f"{group['file'].iloc[0]}: nsd id {nsd_id} has COCO id {group['cocoId'].iloc[0]}, "
                f"nsd_stim_info_merged.csv says {coco_id}; the table is stale, delete it"
            )
        result.append(group["caption"].tolist())
    return result


def write_caption_table(path: str | os.PathLike, annotations, stim_info: pd.DataFrame, nsd_ids) -> int:
    """Cache the COCO captions of ``nsd_ids`` as a TSV (one row per caption); returns the row count."""
    nsd_ids = np.unique(np.asarray(nsd_ids, dtype=np.int64))
    captions = read_captions(annotations, stim_info, nsd_ids)
    rows = stim_info.iloc[nsd_ids]
    table = pd.DataFrame(
        [
            (nsd_id, coco_id, split, caption)
            for nsd_id, coco_id, split, texts in zip(nsd_ids, rows["cocoId"], rows["cocoSplit"], captions)
            for caption in texts
        ],
        columns=CAPTION_TABLE_COLUMNS,
    )
    table["caption"] = table["caption"].str.replace(r"\s+", " ", regex=True)
    write_text(path, table.to_csv(sep="\t", index=False))
    return len(table)


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
        the caption files themselves, or caption tables (``.tsv``) written by
        :func:`write_caption_table` (checked against ``stim_info``'s COCO ids).
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
    tables = _caption_tables(annotations)
    if tables:
        return _captions_from_tables(tables, rows)
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
