"""Readers for the Natural Scenes Dataset's files, with their index conventions checked.

- :mod:`.expdesign`: ``nsd_expdesign.mat`` and the per-trial table (1-based indices made explicit).
- :mod:`.rois`: ROI volumes (-1/0/1..N) and ctab label tables.
- :mod:`.betas_io`: one session of int16 betas from HDF5 (T, Z, Y, X) or NIfTI (X, Y, Z, T),
  returned in the same (X, Y, Z) voxel order.
- :mod:`.stimuli`: ``nsd_stim_info_merged.csv``, ``responses.tsv``, ``imgBrick`` images, COCO captions.
"""

from nsdrecon.nsd.betas_io import read_betas_session
from nsdrecon.nsd.expdesign import ExpDesign, read_expdesign, trial_table
from nsdrecon.nsd.rois import RoiVolume, read_ctab, read_roi
from nsdrecon.nsd.stimuli import read_captions, read_responses, read_stim_info, read_stimuli

__all__ = [
    "ExpDesign",
    "RoiVolume",
    "read_betas_session",
    "read_captions",
    "read_ctab",
    "read_expdesign",
    "read_responses",
    "read_roi",
    "read_stim_info",
    "read_stimuli",
    "trial_table",
]
