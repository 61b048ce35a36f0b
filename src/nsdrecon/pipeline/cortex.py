"""Stages ``figure_cortex`` and ``figure_cortex_subjects``: decoder weights on fsaverage, drawn.

They draw the maps of ``cortex_maps`` (:mod:`nsdrecon.pipeline.cortex_maps`) on inflated views and flatmaps
with the outlines of NSD's fsaverage ROIs; across subjects, each map as a relative weight
(:func:`nsdrecon.cortex.relative_weight`), its mean and each subject's deviation. No torch here: these
stages run in the data environment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..atomic import write_text
from ..cortex import (
    ALL_TARGETS,
    HEMISPHERES,
    SHARE,
    across_subjects,
    member_name,
    read_fsaverage_label,
    read_surface_values,
    relative_weight,
    vertex_roi_groups,
    weight_name,
    write_surface_values,
)
from ..nsd import read_ctab
from ..plotting.cortex import SHARE_CMAP, SurfaceRow, plot_cortex_rows, plot_flat_grid
from ..plotting.style import STREAM_COLOURS

__all__ = ["run_figure_cortex", "run_figure_cortex_subjects"]


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
    maps : hemi -> GIFTI written by :func:`~nsdrecon.pipeline.cortex_maps.run_cortex_maps`
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
    maps : subject -> hemi -> GIFTI written by :func:`~nsdrecon.pipeline.cortex_maps.run_cortex_maps`
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
        n_lh = len(values[HEMISPHERES[0]][subject_names[0]])
        columns = [relative_weight(joined[weight_name(s, t)], joined[member_name(s)] > 0) for s, t in targets]
        compared[subject] = np.column_stack([*columns, joined[SHARE]])
        for stream in {s for s, _ in targets}:
            reads_any[stream] = reads_any.get(stream, False) | (joined[member_name(stream)] > 0)
    mean, deviations = across_subjects(compared, names)

    rows = [("mean", f"mean {name}", name) for name in names]
    rows += [(subject, f"{subject} deviation {name}", name) for subject in subjects for name in names]
    out_names = [row[1] for row in rows]
    stacked = np.column_stack([mean, *[deviations[s] for s in subjects]])
    for hemi, part in zip(HEMISPHERES, np.split(stacked, [n_lh])):
        write_surface_values(part, out_names, out_mgh[hemi], out_gifti[hemi])
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
