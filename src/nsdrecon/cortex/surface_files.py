"""Per-vertex values as files a user opens elsewhere, fsaverage label files, and fsaverage5 for drawing.

* MGH (FreeSurfer, ``freeview -f lh.inflated:overlay=<file>.mgh``): one frame per map, shape (N, 1, 1, F);
* GIFTI functional (Connectome Workbench, ``wb_view``; nilearn): one data array per map, named by its
  ``Name`` metadata;
* NSD's fsaverage labels (``nsddata/freesurfer/fsaverage/label/{lh,rh}.<roi>.mgz``): one integer per
  vertex, 0 unlabelled, 1..N as in ``<roi>.mgz.ctab``.

fsaverage's icosahedral mesh lists its vertices in order of subdivision: the first 10,242 of its 163,842
vertices per hemisphere are fsaverage5's (ico5), so a map on fsaverage is drawn on fsaverage5's meshes
(bundled with nilearn, offline) by keeping those vertices, without interpolation (:func:`to_fsaverage5`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import nibabel as nib
import numpy as np

from nsdrecon.atomic import atomic_path

__all__ = [
    "FSAVERAGE5_VERTICES",
    "FSAVERAGE_VERTICES",
    "read_fsaverage_label",
    "read_mgh",
    "read_mgh_integers",
    "read_surface_values",
    "to_fsaverage5",
    "write_fsaverage_label",
    "write_mgh_integers",
    "write_surface_values",
]

FSAVERAGE_VERTICES = 163842  # per hemisphere (ico7)
FSAVERAGE5_VERTICES = 10242  # per hemisphere (ico5): fsaverage's first vertices


def to_fsaverage5(values: np.ndarray) -> np.ndarray:
    """Values on fsaverage (163842, ...) or fsaverage5 (10242, ...) -> fsaverage5 (the first 10242 vertices)."""
    values = np.asarray(values)
    if len(values) not in (FSAVERAGE_VERTICES, FSAVERAGE5_VERTICES):
        raise ValueError(
            f"expected values on fsaverage ({FSAVERAGE_VERTICES} vertices) or fsaverage5 "
            f"({FSAVERAGE5_VERTICES}), found {len(values)}"
        )
    return values[:FSAVERAGE5_VERTICES]


def write_surface_values(
    values: np.ndarray, names: Sequence[str], mgh_path: str | os.PathLike, gifti_path: str | os.PathLike
) -> None:
    """Write maps (n_vertices, n_maps) as one MGH (frames) and one GIFTI (named arrays), each atomically.

    NaN (a map undefined at a vertex) is written as NaN in both.
    """
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 2 or values.shape[1] != len(names):
        raise ValueError(f"expected values of shape (n_vertices, {len(names)}), found {values.shape}")
    with atomic_path(mgh_path) as tmp:
        nib.save(nib.MGHImage(values.reshape(len(values), 1, 1, -1), np.eye(4)), tmp)
    arrays = [
        nib.gifti.GiftiDataArray(
            np.ascontiguousarray(values[:, i]), intent="NIFTI_INTENT_NONE", datatype="NIFTI_TYPE_FLOAT32",
            meta={"Name": name},
        )
        for i, name in enumerate(names)
    ]
    with atomic_path(gifti_path) as tmp:
        nib.save(nib.gifti.GiftiImage(darrays=arrays), tmp)


def read_surface_values(gifti_path: str | os.PathLike) -> tuple[np.ndarray, list[str]]:
    """Maps written by :func:`write_surface_values`: float64 (n_vertices, n_maps) and their names."""
    image = nib.load(os.fspath(gifti_path))
    if not image.darrays:
        raise ValueError(f"{gifti_path}: no data arrays")
    names = [array.meta.get("Name", "") for array in image.darrays]
    if "" in names or len(set(names)) != len(names):
        raise ValueError(f"{gifti_path}: every data array needs a distinct Name, found {names}")
    return np.column_stack([np.asarray(array.data, dtype=np.float64) for array in image.darrays]), names


def read_mgh(path: str | os.PathLike) -> np.ndarray:
    """An MGH/MGZ file's data as float64 of shape (V, D): nsdcode's ``reshape(V, -1, order="F")``."""
    data = np.asarray(nib.load(os.fspath(path)).get_fdata(), dtype=np.float64)
    return data.reshape(data.shape[0], -1, order="F")


def read_mgh_integers(path: str | os.PathLike, what: str) -> np.ndarray:
    """One whole number per vertex (an MGH of shape (V, 1, 1)) as int64; anything else is an error naming ``path``."""
    values = read_mgh(path)
    if values.shape[1] != 1:
        raise ValueError(f"{path}: expected one {what} per vertex, found {values.shape[1]}")
    values = values[:, 0]
    if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
        raise ValueError(f"{path}: each {what} must be a whole number")
    return values.astype(np.int64)


def write_mgh_integers(path: str | os.PathLike, values: np.ndarray) -> None:
    """Write one integer per vertex as an int32 MGH of shape (N, 1, 1), atomically."""
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"expected one value per vertex, shape (n,), found {values.shape}")
    with atomic_path(path) as tmp:
        nib.save(nib.MGHImage(values.astype(np.int32).reshape(-1, 1, 1), np.eye(4)), tmp)


def read_fsaverage_label(path: str | os.PathLike) -> np.ndarray:
    """An NSD surface label file (``{lh,rh}.<roi>.mgz``): int64 (n_vertices,), values <= 0 mean unlabelled."""
    return np.maximum(read_mgh_integers(path, "label"), 0)


def write_fsaverage_label(path: str | os.PathLike, labels: np.ndarray) -> None:
    """Write one integer label per vertex as an int32 MGH of shape (N, 1, 1) (the format NSD's labels are read in)."""
    write_mgh_integers(path, labels)