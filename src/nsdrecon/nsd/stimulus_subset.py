"""A subject's stimuli, without NSD's whole 40 GB ``nsd_stimuli.hdf5``.

A subject sees about 10,000 of the 73,000 images. :func:`write_stimulus_subset`
reads only those rows of ``imgBrick`` from the full file, local or at a URL
(:mod:`nsdrecon.remote`: the same code path for both), into a small HDF5 file
with the same ``imgBrick`` layout plus ``nsd_id`` (the 0-based 73k index of
each row), which :func:`~nsdrecon.nsd.stimuli.read_stimuli` reads like the
full file.

When every image is one plain run of bytes in the file (a contiguous dataset,
or unfiltered chunks of one image each) the rows are fetched as byte ranges,
adjacent ones merged, ``parallel`` requests at a time; any other layout
(compressed or multi-image chunks) is read through h5py on the same source.
Rows land in ``<dest>.part`` with a per-row ``fetched`` flag, so a killed run
resumes with the rows it lacks; the file is renamed to ``dest`` when complete.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from tqdm.auto import tqdm

from ..download import RetryPolicy
from ..remote import open_bytes, open_seekable
from .expdesign import ExpDesign, trial_table
from .stimuli import IMAGE_DATASET, check_brick

logger = logging.getLogger(__name__)

MAX_MERGE = 16  # adjacent images fetched in one request at most
FLUSH_EVERY = 256  # rows between flushes of the part file's flags


@dataclass(frozen=True)
class SubsetResult:
    n_images: int
    n_fetched: int  # rows read by this call (fewer when resuming)
    bytes_read: int  # bytes read from the source, metadata included
    source_size: int
    seconds: float


def subject_images(design: ExpDesign, subject: int | str, sessions: int, trials_per_session: int = 750) -> np.ndarray:
    """Sorted 0-based nsd ids a subject saw in its first ``sessions`` sessions."""
    return np.unique(trial_table(design, subject, sessions, trials_per_session)["nsd_id"].to_numpy())


def image_byte_ranges(brick: h5py.Dataset, rows: np.ndarray) -> np.ndarray | None:
    """``(len(rows), 2)`` file offsets and lengths of whole images, or None when not plain byte runs."""
    image_bytes = int(np.prod(brick.shape[1:])) * brick.dtype.itemsize
    layout = brick.id.get_create_plist().get_layout()
    if layout == h5py.h5d.CONTIGUOUS:
        base = brick.id.get_offset()
        if base is None:  # never written
            return None
        return np.stack([base + rows * image_bytes, np.full(len(rows), image_bytes)], axis=1)
    if layout != h5py.h5d.CHUNKED or brick.chunks != (1, *brick.shape[1:]) or brick.id.get_create_plist().get_nfilters():
        return None
    offsets = {}

    def visit(info) -> None:
        offsets[info.chunk_offset[0]] = (info.byte_offset, info.size)

    brick.id.chunk_iter(visit)
    if any(int(r) not in offsets or offsets[int(r)][1] != image_bytes for r in rows):
        return None
    return np.array([offsets[int(r)] for r in rows], dtype=np.int64).reshape(-1, 2)


def _merged_requests(ranges: np.ndarray, positions: np.ndarray) -> list[tuple[int, int, list[int]]]:
    """Group images whose bytes follow each other into ``(offset, length, positions)`` requests."""
    order = np.argsort(ranges[:, 0], kind="stable")
    requests: list[tuple[int, int, list[int]]] = []
    for i in order:
        offset, length = int(ranges[i, 0]), int(ranges[i, 1])
        last = requests[-1] if requests else None
        if last and last[0] + last[1] == offset and len(last[2]) < MAX_MERGE:
            requests[-1] = (last[0], last[1] + length, [*last[2], int(positions[i])])
        else:
            requests.append((offset, length, [int(positions[i])]))
    return requests


def _open_part(part: Path, nsd_ids: np.ndarray, image_shape: tuple, source_name: str) -> h5py.File:
    """The part file for ``nsd_ids``: resumed when it holds exactly them, else created afresh."""
    if part.exists():
        try:
            f = h5py.File(part, "r+")
            if (
                np.array_equal(f["nsd_id"][:], nsd_ids)
                and f[IMAGE_DATASET].shape[1:] == image_shape
                and "fetched" in f
            ):
                logger.info("resuming %s: %d of %d images present", part, int(f["fetched"][:].sum()), len(nsd_ids))
                return f
            f.close()
            logger.warning("%s holds other images: starting afresh", part)
        except (OSError, KeyError) as e:
            logger.warning("%s is unreadable (%s): starting afresh", part, e)
        part.unlink()
    f = h5py.File(part, "w")
    f.attrs["source"] = source_name
    f.create_dataset("nsd_id", data=nsd_ids)
    f.create_dataset(IMAGE_DATASET, shape=(len(nsd_ids), *image_shape), dtype=np.uint8, chunks=(1, *image_shape))
    f.create_dataset("fetched", shape=(len(nsd_ids),), dtype=bool)
    return f


def write_stimulus_subset(
    source: str | os.PathLike,
    nsd_ids: np.ndarray,
    dest: str | os.PathLike,
    *,
    parallel: int = 8,
    policy: RetryPolicy = RetryPolicy(),
    progress: bool = True,
) -> SubsetResult:
    """Copy the ``imgBrick`` rows ``nsd_ids`` of ``source`` (path or URL) into ``dest``.

    Parameters
    ----------
    source : path or URL
        NSD's ``nsd_stimuli.hdf5`` (``imgBrick`` (n, H, W, 3) uint8).
    nsd_ids : array of int
        0-based 73k indices; stored sorted and unique.
    dest : path
        Written as ``imgBrick`` (len(ids), H, W, 3) and ``nsd_id``.
    parallel : int
        Range requests in flight at once.
    """
    start = time.monotonic()
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    nsd_ids = np.unique(np.asarray(nsd_ids, dtype=np.int64))
    src = open_bytes(source, policy, pool_size=parallel)
    try:
        with open_seekable(src) as handle, h5py.File(handle, "r") as f_src:
            brick = f_src[IMAGE_DATASET] if IMAGE_DATASET in f_src else None
            check_brick(source, f_src, brick, nsd_ids)
            image_shape = brick.shape[1:]
            with _open_part(part, nsd_ids, image_shape, str(source)) as out:
                todo = np.flatnonzero(~out["fetched"][:])
                ranges = image_byte_ranges(brick, nsd_ids[todo])
                bar = tqdm(total=len(nsd_ids), initial=len(nsd_ids) - len(todo), unit="img", desc="stimuli", disable=not progress or None)
                with bar:
                    if ranges is None:
                        logger.info("%s: images are not plain byte runs; reading them through h5py", source)
                        for n, pos in enumerate(todo):
                            out[IMAGE_DATASET][pos] = brick[nsd_ids[pos]]
                            _mark(out, [pos], n)
                            bar.update()
                    else:
                        _fetch_ranges(src, out, _merged_requests(ranges, todo), image_shape, parallel, bar)
                n_missing = int((~out["fetched"][:]).sum())
                if n_missing:
                    raise RuntimeError(f"{part}: {n_missing} images still missing after the copy")
                del out["fetched"]
    finally:
        src.close()
    os.replace(part, dest)
    result = SubsetResult(len(nsd_ids), len(todo), src.bytes_read, src.size, time.monotonic() - start)
    logger.info(
        "%s: %d images (%d read now) from %s; %d of %d source bytes read (%.2f%%) in %.1f s",
        dest, result.n_images, result.n_fetched, source, result.bytes_read, result.source_size,
        100 * result.bytes_read / max(result.source_size, 1), result.seconds,
    )
    return result


def _mark(out: h5py.File, positions: list[int], n: int) -> None:
    out["fetched"][sorted(positions)] = True
    if n % FLUSH_EVERY == 0:
        out.flush()


def _fetch_ranges(src, out: h5py.File, requests, image_shape: tuple, parallel: int, bar) -> None:
    """Fetch the merged requests ``parallel`` at a time; write each block's images as it arrives.

    At most ``2 * parallel`` blocks are in flight or waiting, so memory stays
    bounded however many images the subset has.
    """
    window = 2 * max(1, parallel)
    with ThreadPoolExecutor(max(1, parallel)) as pool:
        pending: deque = deque()
        for n, (offset, length, positions) in enumerate(requests):
            pending.append((pool.submit(src.read, offset, length), positions))
            if len(pending) >= window or n == len(requests) - 1:
                while pending and (len(pending) >= window or n == len(requests) - 1):
                    future, block_positions = pending.popleft()
                    data = np.frombuffer(future.result(), dtype=np.uint8).reshape(len(block_positions), *image_shape)
                    for k, pos in enumerate(block_positions):
                        out[IMAGE_DATASET][pos] = data[k]
                    _mark(out, block_positions, n)
                    bar.update(len(block_positions))
