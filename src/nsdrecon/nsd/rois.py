"""Subject ROI volumes and their FreeSurfer label tables (``nsd.md`` section 2).

A combined ROI volume (``roi/<name>.nii.gz``) holds -1 for non-cortical voxels,
0 for cortical but unlabelled voxels and 1..N for the labels named in
``label/<name>.mgz.ctab`` (``index name`` per line, names sometimes padded
with tabs).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nsdrecon.fileformats import load_nifti
logger = logging.getLogger(__name__)

__all__ = ["NSD_ROI_FILES", "NSD_ROI_LABELS", "RoiVolume", "read_ctab", "read_roi"]

NSD_ROI_LABELS: dict[str, tuple[str, ...]] = {
    "nsdgeneral": ("nsdgeneral",),
    "prf-visualrois": ("V1v", "V1d", "V2v", "V2d", "V3v", "V3d", "hV4"),
    "streams": ("early", "midventral", "midlateral", "midparietal", "ventral", "lateral", "parietal"),
    "floc-faces": ("OFA", "FFA-1", "FFA-2", "mTL-faces", "aTL-faces"),
    "floc-bodies": ("EBA", "FBA-1", "FBA-2", "mTL-bodies"),
    "floc-places": ("OPA", "PPA", "RSC"),
    "floc-words": ("OWFA", "VWFA-1", "VWFA-2", "mfs-words", "mTL-words"),
}
"""Positive labels of NSD's ROI volumes in order (value = position + 1), as their ctab files list them."""

NSD_ROI_FILES = (
    *NSD_ROI_LABELS, "prf-eccrois", "Kastner2015", "HCP_MMP1", "visualsulc", "corticalsulc", "fVTC",
    "thalamus", "MTL",
)
"""The ROI volumes of ``ppdata/subjXX/func1pt8mm/roi`` (labels of the others: from their downloaded ctab)."""

# "index name", optionally followed by the four R G B A colour columns of a FreeSurfer ctab.
_CTAB_LINE = re.compile(r"^\s*(-?\d+)\s+(.*?)(?:\s+\d+\s+\d+\s+\d+\s+\d+)?\s*$")


@dataclass(frozen=True, eq=False)
class RoiVolume:
    """One ROI volume in NIfTI orientation.

    Attributes
    ----------
    data : ndarray of int16, shape (X, Y, Z)
        -1 outside cortex, 0 unlabelled cortex, 1..N labels.
    affine : ndarray of float, shape (4, 4)
        Voxel-to-world matrix of the file.
    labels : dict of int to str
        Positive label values and their names (from the ctab; the value as text
        when no ctab was given).
    path : str
        The file it came from, for error messages.
    """

    data: np.ndarray
    affine: np.ndarray
    labels: dict[int, str] = field(default_factory=dict)
    path: str = ""

    def mask(self, labels: list[str] | str) -> np.ndarray:
        """Voxels carrying any of ``labels`` (names), or every label > 0 for ``"all"``.

        Returns
        -------
        ndarray of bool, shape (X, Y, Z)

        Raises
        ------
        ValueError
            A name is not one of this ROI's labels; the message lists the allowed names.
        """
        if isinstance(labels, str):
            if labels != "all":
                raise ValueError(f"{self.path}: labels must be a list of names or 'all', got {labels!r}")
            return self.data > 0
        by_name = {name: value for value, name in self.labels.items()}
        unknown = [name for name in labels if name not in by_name]
        if unknown:
            raise ValueError(f"{self.path}: unknown label(s) {unknown}; allowed: {list(by_name)} or 'all'")
        return np.isin(self.data, [by_name[name] for name in labels])


def read_ctab(path: str | os.PathLike) -> dict[int, str]:
    """Read a FreeSurfer label table (``<roi>.mgz.ctab``).

    Parameters
    ----------
    path : path-like

    Returns
    -------
    dict of int to str
        Label value to stripped name, including ``0`` (usually ``Unknown``).

    Raises
    ------
    ValueError
        A line is not ``index name [R G B A]`` or an index repeats.
    """
    table: dict[int, str] = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _CTAB_LINE.match(line)
        if match is None or not match.group(2).strip():
            raise ValueError(f"{path}: line {number} is not 'index name': {line!r}")
        index, name = int(match.group(1)), match.group(2).strip()
        if index in table:
            raise ValueError(f"{path}: label index {index} appears twice (line {number})")
        table[index] = name
    if not table:
        raise ValueError(f"{path}: no labels found")
    return table


def read_roi(path: str | os.PathLike, ctab_path: str | os.PathLike | None = None) -> RoiVolume:
    """Read a combined ROI volume and check its values.

    Parameters
    ----------
    path : path-like
        ``roi/<name>.nii.gz``; a trailing singleton 4th axis is dropped.
    ctab_path : path-like, optional
        The matching label table; every positive value in the volume must be
        one of its indices.

    Returns
    -------
    RoiVolume
        ``data`` int16 (X, Y, Z), ``affine`` (4, 4), ``labels`` (positive labels).

    Raises
    ------
    ValueError
        Values other than -1, 0 or positive whole numbers, or positive values
        missing from the ctab; the message lists the offending values.
    """
    img, data = load_nifti(path, with_data=True)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ValueError(f"{path}: ROI volume must be 3-D (X, Y, Z), found shape {data.shape}")
    values = np.unique(data)
    bad = values[(values != np.round(values)) | (values < -1) | (values > np.iinfo(np.int16).max)]
    if bad.size:
        raise ValueError(
            f"{path}: ROI values must be -1 (not cortex), 0 (unlabelled) or labels 1..N; "
            f"found unexpected values {bad[:20].tolist()}"
        )
    present = [int(value) for value in values if value > 0]
    if ctab_path is not None:
        table = read_ctab(ctab_path)
        missing = [value for value in present if value not in table]
        if missing:
            raise ValueError(f"{path}: label values {missing} are not in {ctab_path} (indices {sorted(table)})")
        labels = {index: name for index, name in sorted(table.items()) if index > 0}
    else:
        labels = {value: str(value) for value in present}
    logger.debug("%s: shape %s, labels present %s", path, data.shape, present)
    return RoiVolume(
        data=data.astype(np.int16), affine=np.asarray(img.affine, dtype=float), labels=labels, path=str(path)
    )
