"""Row-by-row HDF5 outputs that survive a killed job: a rerun keeps the rows already written.

Stimulus features and reconstructions take hours at NSD scale. Their rows are
written in order to ``<output>.partial.h5`` beside the output (Snakemake does
not know that name, so it survives a failed or killed job), with the number of
finished rows and a fingerprint of the settings as attributes. A rerun with
the same fingerprint continues after the last finished row; a different
fingerprint (another model, other settings or other ids) starts over.
:meth:`RowWriter.finish` renames the file into place, so the output appears
only complete.

A write can fail without the writer hearing of it (a full disk: HDF5 may
report the failed chunk write only from an object's destructor, which Python
prints and ignores). So every row's SHA-256 is stored beside it, and the rows
on disk are read back and checked against them when a run resumes (a bad row
and all after it are redone) and before the rename (a bad row fails the job,
naming the file). Write errors that do surface are raised with the file name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["RowWriter", "inputs_digest"]

DONE, FINGERPRINT = "rows_done", "settings_fingerprint"
ROW_DATASETS = "row_datasets"
DIGESTS = "row_sha256"  # in the partial file only: per row, the digest of every row-wise dataset's bytes
VERIFY_BLOCK = 64  # rows read back at once when verifying


def _row_digests(arrays: Mapping[str, np.ndarray], dtypes: Mapping[str, np.dtype]) -> np.ndarray:
    """(n, 32) uint8: per row, SHA-256 over the rows of ``arrays`` (sorted by name) as stored (``dtypes``)."""
    names = sorted(dtypes)
    n = len(arrays[names[0]])
    out = np.empty((n, 32), np.uint8)
    cast = {name: np.ascontiguousarray(arrays[name], dtype=dtypes[name]) for name in names}
    for row in range(n):
        digest = hashlib.sha256()
        for name in names:
            digest.update(cast[name][row].tobytes())
        out[row] = np.frombuffer(digest.digest(), np.uint8)
    return out


def _verified_rows(path: Path, done: int) -> int:
    """How many leading rows of the partial file ``path``, of the ``done`` recorded, match their digests on disk."""
    with h5py.File(path, "r") as f:
        stored = f[DIGESTS]
        datasets = {name: f[name] for name in json.loads(f.attrs[ROW_DATASETS])}
        dtypes = {name: ds.dtype for name, ds in datasets.items()}
        for start in range(0, done, VERIFY_BLOCK):
            stop = min(done, start + VERIFY_BLOCK)
            got = _row_digests({name: ds[start:stop] for name, ds in datasets.items()}, dtypes)
            bad = np.flatnonzero((got != stored[start:stop]).any(axis=1))
            if bad.size:
                return start + int(bad[0])
    return done


def _fingerprint(settings: Mapping[str, Any], fixed: Mapping[str, np.ndarray]) -> str:
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for name in sorted(fixed):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(fixed[name]).tobytes())
    return digest.hexdigest()


def inputs_digest(*inputs: Any) -> str:
    """A digest of what a resumable output is computed from, for its ``attrs``.

    Arrays count by content, existing files by path, size and modification
    time (a changed input file restarts the output), anything else by its JSON.
    """
    digest = hashlib.sha256()
    for item in inputs:
        if isinstance(item, np.ndarray):
            digest.update(np.ascontiguousarray(item).tobytes())
        elif isinstance(item, (str, os.PathLike)) and Path(item).is_file():
            stat = Path(item).stat()
            digest.update(f"{Path(item).resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        else:
            digest.update(json.dumps(item, sort_keys=True, default=str).encode())
    return digest.hexdigest()


class RowWriter:
    """Write ``n_rows`` rows of named arrays to ``out_path`` across interrupted runs.

    Parameters
    ----------
    out_path : str or path
        Final HDF5 file.
    n_rows : int
        Rows every row-wise dataset will hold.
    rows : mapping of name to (row shape, dtype)
        The row-wise datasets (chunked one row at a time).
    fixed : mapping of name to array
        Datasets written whole at the start (e.g. ``nsd_id``); part of the
        fingerprint.
    attrs : mapping
        File attributes (JSON-encoded if not scalar); part of the fingerprint,
        so they should name everything the rows depend on (settings, and an
        :func:`inputs_digest` of the inputs).
    """

    def __init__(
        self,
        out_path: str | os.PathLike,
        n_rows: int,
        rows: Mapping[str, tuple[tuple[int, ...], Any]],
        fixed: Mapping[str, np.ndarray],
        attrs: Mapping[str, Any],
    ) -> None:
        self.out_path = Path(out_path)
        self.partial = self.out_path.with_name(self.out_path.name + ".partial.h5")
        self.n_rows = n_rows
        fingerprint = _fingerprint({"n_rows": n_rows, "rows": {k: [list(s), str(np.dtype(d))] for k, (s, d) in rows.items()}, **attrs}, fixed)
        self.file = self._open(fingerprint, rows, fixed, attrs)
        # held open, so a failed chunk write surfaces at flush() instead of in a destructor
        self._datasets = {name: self.file[name] for name in (*rows, DIGESTS)}
        self._dtypes = {name: self._datasets[name].dtype for name in rows}

    @property
    def done(self) -> int:
        """Rows already written (continue from here)."""
        return int(self.file.attrs[DONE])

    def write(self, start: int, arrays: Mapping[str, np.ndarray]) -> None:
        """Write rows ``start:start+len`` of every row-wise dataset; ``start`` must equal :attr:`done`.

        Raises ``OSError`` naming the file when the write or its flush fails
        (the rows before ``start`` stay, for the next run).
        """
        if start != self.done:
            raise ValueError(f"{self.partial}: rows must be written in order; expected row {self.done}, got {start}")
        if set(arrays) != set(self._dtypes):
            raise ValueError(f"{self.partial}: a write needs every row-wise dataset {sorted(self._dtypes)}, got {sorted(arrays)}")
        lengths = {len(value) for value in arrays.values()}
        if len(lengths) != 1:
            raise ValueError(f"{self.partial}: arrays of one write disagree on the row count: {sorted(lengths)}")
        stop = start + lengths.pop()
        try:
            for name, value in arrays.items():
                self._datasets[name][start:stop] = value
            self._datasets[DIGESTS][start:stop] = _row_digests(arrays, self._dtypes)
            self.file.flush()
            self.file.attrs[DONE] = stop
            self.file.flush()
        except (OSError, RuntimeError) as error:
            raise OSError(
                f"{self.partial}: writing rows {start}..{stop - 1} failed ({error}); is the disk full? "
                f"Rows before {start} are kept: rerun when the write can succeed."
            ) from error

    def finish(self) -> None:
        """Check every row is written and reads back as written, then move the file into place."""
        done = self.done
        self.close()
        if done != self.n_rows:
            raise RuntimeError(f"{self.partial}: {done} of {self.n_rows} rows written; cannot finish")
        good = _verified_rows(self.partial, done)
        if good != done:
            with h5py.File(self.partial, "a") as f:
                f.attrs[DONE] = good  # the next run redoes the bad rows
            raise OSError(
                f"{self.partial}: row {good} of {self.n_rows} on disk differs from what was written (a failed write?); "
                f"not finishing. A rerun redoes rows {good} onwards."
            )
        with h5py.File(self.partial, "a") as f:
            del f[DIGESTS]
        os.replace(self.partial, self.out_path)

    def close(self) -> None:
        """Close without finishing (the partial file stays for the next run)."""
        self._datasets = {}
        if self.file.id.valid:
            self.file.close()

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _open(self, fingerprint: str, rows, fixed, attrs) -> h5py.File:
        if self.partial.exists():
            try:
                with h5py.File(self.partial, "r") as f:
                    same = f.attrs.get(FINGERPRINT) == fingerprint
                    done = int(f.attrs[DONE]) if same else 0
                if same:
                    good = _verified_rows(self.partial, done)
                    f = h5py.File(self.partial, "a")
                    if good != done:
                        logger.warning("%s: rows %d..%d on disk differ from what was written; redoing them",
                                       self.partial, good, done - 1)
                        f.attrs[DONE] = good
                    logger.info("%s: resuming after %d of %d rows", self.partial, good, self.n_rows)
                    return f
                logger.info("%s: settings changed since the interrupted run; starting over", self.partial)
            except (OSError, KeyError) as error:  # a file cut short mid-write is not readable: start over
                logger.warning("%s: unreadable (%s); starting over", self.partial, error)
            self.partial.unlink()
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        f = h5py.File(self.partial, "w")
        for name, value in fixed.items():
            f.create_dataset(name, data=np.asarray(value))
        for name, (shape, dtype) in rows.items():
            f.create_dataset(name, shape=(self.n_rows, *shape), dtype=dtype, chunks=(1, *shape) if shape else None)
        f.create_dataset(DIGESTS, shape=(self.n_rows, 32), dtype=np.uint8)
        for key, value in attrs.items():
            f.attrs[key] = value if isinstance(value, (int, float, str, bool)) else json.dumps(value)
        f.attrs[ROW_DATASETS] = json.dumps(sorted(rows))
        f.attrs[FINGERPRINT] = fingerprint
        f.attrs[DONE] = 0
        return f
