"""The pixel_ridge baseline on images generated from a planted linear model."""

import numpy as np
import pytest
import torch

from nsdrecon.baseline import PixelRidge, resize_images
from nsdrecon.stats import two_way_identification

torch.set_num_threads(1)


def planted_scenes(n, n_voxels=60, side=32, n_latent=8, snr=1.0, seed=0):
    """Images = grey + smooth patterns weighted by latents z; voxels = z @ M + noise."""
    rng = np.random.default_rng(seed)
    coarse = torch.as_tensor(rng.normal(size=(n_latent, 3, 4, 4)), dtype=torch.float32)
    patterns = torch.nn.functional.interpolate(coarse, size=(side, side), mode="bilinear").permute(0, 2, 3, 1)
    z = rng.normal(size=(n, n_latent))
    images = np.clip(128 + 25 * np.tensordot(z, patterns.numpy(), axes=1), 0, 255).round().astype(np.uint8)
    voxels = z @ rng.normal(size=(n_latent, n_voxels)) + rng.normal(size=(n, n_voxels)) / snr
    return voxels.astype(np.float32), images


def test_resize_images():
    images = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    images[:, :, 16:] = 255
    small = resize_images(images, 8)
    assert small.shape == (2, 8, 8, 3) and small.dtype == np.float32
    np.testing.assert_allclose(small[:, :, :3], 0.0, atol=1e-6)
    np.testing.assert_allclose(small[:, :, 5:], 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="expected a uint8 array"):
        resize_images(images.astype(np.float32), 8)


def test_pca_basis_reconstructs_training_images():
    _, images = planted_scenes(200, seed=1)
    model = PixelRidge(n_components=12, size=16, alphas=[1.0]).fit(np.zeros((200, 3)), images)
    assert model.components.shape == (12, 16 * 16 * 3)
    np.testing.assert_allclose(model.components @ model.components.T, np.eye(12), atol=1e-4)
    target = resize_images(images, 16)
    recon = model.decode(model.encode(images)).astype(np.float32) / 255
    assert np.abs(recon - target).mean() < 0.01  # 8 latent patterns: 12 components capture them


def test_pixel_ridge_identifies_held_out_images(tmp_path):
    X, images = planted_scenes(400, seed=2)
    train, test = slice(0, 300), slice(300, None)
    model = PixelRidge(n_components=16, size=16, alphas=np.logspace(-1, 4, 6), cv=5).fit(X[train], images[train])
    pred = model.predict(X[test])
    assert pred.shape == (100, 16, 16, 3) and pred.dtype == np.uint8
    truth = resize_images(images[test], 16).reshape(100, -1)
    flat = pred.reshape(100, -1).astype(np.float32)
    assert two_way_identification(truth, flat).mean() > 0.7
    pixcorr = [np.corrcoef(t, p)[0, 1] for t, p in zip(truth, flat)]
    assert np.mean(pixcorr) > 0.5

    shuffled = PixelRidge(n_components=16, size=16, alphas=np.logspace(-1, 4, 6)).fit(X[train][::-1], images[train])
    assert two_way_identification(truth, shuffled.predict(X[test]).reshape(100, -1)).mean() < 0.65

    model.save(tmp_path / "pixel_ridge.safetensors")
    back = PixelRidge.load(tmp_path / "pixel_ridge.safetensors")
    assert back.config == model.config
    np.testing.assert_array_equal(back.predict(X[test]), pred)
    np.testing.assert_array_equal(back.ridge.alphas, model.ridge.alphas)


def test_errors_are_named(tmp_path):
    with pytest.raises(ValueError, match="not fitted"):
        PixelRidge().predict(np.zeros((1, 4)))
    X, images = planted_scenes(20, seed=3)
    with pytest.raises(ValueError, match="n_components=30 exceeds"):
        PixelRidge(n_components=30, size=8).fit(X, images)
    with pytest.raises(ValueError, match="20 samples but images has 19"):
        PixelRidge(n_components=4, size=8).fit(X, images[:19])
    with pytest.raises(FileNotFoundError, match="nothing.safetensors"):
        PixelRidge.load(tmp_path / "nothing.safetensors")
