"""Stream betas: split, repeat averaging, z-scoring and voxel order against hand computations."""

from collections import Counter

import numpy as np
import pytest
import scipy.io
import yaml

from nsdrecon import layout
from nsdrecon.betas import extract_stream_betas, image_rows, load_betas, save_betas
from nsdrecon.masks import stream_masks
from nsdrecon.nsd import (
    read_captions,
    read_expdesign,
    read_responses,
    read_roi,
    read_stim_info,
    read_stimuli,
    trial_table,
)
from nsdrecon.synthetic import ROI_LABELS, make_expdesign, save_expdesign, write_synthetic_nsd
from tests.conftest import ROOT
from tests.nsd_testfiles import nsd_affine, write_betas_pair, write_expdesign

# Subject 2 of a 2-subject design: 6 images, 2 shared (10k 1 and 2), 4 trials per session.
SUBJECTIM = [[7, 11, 20, 21, 22, 23], [11, 7, 30, 31, 32, 33]]
SHAREDIX = [7, 11]
MASTERORDERING = [3, 1, 4, 3, 6, 2, 1, 5, 4, 6, 3, 1, 2, 5, 6, 2]
TPS = 4
N_SESSIONS = 3
SHAPE = (3, 4, 5)
# Hand-derived 0-based nsd id of each trial of subject 2 in sessions 1-3 (1-based chain:
# 10k k -> subjectim[1, k-1] - 1); an off-by-one anywhere gives other ids.
TRIAL_NSD = [29, 10, 30, 29, 32, 6, 10, 31, 30, 32, 29, 10]
SHARED_NSD = {10, 6}
STRUCTURAL = [(2, 0, 4), (0, 1, 2), (1, 3, 0), (2, 3, 1)]
SEMANTIC = [(0, 1, 2), (1, 0, 0), (2, 2, 2), (0, 3, 4), (1, 1, 3)]  # shares (0, 1, 2) with STRUCTURAL


def volume_mask(voxels):
    mask = np.zeros(SHAPE, dtype=bool)
    mask[tuple(np.array(voxels).T)] = True
    return mask


@pytest.fixture
def data(tmp_path):
    design = read_expdesign(write_expdesign(tmp_path / "nsd_expdesign.mat", MASTERORDERING, SUBJECTIM, SHAREDIX))
    rng = np.random.default_rng(0)
    sessions = [rng.integers(-3000, 3000, (*SHAPE, TPS), dtype=np.int16) for _ in range(N_SESSIONS)]
    pairs = [write_betas_pair(tmp_path / "betas", i + 1, betas) for i, betas in enumerate(sessions)]
    return {
        "design": design,
        "sessions": sessions,
        "hdf5": [hdf5 for hdf5, _ in pairs],
        "nifti": [nifti for _, nifti in pairs],
        "masks": {"structural": volume_mask(STRUCTURAL), "semantic": volume_mask(SEMANTIC)},
    }


def trial_matrix(sessions, mask, zscore):
    """(12 trials, voxels) in PSC, computed session by session without the package."""
    blocks = [betas[mask].T.astype(np.float64) / 300 for betas in sessions]
    if zscore == "session":
        blocks = [(b - b.mean(0)) / b.std(0) for b in blocks]
    return np.concatenate(blocks)


def train_standardized(rows, is_train):
    """Brain-Diffuser's z-scoring: mean and std (ddof=1) of the train rows, applied to every row."""
    train = rows[is_train]
    return (rows - train.mean(0)) / train.std(0, ddof=1)


def averaged(trials):
    order = list(dict.fromkeys(TRIAL_NSD))  # first appearance, as Brain-Diffuser
    return order, np.stack([trials[[t for t, nsd in enumerate(TRIAL_NSD) if nsd == image]].mean(0) for image in order])


def test_rows_split_and_repeat_means_match_hand_computation(data):
    ds = extract_stream_betas(
        data["hdf5"], data["design"], "subj02", data["masks"], zscore="none", trials_per_session=TPS
    )
    assert ds["nsd_id"].values.tolist() == [29, 10, 30, 32, 6, 31]
    assert ds["split"].values.tolist() == ["train", "test", "train", "train", "test", "train"]
    assert ds["n_repeats"].values.tolist() == [3, 3, 2, 2, 1, 1]
    # nsd 29 = trials 0, 3 (session 1) and 10 (session 3), voxel (2, 0, 4) = last structural column in xyz order.
    s1, _, s3 = data["sessions"]
    hand = (int(s1[2, 0, 4, 0]) + int(s1[2, 0, 4, 3]) + int(s3[2, 0, 4, 2])) / 3 / 300
    assert ds["structural"].dtype == np.float32
    assert ds["structural"].values[0, 2] == pytest.approx(hand, rel=1e-6)
    np.testing.assert_array_equal(ds["structural_ijk"].values, [(0, 1, 2), (1, 3, 0), (2, 0, 4), (2, 3, 1)])
    for stream, mask in data["masks"].items():
        order, expected = averaged(trial_matrix(data["sessions"], mask, "none"))
        assert order == ds["nsd_id"].values.tolist()
        np.testing.assert_allclose(ds[stream].values, expected, rtol=1e-5)


@pytest.mark.parametrize("n_sessions", [1, 2, 3])
def test_test_split_is_the_shared_images_seen_in_the_chosen_sessions(data, n_sessions):
    ds = extract_stream_betas(
        data["nifti"][:n_sessions], data["design"], 2, data["masks"], zscore="none", trials_per_session=TPS
    )
    seen_shared = set()  # independent: walk the design by hand
    for trial in range(n_sessions * TPS):
        image10k = MASTERORDERING[trial]
        if image10k <= len(SHAREDIX):
            seen_shared.add(SUBJECTIM[1][image10k - 1] - 1)
    test = set(ds["nsd_id"].values[ds["split"].values == "test"].tolist())
    train = set(ds["nsd_id"].values[ds["split"].values == "train"].tolist())
    assert test == seen_shared == ({10} if n_sessions == 1 else {10, 6})
    assert train == set(TRIAL_NSD[: n_sessions * TPS]) - seen_shared


def test_hdf5_and_nifti_sessions_give_identical_datasets(data):
    kwargs = dict(design=data["design"], subject="subj02", masks=data["masks"], trials_per_session=TPS)
    from_hdf5 = extract_stream_betas(data["hdf5"], **kwargs)
    from_nifti = extract_stream_betas(data["nifti"], **kwargs)
    assert from_hdf5.identical(from_nifti)


# Single-trial train rows: one per train trial, in trial order; test images keep one averaged row each,
# placed at their first appearance (nsd 10 first at trial 1, nsd 6 at trial 5).
SINGLE_ROWS_NSD = [29, 10, 30, 29, 32, 6, 31, 30, 32, 29]
SINGLE_ROWS_TRIAL = [0, 1, 2, 3, 4, 5, 7, 8, 9, 10]


def test_single_train_trials_with_session_zscore(data):
    ds = extract_stream_betas(
        data["hdf5"], data["design"], "subj02", data["masks"], train_trials="single", trials_per_session=TPS
    )
    assert ds["nsd_id"].values.tolist() == SINGLE_ROWS_NSD
    assert ds["trial"].values.tolist() == SINGLE_ROWS_TRIAL
    assert ds["n_repeats"].values.tolist() == [1, 3, 1, 1, 1, 1, 1, 1, 1, 1]
    assert ds.attrs["train_trials"] == "single"
    per_trial = trial_matrix(data["sessions"], data["masks"]["semantic"], "session")
    is_test = ds["split"].values == "test"
    np.testing.assert_allclose(
        ds["semantic"].values[~is_test], per_trial[np.array(SINGLE_ROWS_TRIAL)[~is_test]], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(ds["semantic"].values[1], per_trial[[1, 6, 11]].mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ds["semantic"].values[5], per_trial[5], rtol=1e-5, atol=1e-6)


def test_single_train_trials_with_train_zscore(data):
    ds = extract_stream_betas(
        data["nifti"],
        data["design"],
        "subj02",
        data["masks"],
        zscore="train",
        train_trials="single",
        trials_per_session=TPS,
    )
    raw = trial_matrix(data["sessions"], data["masks"]["structural"], "none")
    rows = raw[SINGLE_ROWS_TRIAL]
    rows[1], rows[5] = raw[[1, 6, 11]].mean(0), raw[5]
    is_train = np.array([nsd not in SHARED_NSD for nsd in SINGLE_ROWS_NSD])
    np.testing.assert_allclose(ds["structural"].values, train_standardized(rows, is_train), rtol=1e-5, atol=1e-5)
    train = ds["structural"].values[is_train]
    np.testing.assert_allclose(train.std(0, ddof=1), 1, rtol=1e-5)


def test_session_zscore_then_average(data):
    ds = extract_stream_betas(data["hdf5"], data["design"], "subj02", data["masks"], trials_per_session=TPS)
    _, expected = averaged(trial_matrix(data["sessions"], data["masks"]["structural"], "session"))
    np.testing.assert_allclose(ds["structural"].values, expected, rtol=1e-5, atol=1e-6)


def test_train_zscore_uses_the_train_rows_statistics(data):
    ds = extract_stream_betas(
        data["hdf5"], data["design"], "subj02", data["masks"], zscore="train", trials_per_session=TPS
    )
    order, raw_means = averaged(trial_matrix(data["sessions"], data["masks"]["structural"], "none"))
    is_train = np.array([nsd not in SHARED_NSD for nsd in order])
    np.testing.assert_allclose(ds["structural"].values, train_standardized(raw_means, is_train), rtol=1e-5, atol=1e-5)
    train = ds["structural"].values[ds["split"].values == "train"]
    np.testing.assert_allclose(train.mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(train.std(0, ddof=1), 1, rtol=1e-5)


def test_save_and_load_round_trip(data, tmp_path):
    ds = extract_stream_betas(
        data["hdf5"],
        data["design"],
        "subj02",
        data["masks"],
        trials_per_session=TPS,
        voxel_ijk_affine=nsd_affine(SHAPE),
    )
    path = tmp_path / "out" / "betas.nc"
    save_betas(ds, path)
    betas, nsd_ids = load_betas(path, "semantic", split="test")
    assert betas.dtype == np.float32 and betas.shape == (2, 5)
    assert nsd_ids.tolist() == [10, 6]
    np.testing.assert_array_equal(betas, ds["semantic"].values[[1, 4]])
    all_betas, all_ids = load_betas(path, "structural")
    np.testing.assert_array_equal(all_betas, ds["structural"].values)
    assert all_ids.tolist() == [29, 10, 30, 32, 6, 31]
    with pytest.raises(ValueError, match=r"no stream 'visual'; streams: \['structural', 'semantic'\]"):
        load_betas(path, "visual")
    with pytest.raises(ValueError, match="split must be one of"):
        load_betas(path, "semantic", split="val")


def test_wrong_shaped_session_file_is_named(data, tmp_path):
    wrong, _ = write_betas_pair(tmp_path / "wrong", 2, np.zeros((3, 4, 6, TPS), dtype=np.int16))
    paths = [data["hdf5"][0], wrong]
    with pytest.raises(
        ValueError,
        match=r"wrong/betas_session02\.hdf5: volume is \(X, Y, Z\) = \(3, 4, 6\) but the mask is \(3, 4, 5\)",
    ):
        extract_stream_betas(paths, data["design"], "subj02", data["masks"], trials_per_session=TPS)


def test_sessions_out_of_order_and_bad_options_are_rejected(data):
    with pytest.raises(ValueError, match=r"session_paths\[0\] is .*betas_session02\.hdf5, expected session 1"):
        extract_stream_betas(data["hdf5"][1:], data["design"], "subj02", data["masks"], trials_per_session=TPS)
    with pytest.raises(ValueError, match=r"zscore must be one of \('session', 'train', 'none'\), got 'run'"):
        extract_stream_betas(
            data["hdf5"], data["design"], "subj02", data["masks"], zscore="run", trials_per_session=TPS
        )
    with pytest.raises(ValueError, match=r"train_trials must be one of \('averaged', 'single'\), got 'mean'"):
        extract_stream_betas(
            data["hdf5"], data["design"], "subj02", data["masks"], train_trials="mean", trials_per_session=TPS
        )


def test_synthetic_dataset_end_to_end(tmp_path):
    """The whole reader chain on the synthetic generator's NSD-format files, with the config's mask sets."""
    tps, n_sessions = 45, 2
    write_synthetic_nsd(
        tmp_path,
        ["subj01"],
        n_images_per_subject=60,
        n_shared=10,
        trials_per_session=tps,
        image_size=8,
        n_design_subjects=2,
    )
    mask_config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["masks"]
    rois = {name: read_roi(tmp_path / layout.roi(1, name), tmp_path / layout.ctab(1, name)) for name in ROI_LABELS}
    label_sets = {stream: mask_config[stream] for stream in ("structural", "semantic")}
    masks = stream_masks(rois, label_sets, rois[mask_config["intersect"]], overlap=mask_config["overlap"])
    assert not (masks["structural"] & masks["semantic"]).any()

    design = read_expdesign(tmp_path / layout.expdesign())
    paths = {fmt: [tmp_path / layout.betas(1, s, fmt) for s in range(1, n_sessions + 1)] for fmt in ("hdf5", "nifti")}
    ds = extract_stream_betas(paths["hdf5"], design, "subj01", masks, trials_per_session=tps)
    assert ds.identical(extract_stream_betas(paths["nifti"], design, "subj01", masks, trials_per_session=tps))

    # Independent source for the split: the stim-info rep columns hold 1-based global trial numbers.
    stim_info = read_stim_info(tmp_path / layout.stim_info())
    reps = stim_info[["subject1_rep0", "subject1_rep1", "subject1_rep2"]].to_numpy()
    seen = ((reps >= 1) & (reps <= n_sessions * tps)).any(axis=1)
    test_ids = ds["nsd_id"].values[ds["split"].values == "test"]
    assert set(test_ids.tolist()) == set(np.flatnonzero(seen & stim_info["shared1000"].to_numpy()).tolist())
    assert set(ds["nsd_id"].values.tolist()) == set(np.flatnonzero(seen).tolist())

    trials = trial_table(design, 1, n_sessions, tps)
    responses = read_responses(tmp_path / layout.responses(1))
    np.testing.assert_array_equal(responses["73KID"].to_numpy()[: len(trials)], trials["nsd_id"].to_numpy() + 1)
    assert read_stimuli(tmp_path / layout.stimuli(), test_ids).shape == (len(test_ids), 8, 8, 3)
    annotations = (tmp_path / layout.captions("train2017")).parent
    captions = read_captions(annotations, stim_info, test_ids)
    assert len(captions) == len(test_ids) and all(captions)


@pytest.fixture(scope="module")
def nsd_size_design(tmp_path_factory):
    """A generated ``nsd_expdesign.mat`` with NSD's sizes: 8 subjects x 10,000 images x 3 = 40 sessions x 750."""
    path = tmp_path_factory.mktemp("design") / "nsd_expdesign.mat"
    save_expdesign(path, make_expdesign(np.random.default_rng(3), 10000, 1000, 750, 8))
    return path


@pytest.mark.parametrize("train_trials", ["averaged", "single"])
@pytest.mark.parametrize("subject", [1, 5])
@pytest.mark.parametrize("n_sessions", [1, 20, 37, 40])
def test_nsd_size_split_is_the_shared_images_seen_within_the_sessions(
    nsd_size_design, n_sessions, subject, train_trials
):
    # Independent expectation from the raw arrays, following nsd.md section 3: masterordering[t] is a
    # 1-based index into the subject's 10k list, subjectim holds 1-based 73k ids, sharedix the 1-based
    # 73k ids of the shared images; a trial is a test trial when its image is one of sharedix.
    raw = scipy.io.loadmat(nsd_size_design)
    masterordering, subjectim = raw["masterordering"][0], raw["subjectim"]
    shared_73k = set(raw["sharedix"][0].tolist())
    test_trials_of = Counter()
    train_trials_of = Counter()
    for t in range(n_sessions * 750):
        id_73k = int(subjectim[subject - 1, int(masterordering[t]) - 1])
        if id_73k in shared_73k:
            test_trials_of[id_73k - 1] += 1
        else:
            train_trials_of[id_73k - 1] += 1

    trials = trial_table(read_expdesign(nsd_size_design), subject, n_sessions)
    rows, row_of_trial = image_rows(trials, train_trials)
    test, train = rows[rows["split"] == "test"], rows[rows["split"] == "train"]
    assert dict(zip(test["nsd_id"], test["n_repeats"])) == test_trials_of
    assert len(test) == len(test_trials_of)  # one row per test image
    assert set(train["nsd_id"]) == set(train_trials_of)
    if train_trials == "averaged":
        assert dict(zip(train["nsd_id"], train["n_repeats"])) == train_trials_of and len(train) == len(train_trials_of)
    else:
        assert len(train) == sum(train_trials_of.values()) and set(train["n_repeats"]) == {1}
    # every trial adds to a row showing its own image
    np.testing.assert_array_equal(rows["nsd_id"].to_numpy()[row_of_trial], trials["nsd_id"].to_numpy())
    if n_sessions == 40:  # the whole design: all 1000 shared images, each seen 3 times
        assert len(test) == 1000 and set(test["n_repeats"]) == {3}
    else:
        assert 0 < len(test) < 1000


def test_nsd_size_test_images_are_common_to_subjects_and_train_images_are_not(nsd_size_design):
    design = read_expdesign(nsd_size_design)
    splits = {}
    for subject in (1, 2, 5, 7):
        rows, _ = image_rows(trial_table(design, subject, 37))
        splits[subject] = {split: set(rows.loc[rows["split"] == split, "nsd_id"]) for split in ("train", "test")}
    assert all(splits[s]["test"] == splits[1]["test"] for s in (2, 5, 7))
    assert not splits[1]["train"] & splits[2]["train"]
    assert not splits[1]["train"] & splits[1]["test"]
