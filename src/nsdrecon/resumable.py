"""Row-by-row HDF5 outputs that survive a killed job: a rerun keeps the rows already written.

Stimulus features and reconstructions take hours at NSD scale. Their rows are
written in order to ``<output>.partial.h5`` beside the output (Snakemake does
not know that name, so it survives a failed or killed job), with the number of
finished rows and a fingerprint of the settings as attributes. A rerun with
the same fingerprint continues after the last finished row; a different
fingerprint (another model, other settings or other ids) starts over.
:meth:`RowWriter.finish` renames the file into place, so the output appears
only complete.
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

    @property
    def done(self) -> int:
        """Rows already written (continue from here)."""
        return int(self.file.attrs[DONE])

    def write(self, start: int, arrays: Mapping[str, np.ndarray]) -> None:
        """Write rows ``start:start+len`` of every row-wise dataset; ``start`` must equal :attr:`done`."""
        if start != self.done:
            raise ValueError(f"{self.partial}: rows must be written in order; expected row {self.done}, got {start}")
        lengths = {len(value) for value in arrays.values()}
        if len(lengths) != 1:
            raise ValueError(f"{self.partial}: arrays of one write disagree on the row count: {sorted(lengths)}")
        stop = start + lengths.pop()
        for name, value in arrays.items():
            self.file[name][start:stop] = value
        self.file.attrs[DONE] = stop
        self.file.flush()

    def finish(self) -> None:
        """Check every row is written and move the file into place."""
        done = self.done
        self.file.close()
        if done != self.n_rows:
            raise RuntimeError(f"{self.partial}: {done} of {self.n_rows} rows written; cannot finish")
        os.replace(self.partial, self.out_path)

    def close(self) -> None:
        """Close without finishing (the partial file stays for the next run)."""
        if self.file.id.valid:
            self.file.close()

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _open(self, fingerprint: str, rows, fixed, attrs) -> h5py.File:
        if self.partial.exists():
            try:
                f = h5py.File(self.partial, "a")
                if f.attrs.get(FINGERPRINT) == fingerprint:
                    logger.info("%s: resuming after %d of %d rows", self.partial, int(f.attrs[DONE]), self.n_rows)
                    return f
                f.close()
                logger.info("%s: settings changed since the interrupted run; starting over", self.partial)
            except OSError as error:  # a file cut short mid-write is not readable: start over
                logger.warning("%s: unreadable (%s); starting over", self.partial, error)
            self.partial.unlink()
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        f = h5py.File(self.partial, "w")
        for name, value in fixed.items():
            f.create_dataset(name, data=np.asarray(value))
        for name, (shape, dtype) in rows.items():
            f.create_dataset(name, shape=(self.n_rows, *shape), dtype=dtype, chunks=(1, *shape) if shape else None)
        for key, value in attrs.items():
            f.attrs[key] = value if isinstance(value, (int, float, str, bool)) else json.dumps(value)
        f.attrs[FINGERPRINT] = fingerprint
        f.attrs[DONE] = 0
        return f
