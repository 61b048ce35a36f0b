"""MindDiffuser over the tiny Stable Diffusion and CLIP ViT-B/32: stage 1 img2img and stage 2 refinement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nsdrecon.diffusion import MindDiffuserReconstructor, complete_text_conditioning
from nsdrecon.models import EMBEDDING, ClipLayerFeatures
from nsdrecon.models.encoders import sd_text_batch
from nsdrecon.models import ModelWeightsNotFound, load_clip_vision, load_stable_diffusion

torch.set_num_threads(1)

MODELS = Path(__file__).resolve().parents[1] / "resources" / "models"
STEPS = 8  # strength 0.75 keeps the last 6


@pytest.fixture(scope="module")
def sd():
    return load_stable_diffusion(MODELS / "tiny-stable-diffusion", random_init=True, seed=0)


@pytest.fixture(scope="module")
def clip_features():
    vision = load_clip_vision(MODELS / "tiny-clip-vit-base-patch32", random_init=True, seed=0)
    return ClipLayerFeatures(vision, layers=[2, 4])


@pytest.fixture(scope="module")
def md(sd, clip_features):
    return MindDiffuserReconstructor(sd, clip_features)


@pytest.fixture(scope="module")
def inputs(sd):
    rng = np.random.default_rng(3)
    text = (0.5 * rng.standard_normal((3, *sd.text_tokens))).astype(np.float32)
    latents = rng.standard_normal((3, *sd.latent_shape)).astype(np.float32)
    return text, latents


def test_tiny_sd_has_the_sd_classes_and_shapes(sd):
    assert type(sd.unet).__name__ == "UNet2DConditionModel"
    assert type(sd.text_encoder).__name__ == "CLIPTextModel"
    assert type(sd.scheduler).__name__ == "DDIMScheduler"
    assert sd.image_size == 64 and sd.latent_shape == (4, 16, 16) and sd.text_tokens == (77, 64)
    assert sd.vae_scale_factor == 4 and sd.unet.config.cross_attention_dim == 64
    assert not any(p.requires_grad for p in sd.unet.parameters())


def test_missing_model_names_the_path_and_the_hub_id(tmp_path):
    with pytest.raises(ModelWeightsNotFound, match="CompVis/stable-diffusion-v1-4") as caught:
        load_stable_diffusion(tmp_path / "nothing", random_init=True)
    assert str(tmp_path / "nothing") in str(caught.value)


def test_sd_text_is_the_mean_over_captions(sd):
    both = sd_text_batch(sd, [["red circle", "blue square"]])
    each = sd_text_batch(sd, [["red circle"], ["blue square"]])
    assert both.shape == (1, *sd.text_tokens)
    np.testing.assert_allclose(both[0], each.mean(0), rtol=1e-5, atol=1e-6)


def test_complete_text_conditioning_appends_the_tail():
    head = np.ones((2, 15, 32), np.float32)
    tail = np.zeros((62, 32), np.float32)
    full = complete_text_conditioning(head, tail)
    assert full.shape == (2, 77, 32)
    assert full[:, :15].min() == 1 and full[:, 15:].max() == 0
    with pytest.raises(ValueError, match="do not fit"):
        complete_text_conditioning(head, np.zeros((62, 16), np.float32))


def test_stage1_same_seed_is_bit_identical_other_seed_differs(md, inputs):
    text, latents = inputs
    a = md.generate(text, latents, seeds=[1, 2, 3], num_inference_steps=STEPS, output_type="latent")
    b = md.generate(text, latents, seeds=[1, 2, 3], num_inference_steps=STEPS, output_type="latent")
    c = md.generate(text, latents, seeds=[4, 2, 3], num_inference_steps=STEPS, output_type="latent")
    assert np.array_equal(a, b)
    assert not np.allclose(a[0], c[0]) and np.array_equal(a[1:], c[1:])


def test_stage1_image_does_not_depend_on_its_batch(md, inputs):
    text, latents = inputs
    batch = md.generate(text, latents, seeds=[1, 2, 3], num_inference_steps=STEPS, output_type="latent")
    alone = md.generate(text[1:2], latents[1:2], seeds=[2], num_inference_steps=STEPS, output_type="latent")
    np.testing.assert_allclose(batch[1:2], alone, rtol=1e-4, atol=1e-5)


def test_stage1_strength_zero_decodes_the_latent(md, sd, inputs):
    text, latents = inputs
    images = md.generate(text, latents, seeds=[1, 2, 3], strength=0.0, num_inference_steps=STEPS)
    with torch.no_grad():
        pixels = sd.vae.decode(torch.from_numpy(latents) / sd.vae.config.scaling_factor).sample
    expected = ((pixels / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    assert images.dtype == np.uint8 and images.shape == (3, 64, 64, 3)
    assert np.abs(images.astype(int) - expected.astype(int)).max() <= 1


def test_stage1_without_structure_ignores_the_latent(md, inputs):
    text, latents = inputs
    a = md.generate(text, None, seeds=[1, 2, 3], num_inference_steps=STEPS, output_type="latent")
    b = md.generate(text, latents, seeds=[1, 2, 3], num_inference_steps=STEPS, output_type="latent")
    assert a.shape == b.shape and not np.allclose(a, b)


def test_clip_layer_features_shapes_selection_and_gradients(clip_features):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 40, 40, 3), dtype=np.uint8)
    whole = clip_features.extract(images, batch_size=2)
    # tiny ViT: 64 px / patch 16 -> 16 patches + CLS = 17 tokens of 64 dims
    config = clip_features.vision.config
    n_tokens = (config.image_size // config.patch_size) ** 2 + 1
    assert (n_tokens, config.hidden_size, config.projection_dim) == (17, 64, 64)
    layer = (5, n_tokens * config.hidden_size)
    embedding = (5, config.projection_dim)
    assert {k: v.shape for k, v in whole.items()} == {"layer02": layer, "layer04": layer, EMBEDDING: embedding}
    np.testing.assert_allclose(clip_features.extract(images, batch_size=5)["layer04"], whole["layer04"], atol=1e-5)
    keep = np.array([3, 10, 500])
    picked = ClipLayerFeatures(clip_features.vision, layers=[2, 4], selection={"layer02": keep}).extract(images)
    np.testing.assert_allclose(picked["layer02"], whole["layer02"][:, keep], atol=1e-6)
    pixels = torch.rand(2, 3, 40, 40, requires_grad=True)
    clip_features(pixels)["layer02"].sum().backward()
    assert pixels.grad is not None and pixels.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="out of range"):
        ClipLayerFeatures(clip_features.vision, layers=[5])


def _targets(md, clip_features, text, seeds):
    """Decoded features to match: those of stage-1 images from other latents (a reachable goal)."""
    other = np.random.default_rng(9).standard_normal((len(seeds), *md.sd.latent_shape)).astype(np.float32)
    goal = md.generate(text, other, seeds=seeds, num_inference_steps=STEPS)
    return clip_features.extract(goal)


def test_stage2_lowers_the_feature_loss(md, clip_features, inputs):
    text, latents = inputs
    targets = _targets(md, clip_features, text[:2], [1, 2])
    result = md.refine(
        text[:2], latents[:2], targets, seeds=[1, 2], steps=12, lr=0.05, num_inference_steps=STEPS, inner_steps=4
    )
    assert result.losses.shape == (13, 2)
    assert np.all(result.losses[-1] < 0.9 * result.losses[0])
    assert result.images.shape == (2, 64, 64, 3) and result.latents.shape == (2, *md.sd.latent_shape)
    assert not np.allclose(result.latents, latents[:2])


def test_stage2_refines_each_image_independently_of_its_batch(md, clip_features, inputs):
    text, latents = inputs
    targets = _targets(md, clip_features, text[:2], [1, 2])
    settings = {"steps": 3, "lr": 0.05, "num_inference_steps": STEPS, "inner_steps": 2}
    both = md.refine(text[:2], latents[:2], targets, seeds=[1, 2], **settings)
    first = md.refine(text[:1], latents[:1], {k: v[:1] for k, v in targets.items()}, seeds=[1], **settings)
    np.testing.assert_allclose(both.latents[:1], first.latents, rtol=1e-4, atol=1e-5)


def test_stage2_checkpointing_does_not_change_the_result(md, clip_features, inputs):
    text, latents = inputs
    targets = _targets(md, clip_features, text[:1], [1])
    settings = {"steps": 2, "lr": 0.05, "num_inference_steps": STEPS, "inner_steps": 2}
    with_ckpt = md.refine(text[:1], latents[:1], targets, seeds=[1], checkpoint=True, **settings)
    without = md.refine(text[:1], latents[:1], targets, seeds=[1], checkpoint=False, **settings)
    np.testing.assert_allclose(with_ckpt.latents, without.latents, rtol=1e-5, atol=1e-6)


def test_stage2_minddiffuser_loop_options(md, clip_features, inputs):
    """MindDiffuser's loop: fresh noise at every iteration (still per image, whatever the batch); its snapshot of
    iteration 0 is exactly stage 1's image; its layer weights make another loss than equal weights."""
    text, latents = inputs
    targets = _targets(md, clip_features, text[:2], [1, 2])
    settings = {"steps": 2, "lr": 0.05, "num_inference_steps": STEPS, "inner_steps": None, "schedule": "minddiffuser"}
    fixed = md.refine(text[:2], latents[:2], targets, seeds=[1, 2], **settings)
    fresh = md.refine(text[:2], latents[:2], targets, seeds=[1, 2], noise="fresh", **settings)
    np.testing.assert_allclose(fresh.losses[0], fixed.losses[0], rtol=1e-5)  # the first draw is the same noise
    assert not np.allclose(fresh.losses[1:], fixed.losses[1:])
    alone = md.refine(text[1:2], latents[1:2], {k: v[1:2] for k, v in targets.items()}, seeds=[2], noise="fresh", **settings)
    np.testing.assert_allclose(alone.latents, fresh.latents[1:2], rtol=1e-4, atol=1e-5)
    snapshot = md.refine(text[:2], latents[:2], targets, seeds=[1, 2], snapshot_every=2, noise="fresh", **settings)
    stage1 = md.generate(text[:2], latents[:2], seeds=[1, 2], num_inference_steps=STEPS, schedule="minddiffuser")
    np.testing.assert_array_equal(snapshot.images, stage1)
    np.testing.assert_array_equal(snapshot.latents, latents[:2])
    weighted = md.refine(text[:2], latents[:2], targets, seeds=[1, 2], layer_weights="minddiffuser", **settings)
    assert not np.allclose(weighted.losses[0], fixed.losses[0])
    with pytest.raises(ValueError, match="needs the exact procedure"):
        md.refine(text[:2], latents[:2], targets, seeds=[1, 2], snapshot_every=2, **{**settings, "inner_steps": 4})
    with pytest.raises(ValueError, match="noise must be one of"):
        md.refine(text[:2], latents[:2], targets, seeds=[1, 2], noise="new", **settings)


def test_stage2_checks_its_inputs(sd, md, inputs):
    text, latents = inputs
    with pytest.raises(ValueError, match="needs clip_features"):
        MindDiffuserReconstructor(sd).refine(text[:1], latents[:1], {}, seeds=[1])
    with pytest.raises(ValueError, match="not features"):
        md.refine(text[:1], latents[:1], {"layer12": np.zeros((1, 3))}, seeds=[1])
    with pytest.raises(ValueError, match="text_conditioning must have shape"):
        md.generate(text[:, :15], latents, seeds=[1, 2, 3])
    with pytest.raises(ValueError, match="batch size"):
        md.generate(text, latents, seeds=[1])
