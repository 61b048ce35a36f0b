"""Volume data on the cortex with NSD's own transforms (``cortex.md``).

* :mod:`~nsdrecon.cortex.transforms`: NSD's transform files (``func1pt8-to-layerB{1,2,3}``,
  ``white-to-fsaverage``) and NSD's mapping recipe (nsdcode ``NSDmapdata.fit``): cubic sampling of the
  func1pt8mm volume at three cortical depths, averaged, then nearest neighbour to fsaverage;
* :mod:`~nsdrecon.cortex.surface_files`: per-vertex values as MGH and GIFTI, fsaverage label files;
* :mod:`~nsdrecon.cortex.labels`: ROI groups on fsaverage, for outlines;
* :mod:`~nsdrecon.cortex.maps`: decoder weight maps on fsaverage, the structural share, and their
  mean and deviations across subjects.
"""

from .labels import vertex_roi_groups
from .maps import ALL_TARGETS, SHARE, MapInfo, across_subjects, member_name, relative_weight, structural_share, weight_name
from .surface_files import (
    FSAVERAGE5_VERTICES,
    FSAVERAGE_VERTICES,
    read_fsaverage_label,
    read_surface_values,
    to_fsaverage5,
    write_fsaverage_label,
    write_surface_values,
)
from .transforms import (
    DEPTH_FRACTIONS,
    DEPTHS,
    HEMISPHERES,
    INTERPOLATIONS,
    TO_FSAVERAGE,
    HemisphereTransforms,
    native_to_fsaverage,
    read_surface_to_fsaverage,
    read_volume_to_surface,
    sample_volume,
    volume_to_fsaverage,
    volume_to_native_surface,
    volume_to_surface_name,
    write_surface_to_fsaverage,
    write_volume_to_surface,
)

__all__ = [
    "ALL_TARGETS",
    "DEPTHS",
    "DEPTH_FRACTIONS",
    "FSAVERAGE5_VERTICES",
    "FSAVERAGE_VERTICES",
    "HEMISPHERES",
    "INTERPOLATIONS",
    "TO_FSAVERAGE",
    "HemisphereTransforms",
    "MapInfo",
    "SHARE",
    "across_subjects",
    "member_name",
    "native_to_fsaverage",
    "read_fsaverage_label",
    "read_surface_to_fsaverage",
    "read_surface_values",
    "read_volume_to_surface",
    "relative_weight",
    "sample_volume",
    "structural_share",
    "to_fsaverage5",
    "volume_to_fsaverage",
    "vertex_roi_groups",
    "volume_to_native_surface",
    "volume_to_surface_name",
    "weight_name",
    "write_fsaverage_label",
    "write_surface_to_fsaverage",
    "write_surface_values",
    "write_volume_to_surface",
]
