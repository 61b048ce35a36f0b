"""Dual-guided img2img over the tiny Versatile Diffusion: determinism, batch independence, ablations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nsdrecon.diffusion import DualGuidedReconstructor, build_dual_guided_unet
from nsdrecon.diffusion.dual_guided import MaskTolerantDualTransformer
from nsdrecon.models.encoders import encode_clip_image_tokens
from nsdrecon.models import load_versatile_diffusion

torch.set_num_threads(1)

TINY = Path(__file__).resolve().parents[1] / "resources" / "models" / "tiny-versatile-diffusion"
STEPS = 10  # strength 0.75 keeps the last 7


@pytest.fixture(scope="module")
def vd():
    return load_versatile_diffusion(TINY, random_init=True, seed=0)


@pytest.fixture(scope="module")
def reconstructor(vd):
    return DualGuidedReconstructor(vd, mix_ratio_text=0.4, uncond_image="black")


@pytest.fixture(scope="module")
def inputs(vd):
    rng = np.random.default_rng(1)
    image = (0.2 * rng.standard_normal((3, *vd.image_tokens))).astype(np.float32)
    text = (0.2 * rng.standard_normal((3, *vd.text_tokens))).astype(np.float32)
    latents = rng.standard_normal((3, *vd.latent_shape)).astype(np.float32)
    return image, text, latents


def _run(rec, image, text, latents, seeds, **kwargs):
    kwargs = {"num_inference_steps": STEPS, "output_type": "latent", **kwargs}
    return rec(image, text, latents, seeds=seeds, **kwargs)


def test_dual_unet_shares_weights_and_leaves_image_unet_alone(vd, reconstructor):
    unet = reconstructor.unet
    duals = [m for m in unet.modules() if isinstance(m, MaskTolerantDualTransformer)]
    assert len(duals) == 4  # cross-attention down block (1 layer), mid block (1), cross-attention up block (2)
    n_text, n_image = vd.text_tokens[0], vd.image_tokens[0]
    assert (n_text, n_image) == (77, 65)
    assert all(d.condition_lengths == [n_text, n_image] and d.transformer_index_for_condition == [1, 0] for d in duals)
    # parameters are shared with the loaded UNets, not copied
    assert duals[0].transformers[0].proj_in.weight is vd.image_unet.down_blocks[0].attentions[0].proj_in.weight
    assert duals[0].transformers[1] is vd.text_unet.down_blocks[0].attentions[0]
    assert unet.conv_in.weight is vd.image_unet.conv_in.weight
    n_params = sum(p.numel() for p in unet.parameters())
    n_text_transformers = sum(p.numel() for d in duals for p in d.transformers[1].parameters())
    assert n_params == sum(p.numel() for p in vd.image_unet.parameters()) + n_text_transformers
    assert type(vd.image_unet.down_blocks[0].attentions[0]).__name__ == "Transformer2DModel"
    assert not vd.image_unet.config.get("dual_cross_attention", False) and unet.config.dual_cross_attention
    # a plain forward: the UNet blocks pass encoder_attention_mask, which the wrapper accepts
    context = torch.zeros(1, n_text + n_image, vd.image_unet.config.cross_attention_dim)
    out = unet(torch.zeros(1, *vd.latent_shape), 10, encoder_hidden_states=context).sample
    assert out.shape == (1, *vd.latent_shape) and torch.isfinite(out).all()


def test_output_images_are_uint8(reconstructor, inputs):
    image, text, latents = inputs
    out = reconstructor(image, text, latents, seeds=[0, 1, 2], num_inference_steps=STEPS)
    assert out.shape == (3, 64, 64, 3) and out.dtype == np.uint8
    assert 0 <= out.min() and out.max() <= 255 and out.std() > 1


def test_same_seed_is_bit_identical_other_seed_differs(reconstructor, inputs):
    first = _run(reconstructor, *inputs, seeds=[0, 1, 2])
    again = _run(reconstructor, *inputs, seeds=[0, 1, 2])
    other = _run(reconstructor, *inputs, seeds=[5, 1, 2])
    np.testing.assert_array_equal(first, again)
    assert np.abs(first[0] - other[0]).max() > 1e-2
    np.testing.assert_array_equal(first[1:], other[1:])


def test_image_does_not_depend_on_its_batch(reconstructor, inputs):
    image, text, latents = inputs
    batch = _run(reconstructor, image[:2], text[:2], latents[:2], seeds=[7, 8])
    alone = _run(reconstructor, image[1:2], text[1:2], latents[1:2], seeds=[8])
    scale = np.abs(batch).max()
    assert np.abs(batch[1] - alone[0]).max() <= 1e-5 * scale
    assert np.abs(batch[0] - batch[1]).max() > 1e-1  # different inputs, different pictures


def test_strength_zero_is_the_decoded_latent(vd, reconstructor, inputs):
    image, text, latents = inputs
    out = reconstructor(image, text, latents, seeds=[0, 1, 2], strength=0.0, num_inference_steps=STEPS)
    with torch.no_grad():
        pixels = vd.vae.decode(torch.from_numpy(latents) / vd.vae.config.scaling_factor).sample
    expected = ((pixels / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    np.testing.assert_array_equal(out, expected)


def test_strength_sets_the_schedule(reconstructor, inputs):
    steps = reconstructor.schedule(50, 0.75)
    kept = steps.timesteps
    assert len(kept) == 37 and int(kept[0]) == 721 and int(kept[-1]) == 1 and int(steps.noise_at) == 721
    weak = _run(reconstructor, *inputs, seeds=[0, 1, 2], strength=0.2)
    strong = _run(reconstructor, *inputs, seeds=[0, 1, 2], strength=0.9)
    start = inputs[2]
    assert np.abs(weak - start).mean() < np.abs(strong - start).mean()


def test_mix_ratio_extremes_equal_single_context_paths(vd, inputs):
    image, text, latents = inputs
    text_side = DualGuidedReconstructor(vd, mix_ratio_text=1.0)
    image_side = DualGuidedReconstructor(vd, mix_ratio_text=0.0)
    mixed = DualGuidedReconstructor(vd, mix_ratio_text=0.4)
    text_only = _run(mixed, None, text, latents, seeds=[0, 1, 2])
    image_only = _run(mixed, image, None, latents, seeds=[0, 1, 2])
    np.testing.assert_array_equal(_run(text_side, image, text, latents, seeds=[0, 1, 2]), text_only)
    np.testing.assert_array_equal(_run(image_side, image, text, latents, seeds=[0, 1, 2]), image_only)
    both = _run(mixed, image, text, latents, seeds=[0, 1, 2])
    assert np.abs(both - text_only).max() > 1e-2 and np.abs(both - image_only).max() > 1e-2


@pytest.mark.parametrize("mix_ratio", [0.0, 1.0], ids=["image only", "text only"])
def test_single_transformer_at_mix_extremes_equals_both_bit_for_bit(vd, mix_ratio):
    """At mix 0 or 1 one transformer is skipped: same output as diffusers' forward, which runs both."""
    from diffusers.models import DualTransformer2DModel

    dual = next(m for m in build_dual_guided_unet(vd).modules() if isinstance(m, MaskTolerantDualTransformer))
    dual.mix_ratio = mix_ratio
    channels = dual.transformers[0].config.in_channels
    n_tokens = sum(dual.condition_lengths)
    dim = dual.transformers[0].config.cross_attention_dim
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(2, channels, 8, 8, generator=generator)
    context = torch.randn(2, n_tokens, dim, generator=generator)
    with torch.no_grad():
        skipped = dual(hidden, context, return_dict=False)[0]
        both = DualTransformer2DModel.forward(dual, hidden, context, return_dict=False)[0]
    assert torch.equal(skipped, both)


def test_guidance_scale_one_runs_without_guidance(reconstructor, inputs):
    plain = _run(reconstructor, *inputs, seeds=[0, 1, 2], guidance_scale=1.0)
    guided = _run(reconstructor, *inputs, seeds=[0, 1, 2], guidance_scale=7.5)
    assert plain.shape == guided.shape and np.isfinite(plain).all()
    assert np.abs(plain - guided).max() > 1e-2


def test_no_structure_starts_from_noise(vd, reconstructor, inputs):
    image, text, _ = inputs
    out = _run(reconstructor, image, text, None, seeds=[0, 1, 2])
    again = _run(reconstructor, image, text, None, seeds=[0, 1, 2])
    np.testing.assert_array_equal(out, again)
    assert out.shape == (3, *vd.latent_shape) and np.isfinite(out).all()


def test_uncond_image_options(vd):
    black = DualGuidedReconstructor(vd, uncond_image="black").uncond_image_tokens
    grey = DualGuidedReconstructor(vd, uncond_image="grey").uncond_image_tokens
    for tokens, value in ((black, 0), (grey, 127)):
        expected = encode_clip_image_tokens(vd, np.full((1, 64, 64, 3), value, np.uint8), batch_size=1)
        np.testing.assert_allclose(tokens.numpy(), expected, atol=1e-6)
    assert (black - grey).abs().max() > 1e-3
    with pytest.raises(ValueError, match="uncond_image must be one of"):
        DualGuidedReconstructor(vd, uncond_image="zeros")


def test_inputs_are_checked(vd, reconstructor, inputs):
    image, text, latents = inputs
    with pytest.raises(ValueError, match="at least one of"):
        reconstructor(None, None, latents, seeds=[0, 1, 2])
    n_image, dim = vd.image_tokens
    with pytest.raises(ValueError, match=rf"image_tokens must have shape \(batch, {n_image}, {dim}\)"):
        reconstructor(image[:, :64], text, latents, seeds=[0, 1, 2])
    with pytest.raises(ValueError, match="batch size"):
        reconstructor(image, text, latents, seeds=[0, 1])
    with pytest.raises(ValueError, match="strength"):
        reconstructor(image, text, latents, seeds=[0, 1, 2], strength=1.5)
