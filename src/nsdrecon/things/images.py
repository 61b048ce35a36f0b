"""THINGS-EEG2's image set: ``image_metadata.npy`` and the concept folders it indexes.

The image set (OSF ``y63gw``, :data:`OSF_PROJECT`) is kept under ``image_set/`` (:data:`IMAGE_SET`) of the
dataset root, where OSF's three files (:data:`IMAGE_SET_FILES`) are put; the folders may stay zipped
(``training_images.zip`` beside ``training_images/``)::

    training_images/<concept_dir>/<file>.jpg    1654 concepts x 10 images
    test_images/<concept_dir>/<file>.jpg        200 concepts x 1 image
    image_metadata.npy                          np.save of a dict

``image_metadata.npy`` holds, per split (``train``, ``test``), three lists of
one entry per image, in the order of the EEG files' image axis:
``{split}_img_concepts`` (the concept folder, ``00001_aardvark``, numbered
within the split), ``{split}_img_files`` (``aardvark_01b.jpg``) and
``{split}_img_concepts_THINGS`` (the same concept numbered among THINGS' 1854,
``00010_aircraft_carrier``). It is read with
:func:`nsdrecon.things.restricted_pickle.load_pickled_npy`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .restricted_pickle import load_pickled_npy

__all__ = [
    "IMAGE_FOLDERS",
    "IMAGE_METADATA",
    "IMAGE_SET",
    "IMAGE_SET_FILES",
    "OSF_PROJECT",
    "SPLITS",
    "ImageSplit",
    "concept_caption",
    "concept_name",
    "metadata_keys",
    "read_image_metadata",
]

SPLITS = ("train", "test")
IMAGE_FOLDERS = {"train": "training_images", "test": "test_images"}
IMAGE_SET = "image_set"
IMAGE_METADATA = f"{IMAGE_SET}/image_metadata.npy"
"""The metadata file, relative to the dataset root."""
IMAGE_SET_FILES = (IMAGE_METADATA, *(f"{IMAGE_SET}/{folder}.zip" for folder in IMAGE_FOLDERS.values()))
"""The image set's files on OSF, relative to the dataset root: the metadata and the two zipped folders."""
OSF_PROJECT = "y63gw"
"""The OSF project of the image set."""


def metadata_keys(split: str) -> tuple[str, str, str]:
    """The dict keys of one split in ``image_metadata.npy``: concepts, files, THINGS concepts."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return f"{split}_img_concepts", f"{split}_img_files", f"{split}_img_concepts_THINGS"


def concept_name(concept_dir: str) -> str:
    """The readable concept of a numbered folder name: ``00010_aircraft_carrier`` -> ``aircraft carrier``."""
    number, _, name = concept_dir.partition("_")
    if not number.isdigit() or not name:
        raise ValueError(f"not a numbered concept folder (NNNNN_name): {concept_dir!r}")
    return name.replace("_", " ")


def concept_caption(concept: str) -> str:
    """The text a concept is shown as (no captions ship with THINGS): ``a photo of {concept}``."""
    return f"a photo of {concept}"


@dataclass(frozen=True, eq=False)
class ImageSplit:
    """One split of the image set, one entry per image in the EEG files' order.

    Attributes
    ----------
    split : str
        ``train`` or ``test``.
    concept_dirs, files, things_concepts : ndarray of str, shape (n_images,)
        ``{split}_img_concepts``, ``{split}_img_files``, ``{split}_img_concepts_THINGS``.
    """

    split: str
    concept_dirs: np.ndarray
    files: np.ndarray
    things_concepts: np.ndarray

    def __len__(self) -> int:
        return len(self.files)

    @property
    def image_files(self) -> np.ndarray:
        """Paths relative to the image-set folder: ``training_images/<concept_dir>/<file>``, shape (n_images,)."""
        folder = IMAGE_FOLDERS[self.split]
        return np.asarray([f"{folder}/{c}/{f}" for c, f in zip(self.concept_dirs, self.files)])

    @property
    def concepts(self) -> np.ndarray:
        """Readable concept of each image, shape (n_images,)."""
        return np.asarray([concept_name(c) for c in self.concept_dirs])


def read_image_metadata(path: str | os.PathLike) -> dict[str, ImageSplit]:
    """Read ``image_metadata.npy`` (safely) into one :class:`ImageSplit` per split.

    Raises
    ------
    ValueError
        A key missing, entries that are not strings, or lists of unequal length, naming the file and what was found.
    nsdrecon.things.restricted_pickle.RefusedPickleError, nsdrecon.fileformats.CorruptFileError
        From :func:`~nsdrecon.things.restricted_pickle.load_pickled_npy`.
    """
    stored = load_pickled_npy(path)
    if not isinstance(stored, dict):
        raise ValueError(f"{path}: expected a dict, found {type(stored).__name__}")
    splits = {}
    for split in SPLITS:
        keys = metadata_keys(split)
        missing = [key for key in keys if key not in stored]
        if missing:
            raise ValueError(f"{path}: missing keys {missing}; found {sorted(map(str, stored))}")
        columns = []
        for key in keys:
            values = np.asarray(stored[key])
            if values.ndim != 1 or not all(isinstance(v, str) for v in values.tolist()):
                raise ValueError(f"{path}: {key} must be a list of strings, found {values.dtype} shape {values.shape}")
            columns.append(values.astype(str))
        lengths = {key: len(column) for key, column in zip(keys, columns)}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"{path}: the {split} lists differ in length: {lengths}")
        splits[split] = ImageSplit(split, *columns)
    return splits
