"""EEG and MEG responses as decoder inputs, and what they say in time and space.

- :mod:`.subjects`: one subject's THINGS-EEG2 or THINGS-MEG data with per-dataset image ids, image files and
  sensor positions (:class:`SubjectResponses`).
- :mod:`.streams`: HAVIR's structural/semantic split carried to time (channel group x time window), repetition
  averaging, and the stream matrices in the layout of the fMRI betas.
- :mod:`.temporal`: sliding-window ridge decoding (two-way identification per window) and decoder activation
  patterns per channel. It fits on torch, so it is imported from its module (``nsdrecon.meeg.temporal``),
  not here: the other two run in the data environment, which has no torch.
"""

from nsdrecon.meeg.streams import StreamSpec, select_window, sensor_dataset, stream_betas, stream_features
from nsdrecon.meeg.subjects import SubjectResponses, read_subject

__all__ = [
    "StreamSpec",
    "SubjectResponses",
    "read_subject",
    "select_window",
    "sensor_dataset",
    "stream_betas",
    "stream_features",
]
