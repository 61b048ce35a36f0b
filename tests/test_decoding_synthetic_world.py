"""Decoding in a small synthetic NSD world whose encoding model is known.

The package's generator writes two subjects (each with its own brain geometry)
in NSD's layout; masks and betas come from the package's own readers, as in
the pipeline. Targets are the generator's ground truth: the low-level image
features that drive the structural voxels (a 4 x 16 x 16 grid, standing in for
the VAE latent) and the scene's semantic features that drive the semantic
voxels (standing in for CLIP).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nsdrecon import layout
from nsdrecon.betas import extract_stream_betas
from nsdrecon.decoders import StructuralGenerator, decoding_scores, train_decoder, validation_split
from nsdrecon.masks import stream_masks
from nsdrecon.nsd import read_expdesign, read_roi, read_stimuli
from nsdrecon.ridge import fit_ridge, fit_ridge_low_rank
from nsdrecon.synthetic import ROI_LABELS, TRUTH_FILE, low_level_features, read_truth, write_synthetic_nsd

torch.set_num_threads(1)

SUBJECTS = ["subj01", "subj02"]
WORLD = dict(
    seed=0,
    n_images_per_subject=240,
    n_shared=40,
    trials_per_session=240,
    image_size=32,
    volume_shape=(16, 19, 16),
    snr=1.0,
    n_design_subjects=2,
)
N_SESSIONS = 3 * WORLD["n_images_per_subject"] // WORLD["trials_per_session"]
LABEL_SETS = {  # config/config.yaml masks
    "structural": {"prf-visualrois": ["V1v", "V1d", "V2v", "V2d", "V3v", "V3d", "hV4"], "streams": ["early"]},
    "semantic": {
        "streams": ["ventral", "lateral", "parietal"],
        **{name: "all" for name in ("floc-faces", "floc-bodies", "floc-places", "floc-words")},
    },
}
ALPHAS = np.logspace(0, 5, 6)
CHANCE = 0.5  # two-way identification


def _on_grid(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A mask carried to another subject's grid at the same voxel indices (cropped or zero-padded)."""
    out = np.zeros(shape, dtype=bool)
    common = tuple(slice(0, min(a, b)) for a, b in zip(mask.shape, shape))
    out[common] = mask[common]
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Per subject: train/test betas per mask, true low-level and semantic features of the same rows."""
    root = tmp_path_factory.mktemp("synthetic_world")
    write_synthetic_nsd(root, SUBJECTS, **WORLD)
    design = read_expdesign(root / layout.expdesign())
    masks = {}
    for subject in SUBJECTS:
        rois = {
            name: read_roi(root / layout.roi(subject, name), root / layout.ctab(subject, name)) for name in ROI_LABELS
        }
        masks[subject] = stream_masks(rois, LABEL_SETS, rois["nsdgeneral"])
    # the misaligned template: subj01's structural mask on subj02's grid
    masks["subj02"]["template"] = _on_grid(masks["subj01"]["structural"], masks["subj02"]["structural"].shape)
    data = {}
    for subject in SUBJECTS:
        sessions = [
            root / layout.betas(subject, s, "hdf5", layout.DEFAULT_BETA_VERSION) for s in range(1, N_SESSIONS + 1)
        ]
        ds = extract_stream_betas(
            sessions, design, subject, masks[subject], trials_per_session=WORLD["trials_per_session"]
        )
        ids = ds["nsd_id"].values
        _, semantic, _ = read_truth(root / TRUTH_FILE, subject)
        train, test = ds["split"].values == "train", ds["split"].values == "test"
        targets = {
            "low_level": low_level_features(read_stimuli(root / layout.stimuli(), ids)),
            "semantic": semantic[ids],
        }
        data[subject] = {
            "X": {stream: (ds[stream].values[train], ds[stream].values[test]) for stream in masks[subject]},
            "Y": {name: (value[train], value[test]) for name, value in targets.items()},
        }
    return data


def ridge_scores(data: dict, stream: str, target: str) -> dict[str, float]:
    (X, X_test), (Y, Y_test) = data["X"][stream], data["Y"][target]
    fit = fit_ridge(X, Y.reshape(len(Y), -1), ALPHAS, cv="gcv")
    return decoding_scores(Y_test, fit.predict(X_test).reshape(Y_test.shape))


@pytest.mark.parametrize("subject", SUBJECTS)
def test_streams_decode_their_own_features(world, subject):
    """Both streams recover their features well above chance, and each stream decodes its own features best."""
    scores = {
        (s, t): ridge_scores(world[subject], s, t) for s in ("structural", "semantic") for t in world[subject]["Y"]
    }
    assert scores["structural", "low_level"]["two_way_identification"] > CHANCE + 0.35
    assert scores["semantic", "semantic"]["two_way_identification"] > CHANCE + 0.35
    assert scores["structural", "low_level"]["pearson_r"] > scores["semantic", "low_level"]["pearson_r"] + 0.05
    assert scores["semantic", "semantic"]["pearson_r"] > scores["structural", "semantic"]["pearson_r"] + 0.2


def test_individual_mask_beats_misaligned_template(world):
    """subj02's own structural mask decodes its low-level features better than subj01's mask on subj02's grid."""
    own = ridge_scores(world["subj02"], "structural", "low_level")
    template = ridge_scores(world["subj02"], "template", "low_level")
    assert own["mse"] < 0.9 * template["mse"]
    assert own["pearson_r"] > template["pearson_r"] + 0.01
    assert own["two_way_identification"] > template["two_way_identification"] + 0.01


def test_fine_tuned_generator_at_least_as_good_as_ridge_on_held_out_images(world):
    (X, X_test), (Y, Y_test) = world["subj01"]["X"]["structural"], world["subj01"]["Y"]["low_level"]
    train, _ = validation_split(len(X), 0.15, seed=0)
    fit = fit_ridge_low_rank(X[train], Y[train].reshape(len(train), -1), ALPHAS, rank=64, X_test=X_test)
    model = StructuralGenerator.from_ridge(
        fit, Y.shape[1:], rank=64, hidden=64, n_blocks=1, dropout=0.0, coarse_channels=8, n_upsample=2
    )
    result = train_decoder(
        model, X, {"latent": Y}, val_fraction=0.15, epochs=6, batch_size=32, lr=3e-4, seed=0, device="cpu"
    )
    assert result.history["val_mse"].min() <= result.ridge_val_mse
    with torch.no_grad():
        tuned = result.model(torch.as_tensor(X_test))["latent"].numpy()
    ridge = decoding_scores(Y_test, fit.predict(X_test).reshape(Y_test.shape))
    decoder = decoding_scores(Y_test, tuned)
    assert decoder["mse"] <= 1.02 * ridge["mse"]
    assert decoder["two_way_identification"] >= ridge["two_way_identification"] - 0.02
    assert decoder["two_way_identification"] > CHANCE + 0.35
