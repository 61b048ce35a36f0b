"""Stimulus features with the tiny Versatile Diffusion: shapes, VD's normalisation, HDF5 round trip."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from nsdrecon.feature_files import FEATURE_NAMES, read_features
from nsdrecon.features import compute_stimulus_features
from nsdrecon.models.encoders import encode_clip_image_tokens, encode_clip_text_tokens, encode_vae_latents, latent_batch
from nsdrecon.models import load_versatile_diffusion

torch.set_num_threads(1)

TINY = Path(__file__).resolve().parents[1] / "resources" / "models" / "tiny-versatile-diffusion"
SCALING_FACTOR = json.loads((TINY / "vae" / "config.json").read_text())["scaling_factor"]  # set by training
CAPTIONS = [
    ["a red circle on the left", "a small red disk at the left"],
    ["a blue square"],
    ["the green triangle at the top", "a green triangle", "one triangle in green"],
    ["a large striped star with a grey background"],
    ["an orange ring and a purple cross"],
]


@pytest.fixture(scope="module")
def vd():
    return load_versatile_diffusion(
        TINY,
        random_init=True,
        seed=0,
        components=["vae", "image_encoder", "text_encoder", "tokenizer", "image_processor"],
    )


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(5, 64, 64, 3), dtype=np.uint8)


def test_vae_latents_are_scaled_posterior_means(vd, images):
    latents = encode_vae_latents(vd, images, batch_size=2)
    assert latents.shape == (5, *vd.latent_shape) and latents.dtype == np.float32
    pixels = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        expected = vd.vae.encode(pixels).latent_dist.mean * SCALING_FACTOR
    np.testing.assert_allclose(latents, expected.numpy(), rtol=1e-5, atol=1e-6)


def test_vae_latent_samples_are_seeded_per_image(vd, images):
    """`vae_latent: sample` (the authors' encoders): mean + std·ε, ε from the image's own seed, whatever the batch."""
    mean = latent_batch(vd, images[:3])
    sampled = latent_batch(vd, images[:3], [10, 11, 12])
    np.testing.assert_array_equal(latent_batch(vd, images[1:3], [11, 12]), sampled[1:])
    with torch.no_grad():
        pixels = (torch.from_numpy(images[:1]).permute(0, 3, 1, 2).float() / 127.5 - 1).clamp(-1, 1)
        posterior = vd.vae.encode(pixels).latent_dist
    eps = torch.randn(posterior.mean.shape, generator=torch.Generator().manual_seed(10))
    expected = (posterior.mean + posterior.std * eps) * vd.vae.config.scaling_factor
    np.testing.assert_allclose(sampled[:1], expected.numpy(), rtol=1e-4, atol=1e-5)
    assert np.abs(sampled - mean).mean() > 1e-3


def test_vae_latents_resize_to_model_size(vd, images):
    large = np.repeat(np.repeat(images[:2], 2, axis=1), 2, axis=2)  # 128 x 128, same picture
    small = encode_vae_latents(vd, images[:2], batch_size=2)
    resized = encode_vae_latents(vd, large, batch_size=2)
    assert resized.shape == small.shape
    # downsampling a 2x nearest-upsampled picture gives it back up to interpolation blur
    assert np.abs(resized - small).mean() < 0.5 * np.abs(small - small[::-1]).mean()


def test_clip_image_tokens_follow_vd_normalisation(vd, images):
    tokens = encode_clip_image_tokens(vd, images, batch_size=2)
    assert tokens.shape == (5, *vd.image_tokens) and tokens.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(tokens[:, 0], axis=-1), 1.0, rtol=1e-5)
    # other tokens are not unit norm: the division is by the CLS norm only
    assert np.abs(np.linalg.norm(tokens[:, 1:], axis=-1) - 1).max() > 1e-2
    pixel_values = vd.image_processor(images=list(images), return_tensors="pt").pixel_values
    with torch.no_grad():
        out = vd.image_encoder(pixel_values)
        raw = vd.image_encoder.visual_projection(vd.image_encoder.vision_model.post_layernorm(out.last_hidden_state))
    # the CLS token of VD's context is CLIP's image embedding, normalised
    np.testing.assert_allclose(tokens[:, 0], torch.nn.functional.normalize(out.image_embeds, dim=-1).numpy(), atol=1e-5)
    np.testing.assert_allclose(tokens, (raw / raw[:, :1].norm(dim=-1, keepdim=True)).numpy(), atol=1e-5)


def test_batch_size_does_not_change_features(vd, images):
    np.testing.assert_allclose(
        encode_clip_image_tokens(vd, images, batch_size=1),
        encode_clip_image_tokens(vd, images, batch_size=5),
        atol=1e-5,
    )
    np.testing.assert_allclose(
        encode_clip_text_tokens(vd, CAPTIONS, batch_size=1),
        encode_clip_text_tokens(vd, CAPTIONS, batch_size=4),
        atol=1e-5,
    )


def test_clip_text_tokens_are_normalised_caption_means(vd):
    tokens = encode_clip_text_tokens(vd, CAPTIONS, batch_size=2)
    assert tokens.shape == (5, *vd.text_tokens) and tokens.dtype == np.float32
    singles = encode_clip_text_tokens(vd, [[caption] for caption in CAPTIONS[2]], batch_size=3)
    np.testing.assert_allclose(tokens[2], singles.mean(axis=0), atol=1e-6)
    assert np.abs(singles[0] - singles[1]).max() > 1e-3  # captions differ, so the mean is not trivial
    # one caption: tokens are text_projection(hidden) / |pooled EOS embedding|
    ids = vd.tokenizer(CAPTIONS[1], padding="max_length", max_length=77, return_tensors="pt").input_ids
    with torch.no_grad():
        out = vd.text_encoder(ids)
        raw = vd.text_encoder.text_projection(out.last_hidden_state)
    eos = int((ids[0] == vd.tokenizer.eos_token_id).nonzero()[0])
    np.testing.assert_allclose(tokens[1], (raw / out.text_embeds.norm(dim=-1))[0].numpy(), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(tokens[1, eos]), 1.0, rtol=1e-5)  # the pooled token itself


def test_captions_are_validated(vd):
    with pytest.raises(ValueError, match="at least one caption"):
        encode_clip_text_tokens(vd, [["a"], []], batch_size=2)
    with pytest.raises(ValueError, match="bare string"):
        encode_clip_text_tokens(vd, ["a red circle"], batch_size=2)
    with pytest.raises(ValueError, match="uint8 array of shape"):
        encode_vae_latents(vd, np.zeros((2, 64, 64), np.uint8), batch_size=2)


@pytest.fixture(scope="module")
def feature_file(vd, images, tmp_path_factory):
    path = tmp_path_factory.mktemp("features") / "tiny.h5"
    compute_stimulus_features(vd, images, CAPTIONS, [40, 3, 17, 0, 9], path, batch_size=2)
    return path


def test_feature_file_contents(vd, images, feature_file):
    with h5py.File(feature_file) as h5:
        assert set(h5) == {"nsd_id", *FEATURE_NAMES}
        assert h5["vae_latent"].shape == (5, *vd.latent_shape) and h5["vae_latent"].dtype == np.float32
        assert h5["clip_image"].shape == (5, *vd.image_tokens)
        assert h5["clip_text"].shape == (5, *vd.text_tokens)
        attrs = dict(h5.attrs)
    assert attrs["model_source"] == str(TINY)
    assert bool(attrs["random_init"]) and attrs["seed"] == 0
    assert attrs["image_size"] == 64 and attrs["scaling_factor"] == pytest.approx(SCALING_FACTOR)
    assert attrs["transformers_version"] and attrs["diffusers_version"] and attrs["torch_version"]
    stored = read_features(feature_file, FEATURE_NAMES)
    np.testing.assert_allclose(stored["vae_latent"], encode_vae_latents(vd, images, 5), atol=1e-6)
    np.testing.assert_allclose(stored["clip_image"], encode_clip_image_tokens(vd, images, 5), atol=1e-5)
    np.testing.assert_allclose(stored["clip_text"], encode_clip_text_tokens(vd, CAPTIONS, 5), atol=1e-5)


def test_features_from_nsd_stimuli_file(vd, images, feature_file, tmp_path):
    # an imgBrick holding the five images at 0-based nsd ids 40, 3, 17, 0, 9 (other rows black)
    brick = np.zeros((41, 64, 64, 3), np.uint8)
    brick[[40, 3, 17, 0, 9]] = images
    stimuli = tmp_path / "nsd_stimuli.hdf5"
    with h5py.File(stimuli, "w") as h5:
        h5.create_dataset("imgBrick", data=brick)
    path = tmp_path / "from_file.h5"
    compute_stimulus_features(vd, stimuli, CAPTIONS[::-1], [9, 0, 17, 3, 40], path, batch_size=2)
    from_file = read_features(path, FEATURE_NAMES, nsd_ids=[40, 3, 17, 0, 9])
    from_array = read_features(feature_file, FEATURE_NAMES)
    for name in FEATURE_NAMES:
        np.testing.assert_allclose(from_file[name], from_array[name], atol=1e-5, err_msg=name)


def test_read_features_follows_requested_order(vd, feature_file):
    everything = read_features(feature_file, ["nsd_id", "clip_image"])
    assert everything["nsd_id"].tolist() == [40, 3, 17, 0, 9]
    picked = read_features(feature_file, ["nsd_id", "clip_image", "vae_latent"], nsd_ids=[9, 40, 9, 3])
    assert picked["nsd_id"].tolist() == [9, 40, 9, 3]
    np.testing.assert_array_equal(picked["clip_image"], everything["clip_image"][[4, 0, 4, 1]])
    assert picked["vae_latent"].shape == (4, *vd.latent_shape)


def test_read_features_reports_missing_ids_and_names(feature_file):
    with pytest.raises(ValueError, match=r"2 requested nsd_ids are not in the file: \[5, 99\]"):
        read_features(feature_file, ["clip_text"], nsd_ids=[3, 99, 5])
    with pytest.raises(KeyError, match="no dataset"):
        read_features(feature_file, ["clip_vision"])


def test_compute_rejects_inconsistent_inputs(vd, images, tmp_path):
    with pytest.raises(ValueError, match="unique"):
        compute_stimulus_features(vd, images, CAPTIONS, [1, 2, 3, 3, 4], tmp_path / "x.h5")
    with pytest.raises(ValueError, match="expected 5 caption lists"):
        compute_stimulus_features(vd, images, CAPTIONS[:4], [1, 2, 3, 4, 5], tmp_path / "x.h5")
    with pytest.raises(ValueError, match="expected 5 images"):
        compute_stimulus_features(vd, images[:4], CAPTIONS, [1, 2, 3, 4, 5], tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()
