"""Ridge-initialised decoders: exact init, low-rank factors, losses, training, I/O, scores."""

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import save_file

from nsdrecon.decoders import (
    SemanticExtractor,
    StructuralGenerator,
    decoding_scores,
    fit_voxel_selected_ridge,
    rank_voxels,
    info_nce,
    load_decoder,
    read_decoder_metadata,
    save_decoder,
    sobel_edges,
    top_decodable_targets,
    train_decoder,
    validation_split,
)
from nsdrecon.ridge import fit_ridge, fit_ridge_low_rank

torch.set_num_threads(1)
LATENT = (4, 8, 8)
SMALL = dict(hidden=32, n_blocks=1, coarse_channels=8, n_upsample=1)


def planted_latents(n, p, nonlinear=1.0, noise=0.3, seed=0):
    """Voxels (n, p) and latents (n, 4, 8, 8) = linear map + a 3-unit quadratic map + noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)).astype(np.float32)
    t = int(np.prod(LATENT))
    W = rng.normal(size=(p, t)) / np.sqrt(p)
    U, V = rng.normal(size=(p, 3)) / np.sqrt(p), rng.normal(size=(3, t))
    Y = X @ W + nonlinear * ((X @ U) ** 2 - 1) @ V + noise * rng.normal(size=(n, t))
    return X, Y.reshape(n, *LATENT).astype(np.float32)


def predict(model, X):
    with torch.no_grad():
        return {k: v.numpy() for k, v in model.eval()(torch.as_tensor(X)).items()}


@pytest.mark.parametrize("p", [30, 400], ids=["p<t", "p>t"])
def test_structural_init_equals_ridge(p):
    X, Y = planted_latents(120, p)
    fit = fit_ridge_low_rank(X, Y.reshape(120, -1), [1.0, 100.0])
    model = StructuralGenerator.from_ridge(fit, LATENT, **SMALL)
    out = predict(model, X)["latent"]
    assert out.shape == (120, *LATENT)
    np.testing.assert_allclose(out.reshape(120, -1), fit.predict(X), atol=1e-4)


def test_semantic_init_equals_ridge():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(90, 50)).astype(np.float32)
    image, text = rng.normal(size=(90, 5, 16)), rng.normal(size=(90, 3, 16))
    image_fit = fit_ridge_low_rank(X, image.reshape(90, -1), [10.0])
    text_fit = fit_ridge_low_rank(X, text.reshape(90, -1), [10.0, 1000.0])
    model = SemanticExtractor.from_ridge(image_fit, text_fit, (5, 16), (3, 16), hidden=16)
    out = predict(model, X)
    np.testing.assert_allclose(out["image"].reshape(90, -1), image_fit.predict(X), atol=1e-4)
    np.testing.assert_allclose(out["text"].reshape(90, -1), text_fit.predict(X), atol=1e-4)
    other_voxels = fit_ridge_low_rank(X * 2.0, text.reshape(90, -1), [10.0])
    with pytest.raises(ValueError, match="not fitted on the same voxels"):
        SemanticExtractor.from_ridge(image_fit, other_voxels, (5, 16), (3, 16))


def test_sobel_edges_of_a_ramp():
    ramp = torch.arange(8.0).repeat(2, 3, 8, 1)  # (2, 3, 8, 8), increasing along x (width)
    edges = sobel_edges(ramp)
    assert edges.shape == (2, 6, 8, 8)
    torch.testing.assert_close(edges[:, :3, :, 1:-1], torch.ones(2, 3, 8, 6))  # d/dx = 1 inside
    torch.testing.assert_close(edges[:, :3, :, 0], torch.full((2, 3, 8), 0.5))  # replicate border
    torch.testing.assert_close(edges[:, 3:], torch.zeros(2, 3, 8, 8))  # d/dy = 0


def test_info_nce_prefers_matched_pairs():
    emb = torch.eye(6) * 3.0
    matched = info_nce(emb, emb, temperature=0.1)
    shuffled = info_nce(emb, emb[torch.tensor([1, 2, 3, 4, 5, 0])], temperature=0.1)
    assert matched < 1e-3 and shuffled > 5.0
    assert torch.isclose(info_nce(emb, emb.roll(1, 0), 0.5), info_nce(emb.roll(1, 0), emb, 0.5))


def test_validation_split_keeps_an_images_trials_together():
    images = np.random.default_rng(0).permutation(np.repeat(np.arange(50), [1, 2, 3, 3, 2] * 10))
    train, val = validation_split(len(images), 0.2, seed=3, sample_groups=images)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(len(images)))
    assert len(np.intersect1d(images[train], images[val])) == 0
    assert len(np.unique(images[val])) == 10  # round(0.2 * 50 images)
    plain_train, plain_val = validation_split(len(images), 0.2, seed=3)
    assert len(plain_val) == round(0.2 * len(images))
    assert len(np.intersect1d(images[plain_train], images[plain_val])) > 0  # what the groups prevent
    with pytest.raises(ValueError, match="shape"):
        validation_split(len(images), 0.2, seed=3, sample_groups=images[:-1])


def test_training_never_returns_worse_than_ridge(tmp_path):
    """With a destructive learning rate every epoch is worse: the ridge init comes back unchanged."""
    X, Y = planted_latents(200, 30, seed=3)
    train, _ = validation_split(200, 0.2, seed=0)
    fit = fit_ridge_low_rank(X[train], Y[train].reshape(len(train), -1), [1.0, 10.0, 100.0])
    model = StructuralGenerator.from_ridge(fit, LATENT, **SMALL)
    before = predict(model, X)["latent"]
    result = train_decoder(
        model,
        X,
        {"latent": Y},
        val_fraction=0.2,
        epochs=3,
        batch_size=32,
        lr=0.5,
        weight_decay=0.0,
        seed=0,
        device="cpu",
        log_path=tmp_path / "loss.tsv",
    )
    assert result.best_epoch == 0
    assert (result.history["val_mse"].iloc[1:] > result.ridge_val_mse).all()
    np.testing.assert_array_equal(predict(result.model, X)["latent"], before)
    logged = pd.read_csv(tmp_path / "loss.tsv", sep="\t")
    assert list(logged.columns) == ["epoch", "train_loss", "val_loss", "val_mse"] and len(logged) == 4
    assert np.isnan(logged["train_loss"][0]) and (logged["train_loss"][1:] > 0).all()
    np.testing.assert_allclose(logged["val_mse"], result.history["val_mse"], rtol=1e-6)


def test_structural_generator_learns_the_nonlinear_part():
    """Fine-tuning beats ridge on a linear + quadratic mapping; held-out identification is far above chance."""
    X, Y = planted_latents(800, 40, seed=0)
    fit_rows, test = np.arange(600), np.arange(600, 800)
    train, _ = validation_split(600, 0.15, seed=0)
    fit = fit_ridge_low_rank(X[train], Y[train].reshape(len(train), -1), np.logspace(-1, 4, 6), cv=5, alpha_per="group")
    model = StructuralGenerator.from_ridge(
        fit, LATENT, hidden=128, n_blocks=2, dropout=0.0, coarse_channels=16, n_upsample=1
    )
    result = train_decoder(
        model,
        X[fit_rows],
        {"latent": Y[fit_rows]},
        val_fraction=0.15,
        epochs=30,
        batch_size=32,
        lr=1e-3,
        weight_decay=0.0,
        seed=0,
        device="cpu",
    )
    assert result.best_epoch > 0 and result.history["val_mse"].min() < 0.5 * result.ridge_val_mse
    tuned = decoding_scores(Y[test], predict(result.model, X[test])["latent"])
    ridge = decoding_scores(Y[test], fit.predict(X[test]))
    assert tuned["mse"] < 0.5 * ridge["mse"]
    assert tuned["two_way_identification"] > 0.95 and tuned["pearson_r"] > ridge["pearson_r"] + 0.2


def test_semantic_extractor_decodes_held_out_tokens():
    X, Y = planted_latents(500, 40, seed=4)  # reuse the planted map: 256 targets = 16 tokens x 16 dims
    tokens = Y.reshape(500, 16, 16)
    image, text = tokens[:, :10], tokens[:, 10:]
    fit_rows, test = np.arange(400), np.arange(400, 500)
    train, _ = validation_split(400, 0.15, seed=1)
    fits = [
        fit_ridge_low_rank(X[train], y[train].reshape(len(train), -1), np.logspace(-1, 4, 6), cv=5, alpha_per="group")
        for y in (image, text)
    ]
    model = SemanticExtractor.from_ridge(*fits, (10, 16), (6, 16), hidden=64, dropout=0.0, contrastive_weight=0.1)
    result = train_decoder(
        model,
        X[fit_rows],
        {"image": image[fit_rows], "text": text[fit_rows]},
        val_fraction=0.15,
        epochs=10,
        batch_size=32,
        lr=1e-3,
        weight_decay=0.0,
        seed=1,
        device="cpu",
    )
    assert result.history["val_mse"].min() <= result.ridge_val_mse
    out = predict(result.model, X[test])
    for name, true in (("image", image[test]), ("text", text[test])):
        assert decoding_scores(true, out[name])["two_way_identification"] > 0.8


def test_save_load_round_trip(tmp_path):
    X, Y = planted_latents(80, 25, seed=5)
    fit = fit_ridge_low_rank(X, Y.reshape(80, -1), [10.0])
    model = StructuralGenerator.from_ridge(fit, LATENT, rank=7, sobel_weight=0.3, seed=4, **SMALL)
    with torch.no_grad():
        model.head.weight.normal_()  # a trained (non-zero) refinement branch must survive the round trip
    path = tmp_path / "structural.safetensors"
    save_decoder(model, path, {"subject": "subj01", "alphas": [10.0]})
    back = load_decoder(path, device="cpu")
    assert isinstance(back, StructuralGenerator) and back.config == model.config and back.linear.rank == 7
    np.testing.assert_array_equal(predict(back, X)["latent"], predict(model, X)["latent"])
    assert read_decoder_metadata(path) == {"subject": "subj01", "alphas": [10.0]}

    semantic = SemanticExtractor(25, (2, 4), (3, 4), hidden=8, learn_temperature=False, temperature=0.2)
    save_decoder(semantic, tmp_path / "semantic.safetensors", {})
    back = load_decoder(tmp_path / "semantic.safetensors")
    assert float(back.log_temperature.exp()) == pytest.approx(0.2)
    np.testing.assert_array_equal(predict(back, X)["text"], predict(semantic, X)["text"])

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not a decoder file"):
        load_decoder(tmp_path / "other.safetensors")
    with pytest.raises(FileNotFoundError, match="absent.safetensors"):
        load_decoder(tmp_path / "absent.safetensors")


def test_decoding_scores():
    rng = np.random.default_rng(6)
    truth = rng.normal(size=(50, 3, 20))
    perfect = decoding_scores(truth, truth)
    assert perfect["pearson_r"] == pytest.approx(1.0) and perfect["two_way_identification"] == 1.0
    assert perfect["mse"] == 0.0
    chance = decoding_scores(truth, rng.normal(size=(50, 3, 20)))
    assert abs(chance["two_way_identification"] - 0.5) < 0.1 and abs(chance["pearson_r"]) < 0.1
    with pytest.raises(ValueError, match="differ in shape"):
        decoding_scores(truth, truth[:, :2])


def test_target_rows_train_like_repeated_targets():
    """Single trials indexing one copy of their image's targets train exactly as the repeated copies do."""
    X_img, Y_img = planted_latents(60, 30, seed=4)
    rows = np.random.default_rng(1).permutation(np.repeat(np.arange(60), 2))  # two trials per image
    X = X_img[rows] + 0.1 * np.random.default_rng(2).normal(size=(len(rows), 30))
    kwargs = dict(val_fraction=0.2, epochs=2, batch_size=16, lr=1e-3, seed=0, device="cpu", sample_groups=rows)
    fit = fit_ridge_low_rank(X, Y_img[rows].reshape(len(rows), -1), [10.0])
    results = [
        train_decoder(StructuralGenerator.from_ridge(fit, LATENT, **SMALL), X, targets, **extra, **kwargs)
        for targets, extra in (({"latent": Y_img[rows]}, {}), ({"latent": Y_img}, {"target_rows": rows}))
    ]
    pd.testing.assert_frame_equal(results[0].history, results[1].history)
    assert results[0].history["val_mse"].iloc[-1] != results[0].history["val_mse"].iloc[0]  # training moved
    for a, b in zip(results[0].model.state_dict().values(), results[1].model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="target_rows must have shape"):
        train_decoder(StructuralGenerator(30, LATENT, **SMALL), X, {"latent": Y_img}, target_rows=rows[:-1], epochs=1)
    with pytest.raises(ValueError, match=r"target 'latent' must have shape \(60,"):
        train_decoder(StructuralGenerator(30, LATENT, **SMALL), X, {"latent": Y_img[:59]}, target_rows=rows, epochs=1)


def test_bad_shapes_are_reported():
    with pytest.raises(ValueError, match="not divisible by 2\\*\\*n_upsample = 4"):
        StructuralGenerator(10, (4, 6, 6), n_upsample=2)
    model = StructuralGenerator(10, LATENT, **SMALL)
    with pytest.raises(ValueError, match="target 'latent' must have shape"):
        train_decoder(model, np.zeros((20, 10)), {"latent": np.zeros((20, 3, 8, 8))}, epochs=1, device="cpu")
    with pytest.raises(ValueError, match="expects 10 voxels"):
        model(torch.zeros(2, 11))


@pytest.mark.parametrize("p,rank", [(30, None), (400, 64), (400, None)], ids=["p<t", "p>t_rank64", "p>n_rank_padded"])
def test_structural_init_equals_low_rank_ridge(p, rank):
    """From a LowRankRidgeFit the decoder starts at its predictions (exact ridge at full rank)."""
    X, Y = planted_latents(120, p)
    exact = fit_ridge(X, Y.reshape(120, -1), [1.0, 100.0], cv="gcv", alpha_per="target")
    low = fit_ridge_low_rank(X, Y.reshape(120, -1), [1.0, 100.0], rank=rank, X_test=X[:10])
    model = StructuralGenerator.from_ridge(low, LATENT, rank=rank, **SMALL)
    out = predict(model, X)["latent"].reshape(120, -1)
    np.testing.assert_allclose(out, low.predict(X), atol=1e-4)
    if rank is None:  # full rank (the layer's rank 256 exceeds the fit's 120: padded with zero directions)
        np.testing.assert_allclose(out, exact.predict(X), atol=1e-4)
        np.testing.assert_allclose(out[:10], low.test_predictions, atol=1e-4)


def planted_voxel_groups(n, n_voxels=300, n_groups=3, per_group=15, informative=12, seed=0):
    """Targets in groups; each group is driven by its own ``informative`` voxels, the rest are noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_voxels))
    drivers = rng.permutation(n_voxels)[: n_groups * informative].reshape(n_groups, informative)
    Y = np.concatenate([X[:, d] @ rng.normal(size=(informative, per_group)) for d in drivers], 1)
    Y += 1.5 * rng.normal(size=Y.shape)
    return X, Y, np.repeat(np.arange(n_groups), per_group), drivers


def test_voxel_selected_ridge_finds_each_groups_voxels():
    X, Y, groups, drivers = planted_voxel_groups(360)
    train, test = np.arange(200), np.arange(200, 360)
    model = fit_voxel_selected_ridge(X[train], Y[train], [0.15, 10.0, 100.0], groups=groups, n_voxels=20, cv=5)
    assert [len(v) for v in model.voxels] == [20, 20, 20]
    for voxels, true in zip(model.voxels, drivers):
        assert np.isin(true, voxels).mean() >= 0.9
    # each group is a plain ridge on its own voxels
    for voxels, targets, fit in zip(model.voxels, model.targets, model.fits):
        np.testing.assert_allclose(model.predict(X[test])[:, targets], fit.predict(X[test][:, voxels]), rtol=1e-6)
    selected = decoding_scores(Y[test], model.predict(X[test]))
    all_voxels = decoding_scores(Y[test], fit_ridge(X[train], Y[train], [0.15, 10.0, 100.0, 1e3]).predict(X[test]))
    assert selected["pearson_r"] > all_voxels["pearson_r"] + 0.05
    mask = model.selection_mask(X.shape[1])
    assert mask.shape == (3, 300) and mask.sum() == 60


def test_voxel_selected_ridge_per_target_and_errors():
    X, Y, _, _ = planted_voxel_groups(120, n_groups=1, per_group=3)
    model = fit_voxel_selected_ridge(X, Y, [0.15], n_voxels=0.1, cv="gcv")
    assert len(model.fits) == 3 and all(len(v) == 30 for v in model.voxels)
    assert all(np.all(f.alphas == 0.15) for f in model.fits)
    np.testing.assert_array_equal(model.target_scores(), [f.target_scores[0] for f in model.fits])
    assert np.all(model.target_scores() > 0.2)  # each target is decodable from its voxels
    with pytest.raises(ValueError, match="n_voxels must give between 1 and 300"):
        fit_voxel_selected_ridge(X, Y, [1.0], n_voxels=0)
    with pytest.raises(ValueError, match=r"groups must have shape \(3,\)"):
        fit_voxel_selected_ridge(X, Y, [1.0], groups=[0, 1])


def test_top_decodable_targets():
    scores = np.array([0.1, np.nan, 0.9, 0.5, -0.2, 0.7, 0.3, 0.8])
    np.testing.assert_array_equal(top_decodable_targets(scores, 0.25), [2, 7])
    np.testing.assert_array_equal(top_decodable_targets(scores, 1.0), np.arange(8))
    with pytest.raises(ValueError, match="fraction"):
        top_decodable_targets(scores, 0.0)


def run_structural_stage(tmp_path, ids, split, cv="gcv"):
    """Write betas and features for ``ids`` (rows, repeats allowed) and run the structural decoder stage."""
    import h5py
    import xarray as xr

    from nsdrecon.betas import save_betas
    from nsdrecon.pipeline.decoding import run_train_decoder
    from nsdrecon.settings import DecoderTraining, RidgeFit

    X, Y = planted_latents(len(ids), 40, seed=7)
    images = np.unique(ids)
    Y = Y[np.searchsorted(images, ids)] if len(images) < len(ids) else Y  # repeats of an image share its features
    dataset = xr.Dataset(
        {"structural": (("image", "voxel_structural"), X)}, coords={"nsd_id": ("image", ids), "split": ("image", split)}
    )
    save_betas(dataset, tmp_path / "betas.nc")
    first = np.unique(ids, return_index=True)[1]
    with h5py.File(tmp_path / "features.h5", "w") as f:
        f["nsd_id"], f["vae_latent"] = ids[first], Y[first]
    outputs = {k: tmp_path / f"structural{suffix}" for k, suffix in (("model", ".safetensors"),
               ("predictions", "_test_predictions.h5"), ("scores", "_scores.tsv"), ("history", "_history.tsv"))}  # fmt: skip
    ridge = RidgeFit(alphas=[1.0, 100.0], cv_folds=3, cv=cv, alpha_per="target", restandardize_predictions=False)
    training = DecoderTraining(epochs=2, batch_size=32, lr=1e-3, weight_decay=0.0, hidden=16, n_blocks=1, rank=32,
                               dropout=0.0, val_fraction=0.2, sobel_weight=0.1, contrastive_weight=0.1, seed=0)  # fmt: skip
    run_train_decoder(betas=tmp_path / "betas.nc", features=tmp_path / "features.h5", stream="structural",
                      targets=["vae_latent"], ridge=ridge, training=training, device="cpu", target_block=100,
                      outputs=outputs)  # fmt: skip
    return Y, outputs


def test_run_train_decoder_writes_scores_next_to_the_decoder(tmp_path):
    """The stage fits the low-rank ridge, fine-tunes, and writes model, predictions, history and scores."""
    from nsdrecon.h5io import load_arrays

    ids = np.random.default_rng(7).permutation(1000)[:150]
    Y, outputs = run_structural_stage(tmp_path, ids, np.where(np.arange(150) < 120, "train", "test"))
    scores = pd.read_csv(outputs["scores"], sep="\t")
    assert list(scores["model"]) == ["ridge", "decoder"] and set(scores["target"]) == {"vae_latent"}
    assert (scores["two_way_identification"] > 0.7).all() and (scores["n_voxels"] == 40).all()
    arrays, _ = load_arrays(outputs["predictions"])
    np.testing.assert_array_equal(arrays["nsd_id"], ids[120:])
    ridge_expected = decoding_scores(Y[120:], arrays["vae_latent_ridge"])
    assert scores.loc[0, "pearson_r"] == pytest.approx(ridge_expected["pearson_r"], rel=1e-6)
    assert isinstance(load_decoder(outputs["model"]), StructuralGenerator)
    assert len(pd.read_csv(outputs["history"], sep="\t")) == 3


def test_single_trials_of_an_image_never_straddle_fit_and_validation(tmp_path, monkeypatch):
    """With one row per trial, the validation split and the ridge's K folds keep each image's trials together."""
    import nsdrecon.decoders.training as training
    import nsdrecon.pipeline.decoding as decoding
    import nsdrecon.ridge as ridge_module

    rng = np.random.default_rng(2)
    train_ids = rng.permutation(np.repeat(rng.choice(1000, 50, replace=False), 3))  # 50 images x 3 trials
    test_ids = rng.choice(np.setdiff1d(np.arange(1000), train_ids), 20, replace=False)
    ids = np.concatenate([train_ids, test_ids])
    split = np.array(["train"] * 150 + ["test"] * 20)
    seen: list[tuple[str, np.ndarray, np.ndarray]] = []

    def spy(name, function, labels_of):
        def wrapper(*args, **kwargs):
            result = function(*args, **kwargs)
            for a, b in [result] if name == "validation" else result:
                seen.append((name, labels_of()[a], labels_of()[b]))
            return result

        return wrapper

    rows_in_fit = {}
    real_fit = decoding.fit_ridge_low_rank

    def fit_spy(X, Y, *args, **kwargs):
        rows_in_fit["ids"] = kwargs["sample_groups"]
        return real_fit(X, Y, *args, **kwargs)

    monkeypatch.setattr(decoding, "fit_ridge_low_rank", fit_spy)
    monkeypatch.setattr(decoding, "validation_split", spy("validation", training.validation_split, lambda: train_ids))
    monkeypatch.setattr(training, "validation_split", spy("validation", training.validation_split, lambda: train_ids))
    monkeypatch.setattr(
        ridge_module, "kfold_splits", spy("fold", ridge_module.kfold_splits, lambda: rows_in_fit["ids"])
    )
    run_structural_stage(tmp_path, ids, split, cv="kfold")
    assert [name for name, _, _ in seen] == ["validation", "fold", "fold", "fold", "validation"]
    for name, fitted, held_out in seen:
        assert len(np.intersect1d(fitted, held_out)) == 0, name


def test_rank_voxels_orders_by_mean_squared_correlation_over_target_blocks():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 25))
    X[:, 7] = 1.0  # constant voxel: last
    Y = X[:, [2, 11]] @ rng.normal(size=(2, 5000)) + rng.normal(size=(40, 5000))  # more targets than one block
    corr = np.corrcoef(X[:, np.arange(25) != 7].T, Y.T)[:24, 24:]
    expected = np.flatnonzero(np.arange(25) != 7)[np.argsort(-(corr**2).mean(1), kind="stable")]
    order = rank_voxels(X, Y)
    np.testing.assert_array_equal(order[:24], expected)
    assert order[-1] == 7 and set(order[:2]) == {2, 11}
