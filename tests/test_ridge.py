"""nsdrecon.ridge against scikit-learn: exact solutions, cross-validation, leave-one-out, streaming."""

import h5py
import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge

from nsdrecon.ridge import RidgeFit, RowSubset, fit_ridge, fit_ridge_low_rank, kfold_splits, load_ridge, save_ridge

torch.set_num_threads(1)


def rel_err(a, b):
    return np.abs(np.asarray(a, dtype=np.float64) - b).max() / np.abs(b).max()


def planted(n, p, t, noise, seed=0):
    """Inputs with uneven offsets and scales; targets = linear map + Gaussian noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * rng.uniform(0.5, 3.0, size=p) + rng.normal(scale=5.0, size=p)
    W = rng.normal(size=(p, t)) / np.sqrt(p)
    Y = X @ W + noise * rng.normal(size=(n, t)) + rng.normal(size=t)
    return X, Y


def ill_conditioned(n, p, seed=0):
    """A design whose singular values span 10 decades (condition number 1e10)."""
    rng = np.random.default_rng(seed)
    k = min(n, p)
    U, _ = np.linalg.qr(rng.normal(size=(n, k)))
    V, _ = np.linalg.qr(rng.normal(size=(p, k)))
    X = (U * np.logspace(2, -8, k)) @ V.T + 3.0
    return X, rng.normal(size=(n, 4)) + 1.0


@pytest.mark.parametrize("n,p", [(60, 150), (200, 30)], ids=["dual_p>n", "primal_n>p"])
@pytest.mark.parametrize("alpha", [1e-2, 1.0, 1e3])
def test_matches_sklearn_raw_inputs(n, p, alpha):
    X, Y = planted(n, p, 6, noise=0.5)
    fit = fit_ridge(X, Y, [alpha], standardize_x=False)
    ref = Ridge(alpha=alpha, fit_intercept=True).fit(X, Y)
    assert rel_err(fit.coef, ref.coef_.T) < 1e-4
    assert rel_err(fit.intercept, ref.intercept_) < 1e-4
    assert rel_err(fit.predict(X), ref.predict(X)) < 1e-4
    assert np.all(fit.alphas == alpha)


@pytest.mark.parametrize("n,p", [(60, 150), (200, 30)], ids=["dual_p>n", "primal_n>p"])
def test_matches_sklearn_standardised_inputs(n, p):
    X, Y = planted(n, p, 5, noise=0.5, seed=1)
    fit = fit_ridge(X, Y, [10.0], standardize_x=True, standardize_y=True)
    Xs = (X - X.mean(0)) / X.std(0)
    ref = Ridge(alpha=10.0).fit(Xs, Y)
    np.testing.assert_allclose(fit.x_mean, X.mean(0), rtol=1e-10)
    np.testing.assert_allclose(fit.x_scale, X.std(0), rtol=1e-10)
    assert rel_err(fit.coef * fit.x_scale[:, None], ref.coef_.T) < 1e-4
    assert rel_err(fit.predict(X), ref.predict(Xs)) < 1e-4


@pytest.mark.parametrize("alpha", [1e-3, 1.0, 1e2])
@pytest.mark.parametrize("n,p", [(120, 80), (60, 80)], ids=["primal", "dual"])
def test_matches_sklearn_ill_conditioned(n, p, alpha):
    X, Y = ill_conditioned(n, p)
    fit = fit_ridge(X, Y, [alpha], standardize_x=False)
    ref = Ridge(alpha=alpha, solver="svd").fit(X, Y)
    assert np.linalg.cond(X - X.mean(0)) > 1e9
    assert rel_err(fit.coef, ref.coef_.T) < 1e-4
    assert rel_err(fit.intercept, ref.intercept_) < 1e-4


def test_kfold_splits_partition_the_samples():
    splits = kfold_splits(23, 5, seed=1)
    tests = np.concatenate([test for _, test in splits])
    np.testing.assert_array_equal(np.sort(tests), np.arange(23))
    for train, test in splits:
        assert len(test) in (4, 5) and len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == 23
    assert not np.array_equal(splits[0][1], kfold_splits(23, 5, seed=2)[0][1])


def single_trial_images(n_images: int, seed: int) -> np.ndarray:
    """Image id of each trial: every image seen 1 to 3 times, trials in random order (like NSD single trials)."""
    rng = np.random.default_rng(seed)
    ids = np.repeat(rng.choice(73000, n_images, replace=False), rng.integers(1, 4, n_images))
    return rng.permutation(ids)


def test_kfold_splits_keep_an_images_trials_in_one_fold():
    images = single_trial_images(31, seed=4)
    splits = kfold_splits(len(images), 5, seed=1, sample_groups=images)
    tests = np.concatenate([test for _, test in splits])
    np.testing.assert_array_equal(np.sort(tests), np.arange(len(images)))
    per_fold = []
    for train, test in splits:
        assert len(np.intersect1d(images[train], images[test])) == 0
        np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(len(images)))
        per_fold.append(len(np.unique(images[test])))
    assert sorted(per_fold) == [6, 6, 6, 6, 7]
    row_splits = kfold_splits(len(images), 5, seed=1)
    assert any(len(np.intersect1d(images[tr], images[te])) for tr, te in row_splits)  # what the groups prevent
    with pytest.raises(ValueError, match="one label per sample"):
        kfold_splits(len(images), 5, seed=1, sample_groups=images[:-1])
    with pytest.raises(ValueError, match="at least 5 sample groups"):
        kfold_splits(6, 5, seed=1, sample_groups=[1, 1, 2, 2, 3, 4])


@pytest.mark.parametrize("grouped", [False, True], ids=["samples", "image_groups"])
def test_kfold_scores_match_brute_force(grouped):
    X, Y = planted(90, 40, 3, noise=2.0, seed=2)
    images = np.random.default_rng(5).permutation(np.repeat(np.arange(30), 3)) if grouped else None
    alphas = [0.1, 10.0, 1e3]
    fit = fit_ridge(X, Y, alphas, cv=4, alpha_per="target", standardize_x=False, seed=7, sample_groups=images)
    expected = np.zeros((len(alphas), Y.shape[1]))
    for a, alpha in enumerate(alphas):
        pred = np.zeros_like(Y)
        for train, test in kfold_splits(len(X), 4, seed=7, sample_groups=images):
            pred[test] = Ridge(alpha=alpha).fit(X[train], Y[train]).predict(X[test])
        expected[a] = 1 - ((Y - pred) ** 2).sum(0) / ((Y - Y.mean(0)) ** 2).sum(0)
    np.testing.assert_allclose(fit.cv_scores, expected, atol=1e-5)
    np.testing.assert_array_equal(fit.alphas, np.asarray(alphas)[expected.argmax(0)])
    np.testing.assert_allclose(fit.target_scores, expected.max(0), atol=1e-5)
    one_alpha = fit_ridge(X, Y, alphas, cv=4, standardize_x=False, seed=7, sample_groups=images)
    np.testing.assert_allclose(one_alpha.target_scores, expected[np.argmax(expected.mean(1))], atol=1e-5)


@pytest.mark.parametrize("cv", ["loo", "gcv"])
def test_single_decomposition_cv_warns_about_repeated_images(cv, caplog):
    X, Y = planted(40, 10, 2, noise=1.0, seed=6)
    images = np.repeat(np.arange(20), 2)
    with caplog.at_level("WARNING", logger="nsdrecon.ridge"):
        fit_ridge(X, Y, [1.0], cv=cv, sample_groups=images)
    assert "samples repeat" in caplog.text and "cv=<folds>" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="nsdrecon.ridge"):
        fit_ridge(X, Y, [1.0], cv=cv, sample_groups=np.arange(40))
    assert caplog.text == ""


@pytest.mark.parametrize("n,p", [(30, 12), (25, 60)], ids=["primal", "dual"])
def test_loo_matches_brute_force(n, p):
    X, Y = planted(n, p, 3, noise=1.0, seed=3)
    alphas = [0.01, 1.0, 100.0]
    fit = fit_ridge(X, Y, alphas, cv="loo", alpha_per="target", scoring="mse", standardize_x=False)
    expected = np.zeros((len(alphas), Y.shape[1]))
    for a, alpha in enumerate(alphas):
        for i in range(n):
            keep = np.arange(n) != i
            pred = Ridge(alpha=alpha).fit(X[keep], Y[keep]).predict(X[i : i + 1])
            expected[a] += (Y[i] - pred[0]) ** 2 / n
    np.testing.assert_allclose(fit.cv_scores, expected, rtol=1e-4)


def test_chosen_alpha_is_best_on_held_out_data():
    """With known noise, the CV choice is (nearly) the best alpha on a large fresh test set."""
    X, Y = planted(1200, 80, 4, noise=2.0, seed=4)
    train, test = slice(0, 200), slice(200, None)
    alphas = np.logspace(-2, 5, 15)
    fit = fit_ridge(X[train], Y[train], alphas, cv=5, scoring="mse")
    Xs_train = (X[train] - X[train].mean(0)) / X[train].std(0)
    Xs_test = (X[test] - X[train].mean(0)) / X[train].std(0)
    test_mse = np.array(
        [((Ridge(alpha=a).fit(Xs_train, Y[train]).predict(Xs_test) - Y[test]) ** 2).mean() for a in alphas]
    )
    chosen = int(np.flatnonzero(alphas == fit.alphas[0])[0])
    assert 0 < test_mse.argmin() < len(alphas) - 1  # the problem has an interior optimum
    assert abs(chosen - test_mse.argmin()) <= 1
    assert test_mse[chosen] <= 1.02 * test_mse.min()
    assert test_mse[chosen] < 0.85 * min(test_mse[0], test_mse[-1])


def test_groups_choose_their_own_alpha():
    """A clean group and a noisy group get different alphas; group score = mean over its targets."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(150, 40))
    W = rng.normal(size=(40, 6)) / np.sqrt(40)
    Y = X @ W + np.repeat([0.05, 5.0], 3) * rng.normal(size=(150, 6))
    groups = np.array(["clean"] * 3 + ["noisy"] * 3)
    alphas = np.logspace(-2, 4, 7)
    fit = fit_ridge(X, Y, alphas, cv=5, groups=groups)
    per_target = fit_ridge(X, Y, alphas, cv=5, alpha_per="target")
    assert fit.cv_scores.shape == (7, 2)
    np.testing.assert_allclose(fit.cv_scores[:, 0], per_target.cv_scores[:, :3].mean(1), rtol=1e-6)
    assert len(set(fit.alphas[:3])) == 1 and len(set(fit.alphas[3:])) == 1
    assert fit.alphas[3] >= 100 * fit.alphas[0]


def test_target_blocks_give_the_same_fit():
    X, Y = planted(80, 30, 11, noise=1.0, seed=6)
    whole = fit_ridge(X, Y, [0.1, 10.0, 1e3], alpha_per="target", target_block=4096)
    blocks = fit_ridge(X, Y, [0.1, 10.0, 1e3], alpha_per="target", target_block=3)
    np.testing.assert_array_equal(whole.alphas, blocks.alphas)
    np.testing.assert_allclose(whole.coef, blocks.coef, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(whole.cv_scores, blocks.cv_scores, rtol=1e-5, atol=1e-7)


def test_restandardized_predictions_use_held_out_statistics():
    X, Y = planted(40, 15, 3, noise=3.0, seed=8)
    plain = fit_ridge(X, Y, [300.0], cv="loo")
    rescaled = fit_ridge(X, Y, [300.0], cv="loo", restandardize_predictions=True)
    Xs = (X - X.mean(0)) / X.std(0)
    loo = np.array(
        [Ridge(alpha=300.0).fit(np.delete(Xs, i, 0), np.delete(Y, i, 0)).predict(Xs[i : i + 1])[0] for i in range(40)]
    )
    expected = (plain.predict(X) - loo.mean(0)) / loo.std(0) * Y.std(0) + Y.mean(0)
    assert rel_err(rescaled.predict(X), expected) < 1e-4
    assert np.all(rescaled.predict(X).std(0) > 1.5 * plain.predict(X).std(0))  # shrinkage undone


def test_save_load_round_trip_and_tensor_predict(tmp_path):
    X, Y = planted(50, 20, 4, noise=1.0, seed=9)
    fit = fit_ridge(X, Y, [1.0, 100.0], groups=[0, 0, 1, 1])
    save_ridge(fit, tmp_path / "ridge.safetensors")
    back = load_ridge(tmp_path / "ridge.safetensors")
    assert isinstance(back, RidgeFit) and back.scoring == fit.scoring and back.cv == "5"
    for name in ("coef", "intercept", "alphas", "cv_scores", "group_index", "x_scale", "target_scores"):
        np.testing.assert_array_equal(getattr(back, name), getattr(fit, name))
    pred_t = back.predict(torch.as_tensor(X, dtype=torch.float32))
    np.testing.assert_allclose(pred_t.numpy(), fit.predict(X), rtol=1e-5, atol=1e-5)
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        load_ridge(tmp_path / "missing.safetensors")


def test_invalid_arguments_are_named():
    X, Y = planted(20, 5, 2, noise=1.0)
    with pytest.raises(ValueError, match="alpha_per must be one of"):
        fit_ridge(X, Y, [1.0], alpha_per="voxel")
    with pytest.raises(ValueError, match="cv must be .loo., .gcv."):
        fit_ridge(X, Y, [1.0], cv=1)
    with pytest.raises(ValueError, match="positive"):
        fit_ridge(X, Y, [0.0])
    with pytest.raises(ValueError, match="20 samples but Y has 19"):
        fit_ridge(X, Y[:19], [1.0])
    with pytest.raises(ValueError, match=r"groups must have shape \(2,\)"):
        fit_ridge(X, Y, [1.0], groups=[0, 1, 2])
    with pytest.raises(ValueError, match="rank must be a positive integer"):
        fit_ridge_low_rank(X, Y, [1.0], rank=0)
    with pytest.raises(ValueError, match="ridge expects 5 input features"):
        fit_ridge_low_rank(X, Y, [1.0], X_test=X[:, :4])


def brute_force_gcv(X, Y, alpha):
    """n ||(I - H) y||^2 / (n - tr H)^2 per target, H the hat matrix with intercept."""
    n = len(X)
    Xc = X - X.mean(0)
    H = np.full((n, n), 1.0 / n) + Xc @ np.linalg.solve(Xc.T @ Xc + alpha * np.eye(X.shape[1]), Xc.T)
    resid = Y - H @ Y
    return n * (resid**2).sum(0) / (n - np.trace(H)) ** 2


@pytest.mark.parametrize("n,p", [(40, 15), (30, 70)], ids=["primal", "dual"])
def test_gcv_matches_brute_force(n, p):
    X, Y = planted(n, p, 3, noise=1.0, seed=10)
    alphas = [0.1, 10.0, 1000.0]
    fit = fit_ridge(X, Y, alphas, cv="gcv", alpha_per="target", scoring="mse", standardize_x=False)
    expected = np.stack([brute_force_gcv(X, Y, a) for a in alphas])
    np.testing.assert_allclose(fit.cv_scores, expected, rtol=1e-4)
    np.testing.assert_array_equal(fit.alphas, np.asarray(alphas)[expected.argmin(0)])
    grouped = fit_ridge(X, Y, alphas, cv="gcv", groups=[0, 0, 1], scoring="mse", standardize_x=False)
    np.testing.assert_allclose(grouped.cv_scores[:, 0], expected[:, :2].mean(1), rtol=1e-4)


def test_gcv_penalises_interpolation():
    """p > n with a tiny alpha: df -> n and GCV explodes, so the reasonable alpha is chosen."""
    X, Y = planted(20, 60, 2, noise=1.0, seed=11)
    fit = fit_ridge(X, Y, [1e-9, 10.0], cv="gcv", alpha_per="target", scoring="mse")
    assert np.all(fit.alphas == 10.0) and np.all(fit.cv_scores[0] > 1e4 * fit.cv_scores[1])


@pytest.mark.parametrize("n,p", [(70, 25), (40, 90)], ids=["primal", "dual"])
@pytest.mark.parametrize("cv,alpha_per", [("gcv", "target"), (4, "group"), ("loo", "target")])
def test_low_rank_fit_at_full_rank_equals_fit_ridge(n, p, cv, alpha_per):
    X, Y = planted(n + 15, p, 30, noise=1.0, seed=12)
    X_test, X, Y = X[n:], X[:n], Y[:n]
    alphas = [0.3, 30.0, 3000.0]
    kwargs = dict(cv=cv, alpha_per=alpha_per, standardize_y=True, restandardize_predictions=True, target_block=7)
    exact = fit_ridge(X, Y, alphas, **kwargs)
    low = fit_ridge_low_rank(X, Y, alphas, X_test=X_test, **kwargs)
    np.testing.assert_array_equal(low.alphas, exact.alphas)
    np.testing.assert_allclose(low.cv_scores, exact.cv_scores, rtol=1e-6)
    assert low.rank == min(n - 1, p, 30) or low.rank == min(n, p, 30)
    assert rel_err(low.test_predictions, exact.predict(X_test)) < 1e-4
    assert rel_err(low.predict(X_test), exact.predict(X_test)) < 1e-4
    assert low.kept_fraction == pytest.approx(1.0)


@pytest.mark.parametrize("n,p", [(80, 20), (50, 120)], ids=["primal", "dual"])
def test_low_rank_factors_are_the_truncated_svd_of_the_ridge_weights(n, p):
    X, Y = planted(n, p, 40, noise=0.5, seed=13)
    exact = fit_ridge(X, Y, [1.0, 100.0], cv="gcv", alpha_per="target")
    low = fit_ridge_low_rank(X, Y, [1.0, 100.0], rank=6, target_block=16)
    W = exact.coef.astype(np.float64) * exact.x_scale[:, None]  # weights on standardised inputs
    P, s, Qt = np.linalg.svd(W, full_matrices=False)
    assert low.a.shape == (p, 6) and low.b.shape == (6, 40)
    np.testing.assert_allclose(low.a @ low.b, (P[:, :6] * s[:6]) @ Qt[:6], atol=1e-4 * s[0])
    assert low.kept_fraction == pytest.approx((s[:6] ** 2).sum() / (s**2).sum(), rel=1e-5)
    np.testing.assert_allclose(low.bias, exact.intercept + exact.x_mean @ exact.coef, rtol=1e-5, atol=1e-5)


def test_low_rank_fit_streams_targets_from_hdf5(tmp_path):
    """Y read from an HDF5 dataset block by block gives the in-memory result."""
    X, Y = planted(60, 100, 50, noise=1.0, seed=14)
    with h5py.File(tmp_path / "features.h5", "w") as f:
        f.create_dataset("y", data=Y.astype(np.float32), chunks=(60, 8))
    with h5py.File(tmp_path / "features.h5", "r") as f:
        streamed = fit_ridge_low_rank(X, f["y"], [1.0, 100.0], X_test=X[:5], rank=10, target_block=8)
    in_memory = fit_ridge_low_rank(X, Y.astype(np.float32), [1.0, 100.0], X_test=X[:5], rank=10)
    np.testing.assert_array_equal(streamed.alphas, in_memory.alphas)
    np.testing.assert_allclose(streamed.test_predictions, in_memory.test_predictions, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(streamed.a @ streamed.b, in_memory.a @ in_memory.b, rtol=1e-4, atol=1e-5)


def test_row_subset_fits_like_the_copied_rows():
    X, Y = planted(80, 30, 3, noise=1.0, seed=8)
    rows = np.sort(np.random.default_rng(0).choice(80, 50, replace=False))
    subset = RowSubset(Y, rows)
    assert subset.shape == (50, Y.shape[1])
    copied = fit_ridge(X[rows], Y[rows], [1.0, 100.0], cv=5, target_block=2)
    streamed = fit_ridge(X[rows], subset, [1.0, 100.0], cv=5, target_block=2)
    np.testing.assert_array_equal(streamed.coef, copied.coef)
    np.testing.assert_array_equal(streamed.alphas, copied.alphas)
    with pytest.raises(IndexError, match="whole columns"):
        subset[:10, :2]
