"""Individualized voxel masks per stream (structural / semantic) from a subject's own ROI files.

Each stream is the union of named labels of several ROI volumes (e.g. structural
= ``prf-visualrois`` V1v..hV4 plus ``streams`` early), intersected with a
general visual mask (``nsdgeneral > 0``). A voxel claimed by two streams goes to
the stream named by ``overlap`` (or stays in both). Masks are saved as uint8
NIfTI with the ROI files' affine.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import nibabel as nib
import numpy as np
import pandas as pd

from nsdrecon.atomic import atomic_path
from nsdrecon.nsd.rois import RoiVolume

logger = logging.getLogger(__name__)

__all__ = ["stream_masks", "voxel_count_table", "save_mask", "load_mask"]

OVERLAP_BOTH = "both"


def _check_same_grid(reference: RoiVolume, other: RoiVolume) -> None:
    if other.data.shape != reference.data.shape or not np.allclose(other.affine, reference.affine):
        raise ValueError(
            f"ROI volumes are on different grids: {reference.path} {reference.data.shape} vs "
            f"{other.path} {other.data.shape} (affines equal: {np.allclose(other.affine, reference.affine)})"
        )


def stream_masks(
    rois: Mapping[str, RoiVolume],
    label_sets: Mapping[str, Mapping[str, list[str] | str]],
    intersect: RoiVolume | None,
    overlap: str = "structural",
) -> dict[str, np.ndarray]:
    """Build one boolean voxel mask per stream.

    Parameters
    ----------
    rois : mapping of str to RoiVolume
        ROI name (``prf-visualrois``, ``streams``, ``floc-faces``...) to its volume
        (read with its ctab so labels have names).
    label_sets : mapping of str to mapping of str to (list of str or "all")
        Stream -> ROI name -> label names, or ``"all"`` for every label > 0;
        e.g. ``{"structural": {"prf-visualrois": ["V1v", "V1d"]}, "semantic": {"floc-faces": "all"}}``.
    intersect : RoiVolume or None
        Keep only voxels where it is > 0 (e.g. nsdgeneral).
    overlap : str, default="structural"
        A stream name that keeps voxels claimed by several streams (they are
        removed from the others), or ``"both"`` to leave them in every stream.

    Returns
    -------
    dict of str to ndarray of bool, shape (X, Y, Z)
        One mask per stream, in the order of ``label_sets``.

    Raises
    ------
    ValueError
        Unknown ROI, label or overlap name (the message lists the allowed ones),
        ROI volumes on different grids, or a stream left without voxels.
    """
    if overlap != OVERLAP_BOTH and overlap not in label_sets:
        raise ValueError(f"overlap must be one of {[*label_sets, OVERLAP_BOTH]}, got {overlap!r}")
    grids = [*rois.values(), *([intersect] if intersect is not None else [])]
    if not grids:
        raise ValueError("no ROI volumes given")
    for volume in grids[1:]:
        _check_same_grid(grids[0], volume)
    masks = {}
    for stream, selection in label_sets.items():
        unknown = [name for name in selection if name not in rois]
        if unknown:
            raise ValueError(f"stream {stream!r}: unknown ROI(s) {unknown}; allowed: {sorted(rois)}")
        mask = np.zeros(grids[0].data.shape, dtype=bool)
        for roi_name, labels in selection.items():
            mask |= rois[roi_name].mask(labels)
        if intersect is not None:
            mask &= intersect.data > 0
        masks[stream] = mask
    if overlap != OVERLAP_BOTH:
        for stream, mask in masks.items():
            if stream != overlap:
                mask &= ~masks[overlap]
    for stream, mask in masks.items():
        if not mask.any():
            raise ValueError(
                f"stream {stream!r} has no voxels after intersecting with "
                f"{intersect.path if intersect is not None else 'nothing'} and overlap={overlap!r}"
            )
        logger.info("stream %s: %d voxels", stream, int(mask.sum()))
    return masks


def voxel_count_table(masks: Mapping[str, np.ndarray], rois: Mapping[str, RoiVolume], subject: str) -> pd.DataFrame:
    """Voxels of every ROI label inside every stream mask.

    Returns
    -------
    pandas.DataFrame
        Columns ``subject, stream, roi, label, n_voxels``: one row per stream x
        ROI x positive label (zero counts included), then a row per stream with
        ``roi == label == "total"`` holding the mask's size.
    """
    rows = []
    for stream, mask in masks.items():
        for roi_name, roi in rois.items():
            counts = np.bincount(roi.data[mask & (roi.data > 0)], minlength=max(roi.labels, default=0) + 1)
            rows += [(subject, stream, roi_name, name, int(counts[value])) for value, name in roi.labels.items()]
        rows.append((subject, stream, "total", "total", int(mask.sum())))
    return pd.DataFrame(rows, columns=["subject", "stream", "roi", "label", "n_voxels"])


def save_mask(mask: np.ndarray, affine: np.ndarray, path: str | os.PathLike) -> None:
    """Write a boolean mask (X, Y, Z) as a uint8 NIfTI, atomically."""
    if mask.dtype != bool or mask.ndim != 3:
        raise ValueError(f"mask for {path} must be a 3-D bool array, got {mask.dtype} {mask.shape}")
    if not mask.any():
        raise ValueError(f"refusing to write an empty mask to {path}")
    img = nib.Nifti1Image(mask.astype(np.uint8), np.asarray(affine, dtype=float))
    img.set_data_dtype(np.uint8)
    with atomic_path(path) as tmp:
        nib.save(img, tmp)


def load_mask(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a binary mask NIfTI.

    Returns
    -------
    mask : ndarray of bool, shape (X, Y, Z)
    affine : ndarray of float, shape (4, 4)

    Raises
    ------
    ValueError
        The volume is not 3-D, holds values other than 0 and 1 (listed), or is empty.
    """
    img = nib.load(path)
    data = np.asanyarray(img.dataobj)
    if data.ndim != 3:
        raise ValueError(f"{path}: mask must be 3-D (X, Y, Z), found shape {data.shape}")
    values = np.unique(data)
    if not np.isin(values, [0, 1]).all():
        raise ValueError(f"{path}: mask must hold only 0 and 1, found values {values[:20].tolist()}")
    if 1 not in values:
        raise ValueError(f"{path}: mask is empty (all zero)")
    return data == 1, np.asarray(img.affine, dtype=float)
