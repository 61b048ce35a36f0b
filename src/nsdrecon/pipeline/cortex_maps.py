"""Stage ``cortex_maps``: a subject's decoder weights on fsaverage, with NSD's own transforms.

Each decoder target's per-voxel weight magnitude is mapped from the subject's func1pt8mm volume to
fsaverage with NSD's transforms and recipe (:mod:`nsdrecon.cortex`), and every map is written per
hemisphere as MGH (frames) and GIFTI (named arrays), listed in a TSV. It loads the decoders (torch), so it
runs in the GPU environment; the figure stages (:mod:`nsdrecon.pipeline.cortex`) do not.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import nibabel as nib
import numpy as np
import pandas as pd

from ..atomic import write_text
from ..cortex import (
    ALL_TARGETS,
    DEPTHS,
    HEMISPHERES,
    SHARE,
    TO_FSAVERAGE,
    HemisphereTransforms,
    MapInfo,
    member_name,
    native_to_fsaverage,
    structural_share,
    volume_to_fsaverage,
    volume_to_native_surface,
    weight_name,
    write_surface_values,
)
from ..decoders import load_decoder
from ..interpretability import voxel_target_weights
from .interpretability import read_voxel_ijk

__all__ = ["MAP_COLUMNS", "run_cortex_maps"]

logger = logging.getLogger(__name__)

MAP_COLUMNS = ["frame", "name", "stream", "target", "kind", "n_vertices"]
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
