"""NSD's volume-to-surface transforms and NSD's own mapping recipe, re-implemented.

NSD ships, per subject and hemisphere (``nsddata/ppdata/subjXX/transforms/``):

* ``{lh,rh}.func1pt8-to-layerB{1,2,3}.mgz``: for every vertex of the subject's native surface at 25, 50
  and 75 % of the distance from pial to white (:data:`DEPTH_FRACTIONS`), the func1pt8mm voxel
  coordinate to sample, **1-based**, 9999 where there is none; MGH of shape (V, 1, 1, 3);
* ``{lh,rh}.white-to-fsaverage.mgz``: for every fsaverage vertex, the **1-based** index of the
  native white-surface vertex to take (nearest neighbour); MGH of shape (N, 1, 1).

NSD's mapping (nsdcode ``NSDmapdata.fit``; ``cortex.md``): sample the volume at each depth with cubic
interpolation (invalid or outside locations get ``badval``, 0), average the three depths, then take
each fsaverage vertex's native vertex. nsdcode's pip release pins nibabel 3.1 and scikit-learn 0.23,
which do not install beside this project's pins, so the recipe is implemented here, as nsdcode's
Python port computes it (``scipy.ndimage.map_coordinates``, spline order 3, ``mode="nearest"``),
with the field-of-view test of its MATLAB original (a 1-based coordinate is inside when
``1 <= c <= n``; the Python port tests the already 0-based coordinates against the same bounds, which
drops the first voxel plane and keeps one plane beyond the last).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import nibabel as nib
import numpy as np
from scipy.ndimage import map_coordinates

from nsdrecon.atomic import atomic_path
from nsdrecon.layout import HEMISPHERES

from .surface_files import read_mgh, read_mgh_integers, write_mgh_integers

__all__ = [
    "DEPTHS",
    "DEPTH_FRACTIONS",
    "HEMISPHERES",
    "INTERPOLATIONS",
    "INVALID_COORDINATE",
    "TO_FSAVERAGE",
    "HemisphereTransforms",
    "native_to_fsaverage",
    "read_surface_to_fsaverage",
    "read_volume_to_surface",
    "sample_volume",
    "volume_to_fsaverage",
    "volume_to_native_surface",
    "volume_to_surface_name",
    "write_surface_to_fsaverage",
    "write_volume_to_surface",
]


DEPTHS = ("layerB1", "layerB2", "layerB3")
DEPTH_FRACTIONS = {"layerB1": 0.25, "layerB2": 0.5, "layerB3": 0.75}
"""Where each depth surface lies, as a fraction of the distance from pial (0) to white (1)."""
TO_FSAVERAGE = "white-to-fsaverage"
INVALID_COORDINATE = 9999.0
INTERPOLATIONS = {"nearest": 0, "linear": 1, "cubic": 3}
"""nsdcode's interpolation names and their spline orders."""


def volume_to_surface_name(depth: str) -> str:
    """The transform's name for a depth surface: ``func1pt8-to-layerB2`` for ``layerB2``."""
    if depth not in DEPTHS:
        raise ValueError(f"depth must be one of {list(DEPTHS)}, got {depth!r}")
    return f"func1pt8-to-{depth}"


def read_volume_to_surface(path: str | os.PathLike) -> np.ndarray:
    """A ``func1pt8-to-<surface>`` transform: 1-based voxel coordinates per native vertex.

    Returns
    -------
    float64 array of shape (n_vertices, 3); rows of :data:`INVALID_COORDINATE` mark vertices with no location
    """
    coords = read_mgh(path)
    if coords.shape[1] != 3:
        raise ValueError(f"{path}: expected 3 coordinates per vertex (V, 1, 1, 3), found {coords.shape[1]} per vertex")
    return coords


def read_surface_to_fsaverage(path: str | os.PathLike) -> np.ndarray:
    """A ``white-to-fsaverage`` transform: the 1-based native vertex index of every fsaverage vertex.

    Returns
    -------
    int64 array of shape (n_fsaverage_vertices,)
    """
    values = read_mgh_integers(path, "native vertex index")
    if values.min() < 1:
        raise ValueError(f"{path}: indices must be >= 1 (1-based), found min {values.min()}")
    return values


def write_volume_to_surface(path: str | os.PathLike, coords: np.ndarray) -> None:
    """Write 1-based voxel coordinates (n_vertices, 3) as NSD does: float32 MGH of shape (V, 1, 1, 3)."""
    coords = np.asarray(coords, dtype=np.float32)
    if coords.ndim != 2 or coords.shape[1] != 3:
        raise ValueError(f"expected coordinates of shape (n_vertices, 3), found {coords.shape}")
    with atomic_path(path) as tmp:
        nib.save(nib.MGHImage(coords.reshape(len(coords), 1, 1, 3), np.eye(4)), tmp)


def write_surface_to_fsaverage(path: str | os.PathLike, index: np.ndarray) -> None:
    """Write 1-based native vertex indices (n_fsaverage_vertices,) as an int32 MGH of shape (N, 1, 1)."""
    index = np.asarray(index)
    if index.min() < 1:
        raise ValueError(f"expected 1-based indices, found min {index.min()}")
    write_mgh_integers(path, index)


def sample_volume(
    volume: np.ndarray, coords: np.ndarray, interp: str = "cubic", badval: float = 0.0
) -> np.ndarray:
    """Sample ``volume`` at 1-based voxel coordinates, as NSD's mapping does.

    Parameters
    ----------
    volume : float array of shape (X, Y, Z); NaN counts as 0
    coords : array of shape (n, 3), 1-based; NaN or 9999 marks a missing location
    interp : ``"cubic"`` (default, NSD's), ``"linear"`` or ``"nearest"``
    badval : value of missing locations and of those outside the volume (``1 <= c <= n`` on every axis)

    Returns
    -------
    float64 array of shape (n,)
    """
    if interp not in INTERPOLATIONS:
        raise ValueError(f"interp must be one of {list(INTERPOLATIONS)}, got {interp!r}")
    volume = np.nan_to_num(np.asarray(volume, dtype=np.float64))
    if volume.ndim != 3:
        raise ValueError(f"expected a 3-D volume (X, Y, Z), found shape {volume.shape}")
    coords = np.array(coords, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] != 3:
        raise ValueError(f"expected coordinates of shape (n, 3), found {coords.shape}")
    coords[coords == INVALID_COORDINATE] = np.nan
    bad = ~np.all(np.isfinite(coords), axis=1)
    coords[bad] = 1.0
    bad |= np.any((coords < 1) | (coords > np.asarray(volume.shape)), axis=1)
    values = map_coordinates(volume, (coords - 1).T, order=INTERPOLATIONS[interp], mode="nearest")
    values[bad] = badval
    return values


def volume_to_native_surface(
    volume: np.ndarray, depth_coords: Sequence[np.ndarray], interp: str = "cubic", badval: float = 0.0
) -> np.ndarray:
    """The mean over depths of ``volume`` sampled at each depth's coordinates (NSD's layerB1-3 average).

    Parameters
    ----------
    volume : float array (X, Y, Z)
    depth_coords : one (V, 3) array of 1-based coordinates per depth, all of the same V
    interp, badval : see :func:`sample_volume`

    Returns
    -------
    float64 array of shape (V,)
    """
    if not depth_coords or len({len(c) for c in depth_coords}) != 1:
        raise ValueError(f"expected depth coordinates with one common vertex count, found {[len(c) for c in depth_coords]}")
    return np.mean([sample_volume(volume, coords, interp, badval) for coords in depth_coords], axis=0)


def native_to_fsaverage(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Native-surface values (V, ...) at fsaverage vertices: ``values[index - 1]`` (1-based nearest neighbour)."""
    values, index = np.asarray(values), np.asarray(index)
    if index.min() < 1 or index.max() > len(values):
        raise ValueError(
            f"white-to-fsaverage indices span {index.min()}..{index.max()}, the native surface has {len(values)} vertices"
        )
    return values[index - 1]


@dataclass(frozen=True, eq=False)
class HemisphereTransforms:
    """One hemisphere's transforms.

    Attributes
    ----------
    depths : tuple of float64 arrays (V, 3)
        1-based func1pt8mm coordinates of each native vertex at layerB1, layerB2, layerB3.
    to_fsaverage : int64 array (N,)
        1-based native vertex of every fsaverage vertex.
    """

    depths: tuple[np.ndarray, ...]
    to_fsaverage: np.ndarray

    def __post_init__(self):
        counts = {len(c) for c in self.depths}
        if len(counts) != 1:
            raise ValueError(f"depth transforms disagree on the native vertex count: {sorted(counts)}")
        if self.to_fsaverage.max() > self.n_native:
            raise ValueError(
                f"white-to-fsaverage refers to native vertex {self.to_fsaverage.max()}, "
                f"the depth transforms have {self.n_native}"
            )

    @property
    def n_native(self) -> int:
        return len(self.depths[0])

    @property
    def n_fsaverage(self) -> int:
        return len(self.to_fsaverage)

    @classmethod
    def read(cls, depth_paths: Mapping[str, str | os.PathLike], fsaverage_path: str | os.PathLike):
        """Read ``{depth: path}`` (every one of :data:`DEPTHS`) and the ``white-to-fsaverage`` file."""
        missing = [depth for depth in DEPTHS if depth not in depth_paths]
        if missing:
            raise ValueError(f"missing depth transforms {missing}; given {sorted(depth_paths)}")
        return cls(
            tuple(read_volume_to_surface(depth_paths[depth]) for depth in DEPTHS),
            read_surface_to_fsaverage(fsaverage_path),
        )


def volume_to_fsaverage(
    volume: np.ndarray, transforms: HemisphereTransforms, interp: str = "cubic", badval: float = 0.0
) -> np.ndarray:
    """NSD's func1pt8mm -> fsaverage mapping of one hemisphere: depth-averaged samples, then nearest neighbour.

    Returns
    -------
    float64 array of shape (n_fsaverage_vertices,)
    """
    native = volume_to_native_surface(volume, transforms.depths, interp, badval)
    return native_to_fsaverage(native, transforms.to_fsaverage)
