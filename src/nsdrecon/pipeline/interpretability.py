"""Stage ``voxel_weights``: per-voxel decoder weight magnitudes, their share per ROI group, and stream overlap."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from ..atomic import write_text
from ..betas import NETCDF_ENGINE
from ..decoders import load_decoder
from ..interpretability import roi_weight_shares, stream_overlap, voxel_roi_groups, voxel_weight_magnitude
from ..masks import OVERLAP_BOTH, stream_masks
from ..nsd import read_roi
from ..settings import Masks, RoiGroup

__all__ = ["VOXEL_WEIGHT_COLUMNS", "read_voxel_ijk", "run_voxel_weights"]

logger = logging.getLogger(__name__)

VOXEL_WEIGHT_COLUMNS = ["subject", "stream", "i", "j", "k", "roi_group", "weight"]


def read_voxel_ijk(betas_path, stream: str) -> np.ndarray:
    """Voxel indices (n_voxels, 3) of ``stream``'s columns in a betas file: the decoder's input order."""
    with xr.open_dataset(betas_path, engine=NETCDF_ENGINE) as dataset:
        name = f"{stream}_ijk"
        if name not in dataset.coords:
            raise ValueError(f"{betas_path}: no coordinate {name!r}; found {sorted(dataset.coords)}")
        return dataset[name].values.astype(int)


def run_voxel_weights(
    *,
    subject: str,
    decoders: Mapping[str, str],
    betas,
    rois: Mapping[str, tuple[str, str]],
    roi_groups: list[RoiGroup],
    masks: Masks,
    out_weights,
    out_shares,
    out_overlap,
) -> None:
    """Write per-voxel weights, per-ROI-group weight shares and the stream overlap of one subject (TSV).

    Parameters
    ----------
    subject : subject id
    decoders : stream -> decoder safetensors file
    betas : the subject's betas file (its ``<stream>_ijk`` coordinates give each decoder input's voxel)
    rois : ROI name -> (volume path, ctab path)
    roi_groups : the ROI groups in priority order (``figures.roi_groups``)
    masks : the mask definition, for the streams' raw overlap
    out_weights : TSV with columns :data:`VOXEL_WEIGHT_COLUMNS`
    out_shares : TSV of :func:`nsdrecon.interpretability.roi_weight_shares` (groups in ``roi_groups`` order)
    out_overlap : TSV with subject, structural_only, semantic_only, both, dice
    """
    volumes = {name: read_roi(path, ctab) for name, (path, ctab) in rois.items()}
    groups = {g.group: g.labels for g in roi_groups}
    label_sets = {"structural": masks.structural, "semantic": masks.semantic}
    frames = []
    for stream, path in decoders.items():
        weight = voxel_weight_magnitude(load_decoder(path))
        ijk = read_voxel_ijk(betas, stream)
        if len(weight) != len(ijk):
            raise ValueError(f"{path}: decoder reads {len(weight)} voxels, {betas} holds {len(ijk)} {stream} voxels")
        frame = pd.DataFrame(ijk, columns=["i", "j", "k"])
        frame.insert(0, "stream", stream)
        frame.insert(0, "subject", subject)
        frame["roi_group"] = voxel_roi_groups(ijk, volumes, groups)
        frame["weight"] = weight
        frames.append(frame)
        logger.info("%s %s: %d voxels, weight magnitude median %.3g", subject, stream, len(ijk), np.median(weight))
    weights = pd.concat(frames, ignore_index=True)[VOXEL_WEIGHT_COLUMNS]
    write_text(out_weights, weights.to_csv(sep="\t", index=False))
    write_text(out_shares, roi_weight_shares(weights, list(groups)).to_csv(sep="\t", index=False))

    label_volumes = {name: volumes[name] for name in {roi for labels in label_sets.values() for roi in labels}}
    raw = stream_masks(label_volumes, label_sets, volumes[masks.intersect], overlap=OVERLAP_BOTH)
    overlap = stream_overlap(raw, subject)
    write_text(out_overlap, pd.DataFrame([overlap]).to_csv(sep="\t", index=False))
    logger.info("%s stream overlap: %s", subject, overlap)
