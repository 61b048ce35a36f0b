"""Readers for THINGS-EEG2 and THINGS-MEG, checked against their formats.

- :mod:`.restricted_pickle`: ``.npy`` files holding a pickled dict, unpickled with only numpy arrays and dtypes allowed.
- :mod:`.images`: THINGS-EEG2's ``image_metadata.npy`` and image folders; concept names and captions.
- :mod:`.eeg2`: THINGS-EEG2's ``sub-XX/preprocessed_eeg_{training,test}.npy``.
- :mod:`.meg`: THINGS-MEG's ``preprocessed_P{n}-epo.fif`` (and its continuation files) with its trial table, split as ATM does.
- :mod:`.sensor_data`: :class:`SensorData`, the in-memory form both readers return.
"""

from nsdrecon.things.eeg2 import EEG_CHANNELS_17, EEG_CHANNELS_63, preprocessed_eeg, read_preprocessed_eeg, subject_archive
from nsdrecon.things.images import IMAGE_SET_FILES, ImageSplit, concept_caption, read_image_metadata
from nsdrecon.things.meg import (
    ThingsMeg,
    epoch_files,
    preprocessed_epochs,
    read_sample_attributes,
    read_things_meg,
    sample_attributes,
)
from nsdrecon.things.restricted_pickle import RefusedPickleError, load_pickled_npy
from nsdrecon.things.sensor_data import SensorData

__all__ = [
    "EEG_CHANNELS_17",
    "EEG_CHANNELS_63",
    "IMAGE_SET_FILES",
    "ImageSplit",
    "RefusedPickleError",
    "SensorData",
    "ThingsMeg",
    "concept_caption",
    "epoch_files",
    "load_pickled_npy",
    "preprocessed_eeg",
    "preprocessed_epochs",
    "read_image_metadata",
    "read_preprocessed_eeg",
    "read_sample_attributes",
    "read_things_meg",
    "sample_attributes",
    "subject_archive",
]
