"""Read ``.npy`` files that hold a pickled Python object (``np.save`` of a dict) without trusting them.

THINGS-EEG2 ships its preprocessed data and image metadata as ``np.save`` of a
dict: a 0-d object array whose body is a pickle. ``np.load(allow_pickle=True)``
would run whatever callable the pickle names. :func:`load_pickled_npy` parses
the ``.npy`` header with :mod:`numpy.lib.format` and unpickles the body with
an unpickler that resolves only the globals that array and dtype
reconstruction need (:data:`ALLOWED_GLOBALS`); any other global is refused
with :class:`RefusedPickleError` before it is imported, let alone called.
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

import numpy as np

from nsdrecon.fileformats import CorruptFileError

logger = logging.getLogger(__name__)

__all__ = ["ALLOWED_GLOBALS", "RefusedPickleError", "load_pickled_npy"]

_RECONSTRUCT = np.empty(0).__reduce__()[0]  # numpy's array reconstructor, whichever module holds it
_SCALAR = np.float64(0).__reduce__()[0]  # numpy's scalar reconstructor
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,  # files written with numpy 1.x
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,  # numpy 2.x
    ("numpy.core.multiarray", "scalar"): _SCALAR,
    ("numpy._core.multiarray", "scalar"): _SCALAR,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}
"""(module, name) -> the object a pickle may name: array, dtype and scalar reconstruction only.

Dicts, lists, strings and numbers have their own pickle opcodes and need no global."""


class RefusedPickleError(ValueError):
    """A pickle inside a data file names a global outside :data:`ALLOWED_GLOBALS`."""


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def __init__(self, file, path: Path):
        super().__init__(file)
        self._path = path

    def find_class(self, module: str, name: str):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise RefusedPickleError(
                f"{self._path}: refused to unpickle global {module}.{name}; this file may only hold numpy arrays, "
                "dtypes, dicts, lists and strings (a tampered or foreign file: delete it and fetch it again)"
            ) from None


def load_pickled_npy(path: str | os.PathLike) -> object:
    """The object stored by ``np.save(path, obj)`` for a non-array ``obj`` (e.g. a dict), unpickled safely.

    Parameters
    ----------
    path : path-like
        An ``.npy`` file whose header declares a 0-d object array.

    Returns
    -------
    object
        The stored object (``array.item()``), built only from numpy arrays, dtypes and scalars and
        Python dicts, lists, strings and numbers.

    Raises
    ------
    FileNotFoundError
        No such file.
    RefusedPickleError
        The pickle names any other global (nothing it names is imported or called).
    nsdrecon.fileformats.CorruptFileError
        Not an ``.npy`` file, not a pickled object, or truncated.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f".npy file not found: {path}")
    with open(path, "rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
        except ValueError as error:
            raise CorruptFileError(f"{path}: not a readable .npy file ({error})") from error
        if dtype != np.dtype(object) or shape != ():
            raise CorruptFileError(
                f"{path}: expected a pickled object (a 0-d object array), found an array of dtype {dtype} shape {shape}"
            )
        try:
            stored = _ArrayOnlyUnpickler(f, path).load()
        except RefusedPickleError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
            raise CorruptFileError(f"{path}: truncated or damaged pickle ({type(error).__name__}: {error})") from error
    if not isinstance(stored, np.ndarray) or stored.shape != () or stored.dtype != np.dtype(object):
        raise CorruptFileError(f"{path}: the pickle holds {type(stored).__name__}, not a 0-d object array")
    logger.debug("read %s", path)
    return stored.item()
