"""nsd_expdesign.mat reading and the trial table: the 1-based index chain."""

import numpy as np
import pytest
import scipy.io

from nsdrecon.nsd import read_expdesign, trial_table
from tests.nsd_testfiles import write_expdesign

# 2 subjects x 6 images, 2 shared (73k ids 7 and 11, 1-based), 4 trials per session.
SUBJECTIM = [[7, 11, 20, 21, 22, 23], [11, 7, 30, 31, 32, 33]]
SHAREDIX = [7, 11]
MASTERORDERING = [3, 1, 4, 3, 6, 2, 1, 5, 4, 6, 3, 1, 2, 5, 6, 2]


@pytest.fixture
def design_path(tmp_path):
    return write_expdesign(tmp_path / "nsd_expdesign.mat", MASTERORDERING, SUBJECTIM, SHAREDIX)


def test_read_expdesign_keeps_one_based_int64_vectors(design_path):
    design = read_expdesign(design_path)
    assert design.masterordering.dtype == np.int64 and design.masterordering.shape == (16,)
    np.testing.assert_array_equal(design.masterordering, MASTERORDERING)
    np.testing.assert_array_equal(design.subjectim, SUBJECTIM)
    np.testing.assert_array_equal(design.sharedix, SHAREDIX)
    assert design.n_shared == 2


def test_trial_table_follows_the_one_based_chain(design_path):
    table = trial_table(read_expdesign(design_path), "subj02", n_sessions=3, trials_per_session=4)
    # Hand-derived: 10k index k -> subjectim[1, k-1] - 1 = {1: 10, 2: 6, 3: 29, 4: 30, 5: 31, 6: 32}.
    assert table["nsd_id"].tolist() == [29, 10, 30, 29, 32, 6, 10, 31, 30, 32, 29, 10]
    assert table["trial"].tolist() == list(range(12))
    assert table["session"].tolist() == [1] * 4 + [2] * 4 + [3] * 4
    assert table["image10k"].tolist() == MASTERORDERING[:12]
    assert table.loc[table["shared"], "nsd_id"].tolist() == [10, 6, 10, 10]


def test_trial_table_subject_one_uses_its_own_row(design_path):
    table = trial_table(read_expdesign(design_path), 1, n_sessions=1, trials_per_session=4)
    assert table["nsd_id"].tolist() == [19, 6, 20, 19]


def test_trial_table_rejects_more_sessions_than_planned(design_path):
    with pytest.raises(ValueError, match="20 trials, but the design plans only 16"):
        trial_table(read_expdesign(design_path), 1, n_sessions=5, trials_per_session=4)


def test_trial_table_rejects_unknown_subject(design_path):
    with pytest.raises(ValueError, match="subjects 1..2"):
        trial_table(read_expdesign(design_path), "subj03", n_sessions=1, trials_per_session=4)


def test_zero_based_masterordering_is_rejected_naming_the_file(tmp_path):
    path = write_expdesign(tmp_path / "bad.mat", np.array(MASTERORDERING) - 1, SUBJECTIM, SHAREDIX)
    with pytest.raises(ValueError, match=r"bad\.mat: 'masterordering' must hold 1-based indices 1..6, found 0..5"):
        read_expdesign(path)


def test_shared_images_must_lead_every_subject(tmp_path):
    subjectim = [SUBJECTIM[0], [30, 7, 11, 31, 32, 33]]
    path = write_expdesign(tmp_path / "d.mat", MASTERORDERING, subjectim, SHAREDIX)
    with pytest.raises(ValueError, match=r"subject 2's first 2 images"):
        read_expdesign(path)


def test_missing_key_is_named(tmp_path):
    path = tmp_path / "d.mat"
    scipy.io.savemat(path, {"masterordering": np.ones((1, 3))})
    with pytest.raises(ValueError, match=r"missing \['subjectim', 'sharedix'\]"):
        read_expdesign(path)


def test_index_beyond_the_subject_list_is_rejected(tmp_path):
    masterordering = list(MASTERORDERING)
    masterordering[4] = 7  # subjects have 6 images
    path = write_expdesign(tmp_path / "d.mat", masterordering, SUBJECTIM, SHAREDIX)
    with pytest.raises(ValueError, match=r"d\.mat: 'masterordering' must hold 1-based indices 1..6, found 1..7"):
        read_expdesign(path)


def test_fractional_indices_and_matrix_vectors_are_rejected(tmp_path):
    path = write_expdesign(tmp_path / "frac.mat", np.array(MASTERORDERING) + 0.5, SUBJECTIM, SHAREDIX)
    with pytest.raises(ValueError, match=r"frac\.mat: 'masterordering' must hold whole numbers"):
        read_expdesign(path)
    path = tmp_path / "matrix.mat"
    scipy.io.savemat(
        path,
        {
            "masterordering": np.array(MASTERORDERING, dtype=float).reshape(4, 4),
            "subjectim": np.array(SUBJECTIM, dtype=float),
            "sharedix": np.array(SHAREDIX, dtype=float)[None, :],
        },
    )
    with pytest.raises(
        ValueError, match=r"matrix\.mat: 'masterordering' must be a vector \(1, n\), found shape \(4, 4\)"
    ):
        read_expdesign(path)


def test_zero_based_subjectim_and_missing_file_are_reported(tmp_path):
    path = write_expdesign(tmp_path / "d.mat", MASTERORDERING, np.array(SUBJECTIM) - 7, np.array(SHAREDIX) - 7)
    with pytest.raises(ValueError, match=r"'subjectim' must hold 1-based indices >= 1, found 0..26"):
        read_expdesign(path)
    with pytest.raises(FileNotFoundError, match=r"experiment design not found: .*absent\.mat"):
        read_expdesign(tmp_path / "absent.mat")
