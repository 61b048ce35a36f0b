"""Hand-built tiny NSD files for the reader, mask and beta tests (``nsd.md`` section 7).

Each writer takes the arrays exactly as a reader should return them, so a test
states the expected values in one place and checks the round trip.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import scipy.io


def nsd_affine(shape: tuple[int, ...], voxel_mm: float = 1.8) -> np.ndarray:
    """The affine NSD's nsdcode writes: diagonal voxel size, origin at the slab centre."""
    affine = np.diag([voxel_mm] * 3 + [1.0])
    affine[:3, 3] = -((1 + np.asarray(shape[:3])) / 2 - 1) * voxel_mm
    return affine


def write_nifti(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> Path:
    img = nib.Nifti1Image(data, nsd_affine(data.shape) if affine is None else affine)
    img.set_data_dtype(data.dtype)
    nib.save(img, path)
    return path


def write_betas_pair(folder: Path, session: int, betas_xyzt: np.ndarray) -> tuple[Path, Path]:
    """One session as NIfTI (X, Y, Z, T) and HDF5 ``/betas`` (T, Z, Y, X) chunked (T, 1, 1, 1)."""
    folder.mkdir(parents=True, exist_ok=True)
    nifti = write_nifti(folder / f"betas_session{session:02d}.nii.gz", betas_xyzt)
    hdf5 = folder / f"betas_session{session:02d}.hdf5"
    with h5py.File(hdf5, "w") as handle:
        handle.create_dataset("betas", data=betas_xyzt.transpose(3, 2, 1, 0), chunks=(betas_xyzt.shape[3], 1, 1, 1))
    return hdf5, nifti


def write_expdesign(path: Path, masterordering, subjectim, sharedix) -> Path:
    """``nsd_expdesign.mat`` as MATLAB stores it: doubles, row vectors (1, n)."""
    scipy.io.savemat(
        path,
        {
            "masterordering": np.asarray(masterordering, dtype=float)[None, :],
            "subjectim": np.asarray(subjectim, dtype=float),
            "sharedix": np.asarray(sharedix, dtype=float)[None, :],
            "basiccnt": np.zeros((3, 40)),
        },
    )
    return path


def write_ctab(path: Path, labels: dict[int, str]) -> Path:
    """``index name`` lines; names padded with a tab as in some NSD files."""
    path.write_text("".join(f"{index} {name}\t\n" for index, name in labels.items()))
    return path


def write_stim_info(path: Path, n_images: int, shared: np.ndarray) -> pd.DataFrame:
    """``nsd_stim_info_merged.csv`` with an unnamed 0-based index and 0-based ``nsdId``."""
    table = pd.DataFrame(
        {
            "cocoId": 1000 + np.arange(n_images) * 7,
            "cocoSplit": np.where(np.arange(n_images) % 3 == 0, "val2017", "train2017"),
            "cropBox": ["(0, 0, 0.1, 0.1)"] * n_images,
            "nsdId": np.arange(n_images),
            "shared1000": np.isin(np.arange(n_images), shared),
        }
    )
    table.to_csv(path)
    return table


def write_captions(folder: Path, stim_info: pd.DataFrame) -> Path:
    """COCO caption files: image ``cocoId`` gets captions ``"<cocoId> a"``, ``"<cocoId> b"`` (padded)."""
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train2017", "val2017"):
        ids = stim_info.loc[stim_info["cocoSplit"] == split, "cocoId"].tolist()
        annotations = [
            {"image_id": coco_id, "id": 10 * coco_id + k, "caption": f" {coco_id} {letter} \n"}
            for coco_id in ids
            for k, letter in enumerate("ab")
        ]
        content = {"images": [{"id": coco_id} for coco_id in ids], "annotations": annotations}
        (folder / f"captions_{split}.json").write_text(json.dumps(content))
    return folder
