"""Named arrays in one HDF5 file, written atomically, with provenance attributes.

Decoder predictions and reconstructions travel between rules as HDF5 files
holding a few named arrays (always one ``nsd_id`` row index) and attributes
recording what produced them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

import h5py
import numpy as np

from .atomic import atomic_path
from .fileformats import open_hdf5


def save_arrays(path: str | Path, arrays: Mapping[str, np.ndarray], attrs: Mapping | None = None) -> None:
    """Write ``arrays`` as datasets and ``attrs`` (JSON-encoded if not scalar) to ``path``."""
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for name, value in arrays.items():
                f.create_dataset(name, data=np.asarray(value))
            for key, value in (attrs or {}).items():
                f.attrs[key] = value if isinstance(value, (int, float, str, bool)) else json.dumps(value)


def load_arrays(path: str | Path, names: list[str] | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Read datasets ``names`` (all if None; none if empty) and the attributes of ``path``."""
    with open_hdf5(path) as f:
        missing = [n for n in (names or []) if n not in f]
        if missing:
            raise KeyError(f"{path}: missing datasets {missing}; found {sorted(f.keys())}")
        arrays = {n: f[n][()] for n in (list(f.keys()) if names is None else names)}
        attrs = {k: _decode_attr(v) for k, v in f.attrs.items()}
    return arrays, attrs


def _decode_attr(value):
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value.item() if isinstance(value, np.generic) else value
