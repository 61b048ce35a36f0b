"""The restricted unpickler of THINGS-EEG2's pickled ``.npy`` files."""

from __future__ import annotations

import builtins
import os
import pickle

import numpy as np
import pytest

from nsdrecon.fileformats import CorruptFileError
from nsdrecon.things.restricted_pickle import RefusedPickleError, load_pickled_npy


def _crafted_npy(path, payload) -> None:
    """An ``.npy`` whose header declares a pickled object and whose body is ``pickle.dumps(payload)``."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "|O", "fortran_order": False, "shape": ()})
        f.write(pickle.dumps(payload, protocol=4))


class _RunsCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _Evaluates:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return builtins.eval, (f"open({str(self.marker)!r}, 'w').close()",)


@pytest.mark.parametrize("payload", [_RunsCommand, _Evaluates], ids=["os.system", "builtins.eval"])
def test_a_crafted_file_carrying_a_callable_is_refused_and_nothing_runs(tmp_path, payload):
    marker = tmp_path / "ran"
    path = tmp_path / "preprocessed_eeg_training.npy"
    _crafted_npy(path, {"preprocessed_eeg_data": payload(marker)})
    with pytest.raises(RefusedPickleError) as error:
        load_pickled_npy(path)
    assert str(path) in str(error.value)
    assert ("system" if payload is _RunsCommand else "builtins.eval") in str(error.value)
    assert not marker.exists()


def test_np_save_of_a_dict_reads_back(tmp_path):
    stored = {
        "data": np.arange(24, dtype=np.float32).reshape(2, 3, 4),
        "ch_names": ["O1", "Oz"],
        "sfreq": np.float64(5),
    }
    np.save(tmp_path / "d.npy", stored, allow_pickle=True)
    loaded = load_pickled_npy(tmp_path / "d.npy")
    assert loaded.keys() == stored.keys() and loaded["ch_names"] == ["O1", "Oz"] and loaded["sfreq"] == 5
    np.testing.assert_array_equal(loaded["data"], stored["data"])


def test_plain_arrays_and_damaged_files_are_named(tmp_path):
    np.save(tmp_path / "plain.npy", np.zeros((2, 3)))
    with pytest.raises(CorruptFileError, match=r"plain\.npy.*float64 shape \(2, 3\)"):
        load_pickled_npy(tmp_path / "plain.npy")
    np.save(tmp_path / "whole.npy", {"a": np.zeros(1000)}, allow_pickle=True)
    (tmp_path / "cut.npy").write_bytes((tmp_path / "whole.npy").read_bytes()[:500])
    with pytest.raises(CorruptFileError, match=r"cut\.npy: truncated"):
        load_pickled_npy(tmp_path / "cut.npy")
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        load_pickled_npy(tmp_path / "missing.npy")
