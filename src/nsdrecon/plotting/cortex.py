"""Figures of maps on fsaverage: inflated views and flatmaps with ROI outlines.

Meshes: fsaverage5's inflated, flat and sulcal-depth files bundled with nilearn (offline, no fetch at run
time). A map on fsaverage (163,842 vertices) is drawn at its first 10,242 vertices, which are
fsaverage5's (:func:`nsdrecon.cortex.to_fsaverage5`). Inflated views are drawn by nilearn
(``plot_surf_stat_map``, outlines by ``plot_surf_contours``); the flatmap (both hemispheres side by side,
the left one on the left, occipital poles towards the middle, medial wall cut away) by matplotlib's
``tripcolor``/``tricontour`` on nilearn's flat meshes.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LinearSegmentedColormap, Normalize
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from nilearn import plotting

from nsdrecon.cortex import HEMISPHERES, to_fsaverage5
from nsdrecon.plotting.style import (
    FULL_WIDTH_IN,
    STREAM_COLOURS,
    paper_style,
    save_figure,
    set_title,
)

__all__ = ["INFLATED_VIEWS", "SHARE_CMAP", "SurfaceRow", "fsaverage5_meshes", "plot_cortex_rows", "plot_flat_grid"]

logger = logging.getLogger(__name__)

INFLATED_VIEWS = ("lateral", "medial", "ventral")
_NILEARN_HEMI = {"lh": "left", "rh": "right"}
_FLAT_GAP = 20.0  # mm between the hemispheres on the flatmap
_BACKGROUND = "#D9D9D9"
SHARE_CMAP = LinearSegmentedColormap.from_list(
    "structural_share", [STREAM_COLOURS["semantic"], "#F7F7F7", STREAM_COLOURS["structural"]]
)
"""0 (semantic only) -> 1 (structural only)."""


@dataclass(frozen=True)
class _Mesh:
    coordinates: np.ndarray
    faces: np.ndarray


@functools.cache
def fsaverage5_meshes() -> dict[str, dict[str, _Mesh]]:
    """``{hemi: {"inflated", "flat": mesh}, "sulc": {hemi: array}}`` from nilearn's bundled fsaverage5."""
    from nilearn.datasets import load_fsaverage, load_fsaverage_data

    meshes = load_fsaverage("fsaverage5")
    sulc = load_fsaverage_data(mesh="fsaverage5", mesh_type="inflated", data_type="sulcal")
    out = {
        hemi: {
            kind: _Mesh(np.asarray(meshes[kind].parts[side].coordinates), np.asarray(meshes[kind].parts[side].faces))
            for kind in ("inflated", "flat")
        }
        for hemi, side in _NILEARN_HEMI.items()
    }
    out["sulc"] = {hemi: np.asarray(sulc.data.parts[side]) for hemi, side in _NILEARN_HEMI.items()}
    return out


@dataclass(frozen=True)
class SurfaceRow:
    """One map to draw: values per hemisphere (fsaverage or fsaverage5), colour map and scale, labels.

    ``values`` may hold NaN where the map is undefined (drawn as background).
    """

    label: str
    values: Mapping[str, np.ndarray]
    cmap: object
    vmin: float
    vmax: float
    colorbar_label: str = ""
    colour: str = "black"


def _flat_offsets() -> dict[str, float]:
    meshes = fsaverage5_meshes()
    lh, rh = (meshes[h]["flat"].coordinates[:, 0] for h in HEMISPHERES)
    return {"lh": 0.0, "rh": float(lh.max() - rh.min() + _FLAT_GAP)}


def _draw_flat(ax: Axes, values: Mapping[str, np.ndarray], groups, group_colours, cmap, norm) -> None:
    """Both hemispheres' flat meshes side by side: the map, NaN as background, group outlines."""
    meshes = fsaverage5_meshes()
    offsets = _flat_offsets()
    for hemi in HEMISPHERES:
        mesh = meshes[hemi]["flat"]
        x, y = mesh.coordinates[:, 0] + offsets[hemi], mesh.coordinates[:, 1]
        data = to_fsaverage5(values[hemi]).astype(float)
        undefined = ~np.isfinite(data)
        ax.tripcolor(x, y, mesh.faces, np.zeros(len(x)), cmap=LinearSegmentedColormap.from_list("bg", [_BACKGROUND] * 2),
                     shading="flat", rasterized=True)
        mask = undefined[mesh.faces].any(axis=1)
        if not mask.all():
            ax.tripcolor(x, y, mesh.faces, np.where(undefined, 0.0, data), mask=mask, cmap=cmap, norm=norm,
                         shading="gouraud", rasterized=True)
        if groups is not None:
            hemi_groups = to_fsaverage5(groups[hemi])
            for number, colour in group_colours.items():
                inside = (hemi_groups == number).astype(float)
                if 0 < inside[np.unique(mesh.faces)].sum():
                    ax.tricontour(x, y, mesh.faces, inside, levels=[0.5], colors=[colour], linewidths=0.5)
    ax.set_aspect("equal")
    ax.set_axis_off()


def _draw_inflated(fig: Figure, ax, hemi: str, view: str, values: np.ndarray, groups, group_colours, cmap, vmin, vmax):
    meshes = fsaverage5_meshes()
    mesh = meshes[hemi]["inflated"]
    nl_mesh = (mesh.coordinates, mesh.faces)
    data = to_fsaverage5(values).astype(float)
    plotting.plot_surf_stat_map(
        nl_mesh, np.where(np.isfinite(data), data, np.nan), bg_map=meshes["sulc"][hemi], hemi=_NILEARN_HEMI[hemi],
        view=view, axes=ax, figure=fig, colorbar=False, cmap=cmap, vmin=vmin, vmax=vmax, symmetric_cbar=False,
        bg_on_data=False,
    )
    if groups is not None:
        hemi_groups = to_fsaverage5(groups[hemi])
        present = [number for number in group_colours if (hemi_groups == number).any()]
        if present:
            plotting.plot_surf_contours(
                nl_mesh, hemi_groups, levels=present, colors=[group_colours[n] for n in present], axes=ax, figure=fig,
            )
    ax.set_title("")  # nilearn titles each axes with the figure's title
    for collection in ax.collections:  # 20,000 triangles per view: pixels in the PDF, not vectors
        collection.set_rasterized(True)
    ax.set_box_aspect(None, zoom=1.35)


def _group_colours(group_names: Sequence[str]) -> dict[int, str]:
    import seaborn as sns

    palette = sns.color_palette("tab20", n_colors=max(len(group_names), 1)).as_hex()
    return {number: palette[number - 1] for number in range(1, len(group_names) + 1)}


def _legend(fig: Figure, group_names: Sequence[str], colours: Mapping[int, str]) -> None:
    handles = [Line2D([], [], color=colours[i], lw=1.2, label=name) for i, name in enumerate(group_names, start=1)]
    if handles:
        fig.legend(handles=handles, loc="lower center", ncols=min(len(handles), 9), frameon=False, fontsize=6,
                   title="ROI outlines (NSD's fsaverage labels)", title_fontsize=6, handlelength=1.2)


def plot_cortex_rows(
    rows: Sequence[SurfaceRow],
    out_png: str | os.PathLike,
    out_pdf: str | os.PathLike,
    *,
    title: str,
    title_note: str = "",
    groups: Mapping[str, np.ndarray] | None = None,
    group_names: Sequence[str] = (),
) -> Figure:
    """One row per map: left and right inflated lateral, medial, ventral views, then the flatmap of both.

    Parameters
    ----------
    rows : the maps (:class:`SurfaceRow`)
    out_png, out_pdf : output files (written atomically)
    title, title_note : figure title and its second line
    groups : hemi -> int (n_vertices,), ROI group numbers 1..G (0 none) whose borders are outlined
    group_names : the G group names, for the legend
    """
    if not rows:
        raise ValueError("no maps to draw")
    colours = _group_colours(group_names)
    n_3d = 2 * len(INFLATED_VIEWS)
    with paper_style():
        fig = Figure(figsize=(FULL_WIDTH_IN, 1.05 * len(rows) + 1.3))
        set_title(fig, title, title_note)
        grid = fig.add_gridspec(
            len(rows) + 1, n_3d + 3, width_ratios=[1] * n_3d + [2.3, 0.08, 0.05], height_ratios=[0.18] + [1] * len(rows),
            left=0.06, right=0.93, top=1 - (0.55 + 0.15 * title_note.count(" ") // 12) / fig.get_figheight(),
            bottom=0.55 / fig.get_figheight(), wspace=0.02, hspace=0.12,
        )
        headers = [f"{hemi} {view}" for hemi in HEMISPHERES for view in INFLATED_VIEWS] + ["flatmap (lh | rh)"]
        for col, header in enumerate(headers):
            ax = fig.add_subplot(grid[0, col])
            ax.set_axis_off()
            ax.text(0.5, 0.0, header, ha="center", va="bottom", fontsize=6.5, transform=ax.transAxes)
        for r, row in enumerate(rows, start=1):
            for c, (hemi, view) in enumerate((h, v) for h in HEMISPHERES for v in INFLATED_VIEWS):
                ax = fig.add_subplot(grid[r, c], projection="3d")
                _draw_inflated(fig, ax, hemi, view, row.values[hemi], groups, colours, row.cmap, row.vmin, row.vmax)
            ax = fig.add_subplot(grid[r, n_3d])
            norm = Normalize(row.vmin, row.vmax)
            _draw_flat(ax, row.values, groups, colours, row.cmap, norm)
            cax = fig.add_subplot(grid[r, n_3d + 2])
            bar = fig.colorbar(ScalarMappable(norm, row.cmap), cax=cax)
            bar.ax.tick_params(labelsize=5.5)
            bar.set_label(row.colorbar_label, fontsize=6)
            label_ax = fig.add_subplot(grid[r, 0], frameon=False)
            label_ax.set_axis_off()
            label_ax.text(-0.08, 0.5, row.label, rotation=90, ha="right", va="center", fontsize=7, color=row.colour,
                          transform=label_ax.transAxes)
        _legend(fig, group_names, colours)
        save_figure(fig, out_png, out_pdf)
    logger.info("cortex maps (%d rows) -> %s", len(rows), out_png)
    return fig


def plot_flat_grid(
    grid_rows: Sequence[Sequence[SurfaceRow]],
    column_titles: Sequence[str],
    out_png: str | os.PathLike,
    out_pdf: str | os.PathLike,
    *,
    title: str,
    title_note: str = "",
    groups: Mapping[str, np.ndarray] | None = None,
    group_names: Sequence[str] = (),
) -> Figure:
    """A grid of flatmaps (both hemispheres each): rows of maps, each cell with its own colour scale.

    The first column gets a colour bar of its own; the other columns of a row share the last cell's scale
    (one colour bar at the right), as the deviations from a mean do.
    """
    if not grid_rows or any(len(row) != len(column_titles) for row in grid_rows):
        raise ValueError(f"every row needs one map per column ({len(column_titles)})")
    colours = _group_colours(group_names)
    n = len(column_titles)
    with paper_style():
        fig = Figure(figsize=(FULL_WIDTH_IN, 0.95 * len(grid_rows) + 1.4))
        set_title(fig, title, title_note)
        widths = [1, 0.05, 0.22] + [1] * (n - 1) + [0.05]
        grid = fig.add_gridspec(
            len(grid_rows), len(widths), width_ratios=widths, left=0.07, right=0.93,
            top=1 - 0.75 / fig.get_figheight(), bottom=0.6 / fig.get_figheight(), wspace=0.05, hspace=0.25,
        )
        columns = [0] + list(range(3, 3 + n - 1))
        for r, row in enumerate(grid_rows):
            for c, (column, cell) in enumerate(zip(columns, row)):
                ax = fig.add_subplot(grid[r, column])
                norm = Normalize(cell.vmin, cell.vmax)
                _draw_flat(ax, cell.values, groups, colours, cell.cmap, norm)
                ax.set_title(cell.label if r else f"{column_titles[c]}\n{cell.label}", fontsize=6.5, color=cell.colour)
                if c == 0 or c == n - 1:
                    cax = fig.add_subplot(grid[r, 1 if c == 0 else len(widths) - 1])
                    bar = fig.colorbar(ScalarMappable(norm, cell.cmap), cax=cax)
                    bar.ax.tick_params(labelsize=5.5)
                    bar.set_label(cell.colorbar_label, fontsize=6)
        _legend(fig, group_names, colours)
        save_figure(fig, out_png, out_pdf)
    logger.info("flatmap grid (%d x %d) -> %s", len(grid_rows), n, out_png)
    return fig
