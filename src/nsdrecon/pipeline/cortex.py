"""Stages ``cortex_maps``, ``figure_cortex`` and ``figure_cortex_subjects``: decoder weights on fsaverage.

``cortex_maps`` maps each decoder target's per-voxel weight magnitude from the subject's func1pt8mm volume
to fsaverage with NSD's own transforms and recipe (:mod:`nsdrecon.cortex`), and writes every map per
hemisphere as MGH (frames) and GIFTI (named arrays), listed in a TSV. The figure stages draw them on
inflated views and flatmaps with the outlines of NSD's fsaverage ROIs; across subjects, each map as a
relative weight (:func:`nsdrecon.cortex.relative_weight`), its mean and each subject's deviation.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import nibabel as nib
import numpy as np
import pandas as pd

from ..atomic import write_text
from ..cortex import (
    DEPTHS,
    HEMISPHERES,
    SHARE,
    TO_FSAVERAGE,
    HemisphereTransforms,
    MapInfo,
    across_subjects,
    member_name,
    native_to_fsaverage,
    read_fsaverage_label,
    read_surface_values,
    relative_weight,
    structural_share,
    vertex_roi_groups,
    volume_to_fsaverage,
    volume_to_native_surface,
    weight_name,
    write_surface_values,
)
from ..decoders import load_decoder
from ..interpretability import voxel_target_weights
from ..nsd import read_ctab
from ..plotting.cortex import SHARE_CMAP, SurfaceRow, plot_cortex_rows, plot_flat_grid
from ..plotting.style import STREAM_COLOURS
from .interpretability import read_voxel_ijk

__all__ = ["MAP_COLUMNS", "run_cortex_maps", "run_figure_cortex", "run_figure_cortex_subjects"]

logger = logging.getLogger(__name__)

MAP_COLUMNS = ["frame", "name", "stream", "target", "kind", "n_vertices"]
ALL_TARGETS = "all"
_STREAMS = ("structural", "semantic")


def _check_streams(streams: Sequence[str]) -> None:
    if tuple(streams) != _STREAMS:
        raise ValueError(f"the structural share needs the streams {list(_STREAMS)} in that order, got {list(streams)}")


def run_cortex_maps(
    *,
    subject: str,
    decoders: Mapping[str, str],
    betas,
    volume,
    transforms: Mapping[str, Mapping[str, str]],
    out_mgh: Mapping[str, str],
    out_gifti: Mapping[str, str],
    out_maps,
) -> None:
    """Write a subject's decoder weight maps on fsaverage.

    Parameters
    ----------
    subject : subject id
    decoders : stream -> decoder safetensors file (streams ``structural``, ``semantic``)
    betas : the subject's betas file (its ``<stream>_ijk`` coordinates give each decoder input's voxel)
    volume : a func1pt8mm volume of the subject (its shape is the transforms' voxel grid)
    transforms : hemi -> {``layerB1``, ``layerB2``, ``layerB3``, ``white-to-fsaverage``: file}
    out_mgh, out_gifti : hemi -> output file; every map, as frames (MGH) and named arrays (GIFTI)
    out_maps : TSV with :data:`MAP_COLUMNS`, one row per map in frame order

    Maps: each (stream, target)'s weight magnitude and each stream's norm over its targets (``all``),
    mapped cubically at three depths, averaged, nearest neighbour to fsaverage; ``reads_<stream>``, 1 where
    the nearest voxel at one of the vertex's depths is a decoder voxel of the stream; the structural share
    |w_s| / (|w_s| + |w_m|) of the streams' norms where the vertex reads either stream (NaN elsewhere).
    """
    _check_streams(list(decoders))
    shape = nib.load(str(volume)).shape[:3]
    volumes: dict[str, np.ndarray] = {}
    masks: dict[str, np.ndarray] = {}
    infos: list[MapInfo] = []
    for stream, path in decoders.items():
        weights = voxel_target_weights(load_decoder(path))
        ijk = read_voxel_ijk(betas, stream)
        if np.any(ijk < 0) or np.any(ijk >= np.asarray(shape)):
            raise ValueError(f"{betas}: {stream} voxel indices fall outside {volume} of shape {shape}")
        for target, magnitude in {**weights, ALL_TARGETS: np.sqrt(sum(w**2 for w in weights.values()))}.items():
            if len(magnitude) != len(ijk):
                raise ValueError(f"{path}: decoder reads {len(magnitude)} voxels, {betas} holds {len(ijk)} {stream} voxels")
            name = weight_name(stream, target)
            volumes[name] = np.zeros(shape)
            volumes[name][tuple(ijk.T)] = magnitude
            infos.append(MapInfo(name, stream, target, "weight"))
        masks[stream] = np.zeros(shape)
        masks[stream][tuple(ijk.T)] = 1.0
    infos.append(MapInfo(SHARE, "both", "", "share"))
    infos += [MapInfo(member_name(stream), stream, "", "reads") for stream in decoders]

    counts = dict.fromkeys([info.name for info in infos], 0)
    for hemi in HEMISPHERES:
        files = transforms[hemi]
        hemi_transforms = HemisphereTransforms.read({d: files[d] for d in DEPTHS}, files[TO_FSAVERAGE])
        maps = {name: volume_to_fsaverage(vol, hemi_transforms, "cubic") for name, vol in volumes.items()}
        for stream, mask in masks.items():
            nearest = volume_to_native_surface(mask, hemi_transforms.depths, "nearest")
            maps[member_name(stream)] = (native_to_fsaverage(nearest, hemi_transforms.to_fsaverage) > 0).astype(float)
        maps[SHARE] = structural_share(
            maps[weight_name("structural", ALL_TARGETS)], maps[weight_name("semantic", ALL_TARGETS)],
            maps[member_name("structural")] > 0, maps[member_name("semantic")] > 0,
        )
        values = np.column_stack([maps[info.name] for info in infos])
        write_surface_values(values, [info.name for info in infos], out_mgh[hemi], out_gifti[hemi])
        for info in infos:
            column = maps[info.name]
            counts[info.name] += int(np.sum(np.isfinite(column) & (column != 0)))
        both = int(np.sum((maps[member_name("structural")] > 0) & (maps[member_name("semantic")] > 0)))
        logger.info(
            "%s %s: %d native -> %d fsaverage vertices; %d read the structural, %d the semantic decoder, %d both",
            subject, hemi, hemi_transforms.n_native, hemi_transforms.n_fsaverage,
            int(maps[member_name("structural")].sum()), int(maps[member_name("semantic")].sum()), both,
        )
    table = pd.DataFrame(
        [(i, info.name, info.stream, info.target, info.kind, counts[info.name]) for i, info in enumerate(infos)],
        columns=MAP_COLUMNS,
    )
    write_text(out_maps, table.to_csv(sep="\t", index=False))


def _read_maps(gifti: Mapping[str, str]) -> tuple[dict[str, dict[str, np.ndarray]], list[str]]:
    """hemi -> {map name -> values}, and the names in file order."""
    out, names = {}, None
    for hemi in HEMISPHERES:
        values, hemi_names = read_surface_values(gifti[hemi])
        if names is not None and hemi_names != names:
            raise ValueError(f"{gifti[hemi]}: maps {hemi_names} differ from the other hemisphere's {names}")
        names = hemi_names
        out[hemi] = {name: values[:, i] for i, name in enumerate(names)}
    return out, names


def _roi_groups(
    labels: Mapping[str, Mapping[str, str]], ctabs: Mapping[str, str], roi_groups: Mapping[str, Mapping]
) -> dict[str, np.ndarray]:
    tables = {roi: read_ctab(path) for roi, path in ctabs.items()}
    return {
        hemi: vertex_roi_groups({roi: read_fsaverage_label(path) for roi, path in labels[hemi].items()}, tables, roi_groups)
        for hemi in HEMISPHERES
    }


def _weight_targets(names: Sequence[str]) -> list[tuple[str, str]]:
    """(stream, target) of each per-target weight map, in file order."""
    pairs = [tuple(name.split(".", 1)) for name in names if "." in name]
    return [(stream, target) for stream, target in pairs if target != ALL_TARGETS]


def _upper(values: Mapping[str, np.ndarray], quantile: float = 0.99) -> float:
    """A colour-scale top: the ``quantile`` of the finite values of both hemispheres (robust to single vertices)."""
    finite = np.concatenate([v[np.isfinite(v)] for v in values.values()])
    top = float(np.quantile(np.abs(finite), quantile)) if finite.size else 0.0
    return top if top > 0 else 1.0


def run_figure_cortex(
    *,
    subject: str,
    maps: Mapping[str, str],
    labels: Mapping[str, Mapping[str, str]],
    ctabs: Mapping[str, str],
    roi_groups: Mapping[str, Mapping],
    out_png,
    out_pdf,
    title_note: str = "",
) -> None:
    """A subject's decoder weight maps on fsaverage: one row per decoder target, then the structural share.

    Parameters
    ----------
    maps : hemi -> GIFTI written by :func:`run_cortex_maps`
    labels : hemi -> {ROI name -> fsaverage label file}; ctabs : ROI name -> label table
    roi_groups : group -> {ROI -> labels}, in priority order (``figures.roi_groups``), outlined
    """
    values, names = _read_maps(maps)
    rows = []
    for stream, target in _weight_targets(names):
        name = weight_name(stream, target)
        # drawn where the vertex reads the stream (background elsewhere); the files keep every vertex
        row_values = {
            hemi: np.where(values[hemi][member_name(stream)] > 0, values[hemi][name], np.nan) for hemi in HEMISPHERES
        }
        rows.append(SurfaceRow(f"{stream}: {target}", row_values, "magma", 0.0, _upper(row_values),
                               "‖w‖ (mapped)", STREAM_COLOURS.get(stream, "black")))
    rows.append(SurfaceRow("structural share", {hemi: values[hemi][SHARE] for hemi in HEMISPHERES}, SHARE_CMAP,
                           0.0, 1.0, "|w_s| / (|w_s| + |w_m|)"))
    plot_cortex_rows(
        rows, out_png, out_pdf,
        title=f"{subject}: decoder weight magnitude on fsaverage (NSD transforms: cubic at 3 depths, nearest to fsaverage)",
        title_note=title_note, groups=_roi_groups(labels, ctabs, roi_groups), group_names=list(roi_groups),
    )


def run_figure_cortex_subjects(
    *,
    maps: Mapping[str, Mapping[str, str]],
    labels: Mapping[str, Mapping[str, str]],
    ctabs: Mapping[str, str],
    roi_groups: Mapping[str, Mapping],
    out_png,
    out_pdf,
    out_mgh: Mapping[str, str],
    out_gifti: Mapping[str, str],
    out_maps,
    title_note: str = "",
) -> None:
    """Maps compared across subjects: the mean and each subject's deviation from it, on flatmaps and as files.

    Parameters
    ----------
    maps : subject -> hemi -> GIFTI written by :func:`run_cortex_maps`
    labels, ctabs, roi_groups : as :func:`run_figure_cortex`
    out_mgh, out_gifti : hemi -> output file: ``mean <map>`` then ``<subject> deviation <map>`` per subject
    out_maps : TSV listing those maps (frame, name, subject, map)

    Weight maps are compared as relative weights (each divided by its mean over the vertices that read its
    stream, both hemispheres together); the structural share as it is.
    """
    subjects = list(maps)
    compared: dict[str, np.ndarray] = {}
    reads_any: dict[str, np.ndarray] = {}
    names = None
    for subject in subjects:
        values, subject_names = _read_maps(maps[subject])
        targets = _weight_targets(subject_names)
        if names is not None and [weight_name(*t) for t in targets] + [SHARE] != names:
            raise ValueError(f"{subject}: maps {subject_names} differ from the other subjects'")
        names = [weight_name(*t) for t in targets] + [SHARE]
        joined = {name: np.concatenate([values[hemi][name] for hemi in HEMISPHERES]) for name in subject_names}
        columns = [relative_weight(joined[weight_name(s, t)], joined[member_name(s)] > 0) for s, t in targets]
        compared[subject] = np.column_stack([*columns, joined[SHARE]])
        for stream in {s for s, _ in targets}:
            reads_any[stream] = reads_any.get(stream, False) | (joined[member_name(stream)] > 0)
    mean, deviations = across_subjects(compared, names)
    n_lh = len(read_surface_values(maps[subjects[0]]["lh"])[0])

    rows = [("mean", f"mean {name}", name) for name in names]
    rows += [(subject, f"{subject} deviation {name}", name) for subject in subjects for name in names]
    out_names = [row[1] for row in rows]
    stacked = np.column_stack([mean, *[deviations[s] for s in subjects]])
    for hemi, part in (("lh", slice(0, n_lh)), ("rh", slice(n_lh, None))):
        write_surface_values(stacked[part], out_names, out_mgh[hemi], out_gifti[hemi])
    table = pd.DataFrame(
        [(i, name, subject, map_name) for i, (subject, name, map_name) in enumerate(rows)],
        columns=["frame", "name", "subject", "map"],
    )
    write_text(out_maps, table.to_csv(sep="\t", index=False))

    grid = []
    for j, name in enumerate(names):
        is_share = name == SHARE
        stream = name.split(".")[0]
        shown = np.ones(len(mean), bool) if is_share else reads_any[stream]  # where any subject reads the stream

        def split(column: np.ndarray, shown: np.ndarray = shown) -> dict[str, np.ndarray]:
            column = np.where(shown, column, np.nan)
            return {"lh": column[:n_lh], "rh": column[n_lh:]}

        mean_values = split(mean[:, j])
        label = "structural share" if is_share else f"{stream}: {name.split('.', 1)[1]} (relative)"
        mean_cell = SurfaceRow(
            label, mean_values, SHARE_CMAP if is_share else "magma", 0.0, 1.0 if is_share else _upper(mean_values),
            "share" if is_share else "relative ‖w‖", "black" if is_share else STREAM_COLOURS.get(stream, "black"),
        )
        deviation_values = {s: split(deviations[s][:, j]) for s in subjects}
        top = max(_upper(v) for v in deviation_values.values())
        cells = [SurfaceRow(label, deviation_values[s], "RdBu_r", -top, top, "subject − mean", mean_cell.colour)
                 for s in subjects]
        grid.append([mean_cell, *cells])
    plot_flat_grid(
        grid, ["mean over subjects", *[f"{s} − mean" for s in subjects]], out_png, out_pdf,
        title=f"Decoder weights on fsaverage across {len(subjects)} subjects: mean and each subject's deviation",
        title_note=title_note, groups=_roi_groups(labels, ctabs, roi_groups), group_names=list(roi_groups),
    )
