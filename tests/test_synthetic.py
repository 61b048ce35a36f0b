"""The synthetic NSD-format dataset: layout, formats, design rules and a real signal."""

from __future__ import annotations

import json
import time

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import scipy.io

from nsdrecon import layout
from nsdrecon.synthetic import (
    ROI_LABELS,
    TRUTH_FILE,
    low_level_features,
    make_expdesign,
    read_truth,
    save_expdesign,
    write_synthetic_nsd,
)
from nsdrecon.synthetic.behaviour import RESPONSE_COLUMNS
from nsdrecon.synthetic.design import run_trial_counts
from nsdrecon.synthetic.encoding import VOXEL_CLASSES

SUBJECTS = ["subj01", "subj02"]
PARAMS = dict(
    seed=3,
    n_images_per_subject=200,
    n_shared=20,
    trials_per_session=150,
    image_size=32,
    volume_shape=(16, 19, 16),
    snr=0.6,
)
N_SESSIONS = 3 * PARAMS["n_images_per_subject"] // PARAMS["trials_per_session"]
N_STIMULI = PARAMS["n_shared"] + 8 * (PARAMS["n_images_per_subject"] - PARAMS["n_shared"])
VERSION = layout.DEFAULT_BETA_VERSION


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic_nsd")
    written = write_synthetic_nsd(root, SUBJECTS, **PARAMS)
    return root, written


@pytest.fixture(scope="module")
def design(dataset):
    root, _ = dataset
    return scipy.io.loadmat(root / layout.expdesign())


def _volume(path):
    image = nib.load(path)
    return np.asarray(image.dataobj), image


def _check_design_rules(d, n_images, n_shared, trials_per_session, n_subjects):
    masterordering = np.ravel(d["masterordering"])
    subjectim, sharedix = d["subjectim"], np.ravel(d["sharedix"])
    n_sessions = 3 * n_images // trials_per_session
    assert masterordering.shape == (3 * n_images,)
    assert subjectim.shape == (n_subjects, n_images)
    assert d["stimpattern"].shape[:2] == (n_sessions, 12)
    assert d["basiccnt"].shape == (3, n_sessions)
    # every 10k index exactly 3 times, 1-based
    assert np.array_equal(np.bincount(masterordering, minlength=n_images + 1), np.r_[0, np.full(n_images, 3)])
    assert not np.any(masterordering[1:] == masterordering[:-1])
    # shared images first in every subject, non-shared 73k ids disjoint between subjects
    assert np.all(subjectim[:, :n_shared] == sharedix)
    own = subjectim[:, n_shared:].ravel()
    assert len(np.unique(own)) == own.size and not np.isin(own, sharedix).any()
    assert subjectim.min() == 1 and subjectim.max() == n_shared + n_subjects * (n_images - n_shared)
    # shared images spread over sessions, repeats within and across sessions
    session = np.arange(len(masterordering)) // trials_per_session
    assert np.all(np.bincount(session[masterordering <= n_shared], minlength=n_sessions) > 0)
    trials = np.argsort(masterordering, kind="stable").reshape(n_images, 3)
    same_session = session[trials[:, 1:]] == session[trials[:, :-1]]
    assert 0.1 < same_session.mean() < 0.9
    # runs: odd runs one trial more, the rest of the slots blank; basiccnt sums to the session
    assert np.array_equal(d["stimpattern"].sum(axis=2), np.tile(run_trial_counts(trials_per_session), (n_sessions, 1)))
    assert set(np.unique(d["stimpattern"])) == {0, 1}
    assert np.all(d["basiccnt"].sum(axis=0) == trials_per_session)


def test_files_exist_at_layout_keys(dataset):
    root, written = dataset
    expected = {layout.expdesign(), layout.stim_info(), layout.stimuli(), TRUTH_FILE}
    expected |= {layout.captions(split) for split in ("train2017", "val2017")}
    for subject in SUBJECTS:
        expected |= {layout.roi(subject, name) for name in ROI_LABELS}
        expected |= {layout.ctab(subject, name) for name in ROI_LABELS}
        expected |= {layout.brainmask(subject), layout.mean_volume(subject), layout.responses(subject)}
        for session in range(1, N_SESSIONS + 1):
            expected |= {layout.betas(subject, session, fmt, VERSION) for fmt in ("hdf5", "nifti")}
        for hemi in layout.HEMISPHERES:  # surfaces and NSD's surface transforms (tests/test_cortex_synthetic.py)
            expected |= {layout.surface(subject, hemi, name) for name in ("white", "pial")}
            expected |= {layout.transform(subject, hemi, f"func1pt8-to-layerB{d}") for d in (1, 2, 3)}
            expected |= {layout.transform(subject, hemi, "white-to-fsaverage")}
    expected |= {layout.fsaverage_label(hemi, name) for hemi in layout.HEMISPHERES for name in ROI_LABELS}
    expected |= {layout.fsaverage_ctab(name) for name in ROI_LABELS}
    assert sorted(str(p.relative_to(root)) for p in written) == sorted(expected)
    assert all((root / key).is_file() for key in expected)
    assert not list(root.rglob("*.part*")), "temporary files left behind"


def test_betas_hdf5_equals_nifti_transposed(dataset):
    root, _ = dataset
    for subject in SUBJECTS:
        brainmask, mask_image = _volume(root / layout.brainmask(subject))
        shape = brainmask.shape
        affine = np.diag([1.8, 1.8, 1.8, 1.0])
        affine[:3, 3] = -((1 + np.asarray(shape)) / 2 - 1) * 1.8
        for session in range(1, N_SESSIONS + 1):
            nii, image = _volume(root / layout.betas(subject, session, "nifti", VERSION))
            assert nii.dtype == np.int16 and nii.shape == shape + (PARAMS["trials_per_session"],)
            np.testing.assert_allclose(image.affine, affine, atol=1e-5)
            with h5py.File(root / layout.betas(subject, session, "hdf5", VERSION), "r") as f:
                h5 = f["betas"]
                assert h5.dtype == np.int16 and h5.chunks == (PARAMS["trials_per_session"], 1, 1, 1)
                assert h5.shape == (PARAMS["trials_per_session"],) + shape[::-1]
                assert np.array_equal(h5[7], nii[..., 7].T)
                assert np.array_equal(h5[()], nii.transpose(3, 2, 1, 0))
            assert not nii[brainmask == 0].any(), "betas must be zero outside the brain mask"
            assert 50 < np.abs(nii[brainmask > 0]).mean() < 3000, "betas are PSC x 300"
        np.testing.assert_allclose(mask_image.affine, affine, atol=1e-5)


def test_expdesign_follows_nsd_rules(dataset, design):
    _check_design_rules(design, PARAMS["n_images_per_subject"], PARAMS["n_shared"], PARAMS["trials_per_session"], 8)
    root, _ = dataset
    with h5py.File(root / layout.stimuli(), "r") as f:
        brick = f["imgBrick"]
        assert brick.dtype == np.uint8 and brick.shape == (N_STIMULI, 32, 32, 3)
        assert brick[0].std() > 5, "images are not blank"


def test_full_size_expdesign_builds_quickly(tmp_path):
    start = time.perf_counter()
    d = make_expdesign(np.random.default_rng(0), 10000, 1000, 750, 8)
    save_expdesign(tmp_path / "nsd_expdesign.mat", d)
    assert time.perf_counter() - start < 10
    loaded = scipy.io.loadmat(tmp_path / "nsd_expdesign.mat")
    assert loaded["masterordering"].shape == (1, 30000) and loaded["subjectim"].shape == (8, 10000)
    assert loaded["sharedix"].shape == (1, 1000) and loaded["stimpattern"].shape == (40, 12, 75)
    assert loaded["basiccnt"].shape == (3, 40)
    _check_design_rules(loaded, 10000, 1000, 750, 8)
    runs = loaded["stimpattern"].sum(axis=2)
    assert np.all(runs[:, 0::2] == 63) and np.all(runs[:, 1::2] == 62)
    # peer code (brain-diffuser) indexes subjectim with masterordering values straight from loadmat
    peer = scipy.io.loadmat(tmp_path / "nsd_expdesign.mat", squeeze_me=True)
    first = peer["subjectim"][4, peer["masterordering"][0] - 1] - 1
    assert 0 <= first < 73000
    # like NSD: most shared images have been shown by 3/4 of the sessions, nearly all by 37 of 40
    mo = loaded["masterordering"].ravel()
    assert len(np.unique(mo[: 30 * 750][mo[: 30 * 750] <= 1000])) > 800
    assert len(np.unique(mo[: 37 * 750][mo[: 37 * 750] <= 1000])) > 960


def test_expdesign_rejects_partial_sessions():
    with pytest.raises(ValueError, match="whole number of sessions"):
        make_expdesign(np.random.default_rng(0), 100, 10, 70, 8)
    with pytest.raises(ValueError, match="n_shared"):
        make_expdesign(np.random.default_rng(0), 100, 200, 75, 8)


def test_stim_info_matches_design(dataset, design):
    root, _ = dataset
    info = pd.read_csv(root / layout.stim_info(), index_col=0)
    reps = [f"subject{s}_rep{r}" for s in range(1, 9) for r in range(3)]
    assert list(info.columns) == [
        "cocoId",
        "cocoSplit",
        "cropBox",
        "loss",
        "nsdId",
        "flagged",
        "BOLD5000",
        "shared1000",
        *[f"subject{s}" for s in range(1, 9)],
        *reps,
    ]
    assert len(info) == N_STIMULI and np.array_equal(info.index, info["nsdId"])
    assert set(info["cocoSplit"]) == {"train2017", "val2017"} and info["cocoId"].is_unique
    sharedix = design["sharedix"].ravel()
    assert np.array_equal(info["shared1000"].to_numpy(), np.isin(info["nsdId"] + 1, sharedix))
    masterordering = design["masterordering"].ravel()
    for s in range(1, 9):
        ids = design["subjectim"][s - 1] - 1
        assert set(np.flatnonzero(info[f"subject{s}"])) == set(ids)
        trials = info.loc[ids, [f"subject{s}_rep{r}" for r in range(3)]].to_numpy()
        assert np.all(np.diff(trials, axis=1) > 0) and trials.min() >= 1
        # the 1-based trial numbers show exactly that image
        assert np.all(design["subjectim"][s - 1, masterordering[trials - 1] - 1] - 1 == ids[:, None])
        others = np.setdiff1d(np.arange(N_STIMULI), ids)
        assert not info.loc[others, [f"subject{s}_rep{r}" for r in range(3)]].to_numpy().any()


def test_captions_describe_the_scenes(dataset):
    root, _ = dataset
    info = pd.read_csv(root / layout.stim_info(), index_col=0)
    with h5py.File(root / TRUTH_FILE, "r") as f:
        semantic = f["semantic_features"][()]
        names = json.loads(f["semantic_features"].attrs["names"])
    n_checked = 0
    for split in ("train2017", "val2017"):
        coco = json.loads((root / layout.captions(split)).read_text())
        assert set(coco) == {"info", "licenses", "images", "annotations"}
        assert {image["id"] for image in coco["images"]} == set(info.loc[info["cocoSplit"] == split, "cocoId"])
        by_image = pd.DataFrame(coco["annotations"]).groupby("image_id")["caption"].apply(list)
        assert (by_image.map(len) == 5).all()
        assert (by_image.map(lambda c: len(set(c))) == 5).all(), "five differently worded captions"
        nsd_of_coco = dict(zip(info["cocoId"], info["nsdId"]))
        for coco_id, captions in list(by_image.items())[:50]:
            features = dict(zip(names, semantic[nsd_of_coco[coco_id]]))
            words = [
                n.split("=")[1] for n, v in features.items() if v > 0 and n.split("=")[0] in ("colour", "background")
            ]
            for caption in captions:
                assert all(word in caption for word in words), (caption, words)
            n_checked += 1
    assert n_checked == 100


def test_responses_tsv_matches_design(dataset, design):
    root, _ = dataset
    masterordering = design["masterordering"].ravel()
    tps = PARAMS["trials_per_session"]
    for index, subject in enumerate(SUBJECTS, start=1):
        table = pd.read_csv(root / layout.responses(subject), sep="\t")
        assert tuple(table.columns) == RESPONSE_COLUMNS and len(table) == len(masterordering)
        assert (table["SUBJECT"] == index).all()
        assert np.array_equal(table["10KID"], masterordering)
        assert np.array_equal(table["73KID"], design["subjectim"][index - 1, masterordering - 1])
        assert np.array_equal(table["SESSION"], np.arange(len(table)) // tps + 1)
        per_run = table.groupby(["SESSION", "RUN"])["TRIAL"].max().unstack().to_numpy()
        assert np.array_equal(per_run, np.tile(run_trial_counts(tps), (N_SESSIONS, 1)))
        assert np.all(np.diff(table["TIME"]) > 0)
        first_time = ~pd.Series(masterordering).duplicated().to_numpy()
        assert np.array_equal(table["ISOLD"], ~first_time)
        assert (
            table.loc[first_time, "MEMORYRECENT"].isna().all() and (table.loc[~first_time, "MEMORYRECENT"] >= 0).all()
        )
        assert 0.6 < table["ISCORRECT"].mean() < 0.95


def test_roi_volumes_and_label_tables(dataset):
    root, _ = dataset
    for subject in SUBJECTS:
        nsdgeneral, _ = _volume(root / layout.roi(subject, "nsdgeneral"))
        brainmask, _ = _volume(root / layout.brainmask(subject))
        for name, labels in ROI_LABELS.items():
            volume, _ = _volume(root / layout.roi(subject, name))
            assert volume.shape == brainmask.shape
            values = set(np.unique(volume).tolist())
            assert values <= set(range(-1, len(labels) + 1)) and {-1, 0} <= values
            if name in ("nsdgeneral", "prf-visualrois", "streams"):
                assert values == set(range(-1, len(labels) + 1)), f"{name}: every label present"
            else:
                assert len(values) >= 4, f"{name}: at least two labels present"
            assert not (volume >= 0)[brainmask == 0].any(), "cortex lies inside the brain mask"
            ctab = (root / layout.ctab(subject, name)).read_text().splitlines()
            assert ctab == [f"{i} {label}" for i, label in enumerate(("Unknown", *labels))]
            if name != "nsdgeneral" and name != "streams":
                assert (nsdgeneral[volume > 0] == 1).mean() > 0.6, f"{name} mostly inside nsdgeneral"
        prf, _ = _volume(root / layout.roi(subject, "prf-visualrois"))
        assert (nsdgeneral[prf > 0] == 1).all()
        mean, _ = _volume(root / layout.mean_volume(subject))
        assert mean[brainmask > 0].mean() > 5 * mean[brainmask == 0].mean()


def test_subject_geometries_differ(dataset):
    root, _ = dataset
    masks = [_volume(root / layout.roi(s, "nsdgeneral"))[0] == 1 for s in SUBJECTS]
    common = tuple(min(n) for n in zip(*(m.shape for m in masks)))
    a, b = (m[: common[0], : common[1], : common[2]] for m in masks)
    dice = 2 * (a & b).sum() / (a.sum() + b.sum())
    assert masks[0].shape != masks[1].shape or dice < 0.8
    assert dice < 0.8, f"subject masks overlap too well (Dice {dice:.2f}) to test individualised masks"


def test_truth_matches_rois_and_signal_is_real(dataset, design):
    root, _ = dataset
    subject = SUBJECTS[0]
    encoding, semantic, _ = read_truth(root / TRUTH_FILE, subject)
    ijk = tuple(encoding.voxel_ijk.T)
    prf = _volume(root / layout.roi(subject, "prf-visualrois"))[0][ijk]
    streams = _volume(root / layout.roi(subject, "streams"))[0][ijk]
    structural = encoding.voxel_class == VOXEL_CLASSES.index("structural")
    assert np.array_equal(structural, (prf > 0) | (streams == 1))
    assert np.all(np.isfinite(encoding.rf_centre[structural])) and np.all(encoding.rf_size[structural] > 0)

    tps = PARAMS["trials_per_session"]
    masterordering = design["masterordering"].ravel()
    nsd_ids = design["subjectim"][0, masterordering - 1] - 1
    zscored = []
    for session in range(1, N_SESSIONS + 1):
        with h5py.File(root / layout.betas(subject, session, "hdf5", VERSION), "r") as f:
            volume = f["betas"][()].transpose(3, 2, 1, 0)
        betas = volume[ijk].T.astype(np.float64) / 300
        zscored.append((betas - betas.mean(0)) / betas.std(0))
    zscored = np.concatenate(zscored)
    images, inverse = np.unique(nsd_ids, return_inverse=True)
    averaged = np.zeros((len(images), zscored.shape[1]))
    np.add.at(averaged, inverse, zscored)
    averaged /= np.bincount(inverse)[:, None]
    with h5py.File(root / layout.stimuli(), "r") as f:
        predicted = encoding.predict(low_level_features(f["imgBrick"][images]), semantic[images])

    def correlation(a, b):
        a, b = a - a.mean(0), b - b.mean(0)
        return (a * b).sum(0) / np.sqrt((a**2).sum(0) * (b**2).sum(0))

    r = correlation(predicted[:, structural], averaged[:, structural])
    assert np.median(r) > 0.4, f"structural voxels: median r {np.median(r):.2f}"
    semantic_voxels = encoding.voxel_class == VOXEL_CLASSES.index("semantic")
    assert np.median(correlation(predicted[:, semantic_voxels], averaged[:, semantic_voxels])) > 0.4
    # a voxel's prediction fits its own betas far better than another structural voxel's betas
    shuffled = correlation(predicted[:, structural], np.roll(averaged[:, structural], 7, axis=1))
    assert np.median(r) > np.median(shuffled) + 0.2


def test_subject_data_do_not_depend_on_other_subjects(dataset, tmp_path):
    root, _ = dataset
    params = dict(PARAMS, n_images_per_subject=100, n_shared=10, trials_per_session=300)
    alone = write_synthetic_nsd(tmp_path / "alone", ["subj02"], **params)
    together = write_synthetic_nsd(tmp_path / "together", SUBJECTS, **params)
    assert len(together) > len(alone)
    for key in (
        layout.betas("subj02", 1, "hdf5", VERSION),
        layout.roi("subj02", "streams"),
        layout.responses("subj02"),
    ):
        assert (tmp_path / "alone" / key).read_bytes() == (tmp_path / "together" / key).read_bytes(), key
    with pytest.raises(ValueError, match="subj01..subj02"):
        write_synthetic_nsd(tmp_path / "bad", ["subj03"], **params, n_design_subjects=2)
