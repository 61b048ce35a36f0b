"""Where the decoders read from: voxel weight magnitudes, their share per ROI, and stream overlap.

HAVIR's decoders start from ridge: each has an input projection (``linear``)
initialised to the ridge map from standardised voxels to its targets. The L2
norm of a voxel's row of that projection says how strongly the decoder reads
the voxel. Summed per ROI group (a voxel counts for the first group that holds
it) it shows which cortical areas drive each stream, per subject. The overlap
of the streams' raw label sets (before the ``masks.overlap`` rule assigns shared
voxels to one stream) shows how much the structural and semantic pathways
compete for voxels in each individual.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn

from nsdrecon.nsd.rois import RoiVolume

__all__ = [
    "OTHER_GROUP", "voxel_weight_magnitude", "voxel_target_weights", "voxel_roi_groups", "roi_weight_shares",
    "stream_overlap",
]

logger = logging.getLogger(__name__)

OTHER_GROUP = "other"


def _projection_row_norms_sq(module: nn.Module) -> torch.Tensor:
    """Squared L2 norm of each input's row of a linear map: factored ``a @ b`` or ``nn.Linear``."""
    if isinstance(getattr(module, "a", None), torch.Tensor) and isinstance(getattr(module, "b", None), torch.Tensor):
        a, b = module.a.double(), module.b.double()
        return ((a @ (b @ b.T)) * a).sum(dim=1)  # diag(a b b^T a^T) without forming a @ b
    if isinstance(module, nn.Linear):
        return module.weight.double().pow(2).sum(dim=0)
    raise TypeError(f"cannot read input weights from a {type(module).__name__} (expected factors a, b or nn.Linear)")


@torch.no_grad()
def voxel_weight_magnitude(decoder: nn.Module) -> np.ndarray:
    """L2 norm, per voxel, of the decoder's ridge-initialised input projection.

    The projection acts on standardised voxels, so magnitudes compare voxels on
    one scale (weight per standard deviation of the voxel's beta). A decoder
    with several projections (the Semantic Extractor: CLIP image and text)
    gets the norm over all of them together.

    Parameters
    ----------
    decoder : a decoder from :func:`nsdrecon.decoders.load_decoder`; its
        attribute ``linear`` is the input projection (a module with factors
        ``a`` (n_voxels, r) and ``b`` (r, n_targets), an ``nn.Linear``, or a
        ``ModuleDict`` of those).

    Returns
    -------
    float64 array of shape (n_voxels,)
    """
    return torch.sqrt(sum(_projection_row_norms_sq(module).cpu() for module in _projections(decoder).values())).numpy()


@torch.no_grad()
def voxel_target_weights(decoder: nn.Module) -> dict[str, np.ndarray]:
    """L2 norm, per voxel, of the input projection of each decoder target, keyed by target.

    The Structural Generator has one target (``latent``), the Semantic Extractor one projection per
    target (``image``, ``text``). :func:`voxel_weight_magnitude` is the norm over all of them together:
    ``sqrt(sum of the squares)`` of these.

    Returns
    -------
    dict of target name to float64 array of shape (n_voxels,)
    """
    modules = _projections(decoder)
    if None in modules:
        targets = list(getattr(decoder, "target_shapes", {}))
        if len(targets) != 1:
            raise ValueError(f"{type(decoder).__name__}: one projection for targets {targets}; cannot split it by target")
        modules = {targets[0]: modules[None]}
    return {target: torch.sqrt(_projection_row_norms_sq(module)).cpu().numpy() for target, module in modules.items()}


def _projections(decoder: nn.Module) -> dict[str | None, nn.Module]:
    """The decoder's input projections by target (``None``: one projection for every target)."""
    projection = getattr(decoder, "linear", None)
    if projection is None:
        raise ValueError(f"{type(decoder).__name__} has no input projection attribute `linear`")
    return dict(projection.items()) if isinstance(projection, nn.ModuleDict) else {None: projection}


def voxel_roi_groups(
    ijk: np.ndarray, rois: Mapping[str, RoiVolume], groups: Mapping[str, Mapping[str, list[str] | str]]
) -> np.ndarray:
    """The ROI group of each voxel: the first group in ``groups`` whose labels hold it, else ``"other"``.

    Parameters
    ----------
    ijk : int array of shape (n_voxels, 3), voxel indices into the ROI volumes
    rois : ROI name -> volume read with its label table
    groups : group name -> {ROI name -> label names or ``"all"``}, in priority order,
        e.g. ``{"V1": {"prf-visualrois": ["V1v", "V1d"]}, "faces": {"floc-faces": "all"}}``

    Returns
    -------
    object array of shape (n_voxels,) with group names
    """
    ijk = np.asarray(ijk)
    if ijk.ndim != 2 or ijk.shape[1] != 3:
        raise ValueError(f"expected voxel indices of shape (n_voxels, 3), found {ijk.shape}")
    assigned = np.full(len(ijk), OTHER_GROUP, dtype=object)
    free = np.ones(len(ijk), dtype=bool)
    for group, selection in groups.items():
        unknown = [name for name in selection if name not in rois]
        if unknown:
            raise ValueError(f"ROI group {group!r}: unknown ROI(s) {unknown}; available: {sorted(rois)}")
        inside = np.zeros(len(ijk), dtype=bool)
        for roi_name, labels in selection.items():
            roi = rois[roi_name]
            if np.any(ijk >= roi.data.shape) or np.any(ijk < 0):
                raise ValueError(f"voxel indices fall outside {roi.path or roi_name} of shape {roi.data.shape}")
            inside |= roi.mask(labels)[tuple(ijk.T)]
        assigned[inside & free] = group
        free &= ~inside
    return assigned


def roi_weight_shares(weights: pd.DataFrame, group_order: list[str] | None = None) -> pd.DataFrame:
    """Share of each stream's total weight magnitude per ROI group.

    Parameters
    ----------
    weights : one row per voxel with columns subject, stream, roi_group, weight
    group_order : order of the groups in the output (``"other"`` last); default: order of appearance

    Returns
    -------
    DataFrame with columns subject, stream, roi_group, n_voxels, weight, share
    (share in [0, 1], summing to 1 per subject and stream); every group appears
    for every subject and stream (zero where it holds no voxel).
    """
    missing = [column for column in ("subject", "stream", "roi_group", "weight") if column not in weights.columns]
    if missing:
        raise ValueError(f"voxel weight table lacks columns {missing}; found {list(weights.columns)}")
    order = list(dict.fromkeys([*(group_order or []), *weights["roi_group"]]))
    order = [group for group in order if group != OTHER_GROUP] + [OTHER_GROUP]
    grouped = weights.groupby(["subject", "stream", "roi_group"], sort=False)["weight"].agg(["size", "sum"])
    pairs = weights[["subject", "stream"]].drop_duplicates()
    index = pd.MultiIndex.from_tuples(
        [(s, stream, g) for s, stream in pairs.itertuples(index=False) for g in order],
        names=["subject", "stream", "roi_group"],
    )
    table = grouped.reindex(index, fill_value=0).rename(columns={"size": "n_voxels", "sum": "weight"})
    table["share"] = table["weight"] / table.groupby(level=["subject", "stream"])["weight"].transform("sum")
    return table.reset_index()


def stream_overlap(raw_masks: Mapping[str, np.ndarray], subject: str) -> dict[str, object]:
    """Voxels claimed by the structural label set only, the semantic only, or both.

    Parameters
    ----------
    raw_masks : ``{"structural": bool (X, Y, Z), "semantic": bool (X, Y, Z)}`` before
        shared voxels are assigned (:func:`nsdrecon.masks.stream_masks` with ``overlap="both"``)
    subject : subject id for the row

    Returns
    -------
    dict with subject, structural_only, semantic_only, both (voxel counts) and
    dice (2 |S ∩ T| / (|S| + |T|)).
    """
    structural, semantic = (np.asarray(raw_masks[stream], dtype=bool) for stream in ("structural", "semantic"))
    both = int((structural & semantic).sum())
    total = int(structural.sum() + semantic.sum())
    return {
        "subject": subject,
        "structural_only": int((structural & ~semantic).sum()),
        "semantic_only": int((semantic & ~structural).sum()),
        "both": both,
        "dice": 2 * both / total if total else float("nan"),
    }
