"""ROI groups on fsaverage from NSD's surface labels (for outlines on the cortex figures)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["vertex_roi_groups"]


def vertex_roi_groups(
    labels: Mapping[str, np.ndarray],
    tables: Mapping[str, Mapping[int, str]],
    groups: Mapping[str, Mapping[str, list[str] | str]],
) -> np.ndarray:
    """Each vertex's ROI group, numbered 1..G in the order of ``groups`` (the first group holding it), 0 for none.

    Parameters
    ----------
    labels : ROI name -> int array (n_vertices,), 0 unlabelled, 1..N (:func:`read_fsaverage_label`)
    tables : ROI name -> {value: label name} (the ROI's ctab)
    groups : group -> {ROI name -> label names or ``"all"``}, in priority order (``figures.roi_groups``)

    Returns
    -------
    int64 array (n_vertices,)
    """
    sizes = {len(values) for values in labels.values()}
    if len(sizes) != 1:
        raise ValueError(f"label files disagree on the vertex count: {sorted(sizes)}")
    out = np.zeros(sizes.pop(), dtype=np.int64)
    for number, (group, selection) in enumerate(groups.items(), start=1):
        inside = np.zeros(len(out), dtype=bool)
        for roi, names in selection.items():
            if roi not in labels:
                raise ValueError(f"ROI group {group!r}: no fsaverage label file for {roi!r}; have {sorted(labels)}")
            if names == "all":
                inside |= labels[roi] > 0
                continue
            by_name = {name: value for value, name in tables[roi].items()}
            unknown = [name for name in names if name not in by_name]
            if unknown:
                raise ValueError(f"ROI group {group!r}: {roi} has no label(s) {unknown}; it has {list(by_name)}")
            inside |= np.isin(labels[roi], [by_name[name] for name in names])
        out[inside & (out == 0)] = number
    return out
