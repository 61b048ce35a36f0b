"""The papers' protocols, held to numbers the authors' own code produced (tests/golden/authors, its README).

Every golden value comes from running Brain-Diffuser's, MindDiffuser's (and the libraries they call) code on
the shared inputs of ``authors_inputs`` and the project's tiny weights. Each test also shows that the other
setting of the same option does *not* reproduce it, so a changed protocol detail fails here.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers import CLIPImageProcessor

from tests.authors_inputs import CAPTIONS, DDIM_TEXT_TOKENS, decoder_data, loss_features, schedule_inputs, sample_image
from nsdrecon.decoders.minddiffuser import fit_per_target_l2, solve_per_target_l2
from nsdrecon.diffusion import DualGuidedReconstructor
from nsdrecon.diffusion.img2img import LatentImg2Img
from nsdrecon.diffusion.minddiffuser import stage2_loss, stage2_weights
from nsdrecon.models import ClipLayerFeatures, load_clip_vision, load_stable_diffusion, load_versatile_diffusion
from nsdrecon.models.encoders import clip_image_batch, clip_pixel_values, clip_text_batch, sd_text_batch

torch.set_num_threads(1)

GOLDEN = Path(__file__).parent / "golden" / "authors"
MODELS = Path(__file__).resolve().parents[1] / "resources" / "models"


def golden(name: str) -> np.lib.npyio.NpzFile:
    return np.load(GOLDEN / f"{name}.npz")


@pytest.fixture(scope="module")
def vd():
    return load_versatile_diffusion(MODELS / "tiny-versatile-diffusion")


@pytest.fixture(scope="module")
def sd():
    return load_stable_diffusion(MODELS / "tiny-stable-diffusion", components=("vae", "text_encoder", "tokenizer", "scheduler"))


# --- img2img schedules: Brain-Diffuser's DDIMSampler_VD and LDM's DDIMSampler (MindDiffuser) ---------------------


class StubUNet(torch.nn.Module):
    """The harness's stub denoiser: eps = tanh(0.3 x + t / 1000) + 0.05 m, m from the context's means.

    Dual-guided (Brain-Diffuser's VD): m = 0.6 mean(image) + 0.4 mean(text), the context holding the text
    tokens then the image tokens; otherwise (SD) m = mean(context).
    """

    def __init__(self, dual: bool):
        super().__init__()
        self.dual = dual
        self.register_buffer("anchor", torch.zeros(()))

    @property
    def dtype(self):
        return self.anchor.dtype

    @property
    def device(self):
        return self.anchor.device

    def forward(self, sample, timestep, encoder_hidden_states):
        c = encoder_hidden_states.float()
        if self.dual:
            mean = 0.6 * c[:, DDIM_TEXT_TOKENS:].mean(dim=(1, 2)) + 0.4 * c[:, :DDIM_TEXT_TOKENS].mean(dim=(1, 2))
        else:
            mean = c.mean(dim=(1, 2))
        t = torch.as_tensor(timestep, dtype=torch.float32).reshape(-1)
        return SimpleNamespace(sample=torch.tanh(0.3 * sample + t.view(-1, 1, 1, 1) / 1000) + 0.05 * mean.view(-1, 1, 1, 1))


def run_schedule(sd, protocol: str, steps: int, dual: bool) -> dict:
    """Place and run img2img at strength 0.75 with the stub, the shared latent, noise and contexts."""
    inputs = {name: torch.from_numpy(value) for name, value in schedule_inputs().items()}
    img2img = LatentImg2Img(StubUNet(dual), sd.vae, sd.scheduler, (4, 8, 8))
    plan = img2img.schedule(steps, 0.75, protocol)
    z_enc = img2img.prepare_latents(inputs["latent"], plan, inputs["noise"])
    if dual:
        uncond = torch.cat([inputs["uncond_text"], inputs["uncond_image"]], dim=1)
        cond = torch.cat([inputs["text"], inputs["image"]], dim=1)
    else:
        uncond, cond = inputs["uncond_text"], inputs["text"]
    z = img2img.denoise(z_enc, plan.timesteps, torch.cat([uncond, cond]), 7.5 if dual else 5.0, progress=False)
    return {"noised_at": int(plan.noise_at), "denoised_at": plan.timesteps.tolist(), "z_enc": z_enc.numpy(), "z": z.numpy()}


SCHEDULE_CASES = [("brain_diffuser", 50, True), ("brain_diffuser", 10, True), ("minddiffuser", 50, False)]


@pytest.mark.parametrize(("protocol", "steps", "dual"), SCHEDULE_CASES, ids=[f"{p}-{s}" for p, s, _ in SCHEDULE_CASES])
def test_img2img_schedule_equals_the_authors_sampler(sd, protocol, steps, dual):
    want = {key.removeprefix(f"{protocol}_{steps}_"): value for key, value in golden("ddim_schedules").items()
            if key.startswith(f"{protocol}_{steps}_")}  # fmt: skip
    got = run_schedule(sd, protocol, steps, dual)
    assert got["noised_at"] == int(want["noised_at"])
    assert got["denoised_at"] == want["denoised_at"].tolist()
    np.testing.assert_allclose(got["z_enc"], want["z_enc"], atol=2e-6)
    np.testing.assert_allclose(got["z"], want["z"], atol=2e-5)
    # diffusers' placement of the same strength is another protocol: it misses the golden values
    other = run_schedule(sd, "diffusers", steps, dual)
    assert other["noised_at"] != got["noised_at"] or len(other["denoised_at"]) != len(got["denoised_at"])
    assert np.abs(other["z"] - want["z"]).max() > 1e-3


def test_schedule_numbers_at_nsd_settings(sd):
    """50 steps at 0.75: diffusers noises to t=721 and runs 37 steps; Brain-Diffuser noises at t=741 then 37 from
    721; MindDiffuser noises at t=741 then 35 from 681. Strength 1 has no DDIM index to noise at in LDM."""
    img2img = LatentImg2Img(StubUNet(False), sd.vae, sd.scheduler, (4, 8, 8))
    expected = {"diffusers": (721, 37, 721), "brain_diffuser": (741, 37, 721), "minddiffuser": (741, 35, 681)}
    for protocol, (noise, count, first) in expected.items():
        plan = img2img.schedule(50, 0.75, protocol)
        assert (int(plan.noise_at), len(plan.timesteps), int(plan.timesteps[0]), int(plan.timesteps[-1])) == (noise, count, first, 1)
    with pytest.raises(ValueError, match="strength below 1"):
        img2img.schedule(50, 1.0, "brain_diffuser")
    with pytest.raises(ValueError, match="schedule must be one of"):
        img2img.schedule(50, 0.75, "ldm")


# --- Versatile Diffusion's CLIP image context as Brain-Diffuser builds it ------------------------------------------


def test_grey_unconditional_image_is_brain_diffusers(vd):
    """Its torch.zeros in VD's [-1, 1] convention reach CLIP as grey 127 (transformers 4.19); black does not."""
    want = golden("brain_diffuser_clip_image")
    grey = DualGuidedReconstructor(vd, uncond_image="grey").uncond_image_tokens.numpy()[0]
    np.testing.assert_allclose(grey, want["tiny_uncond_tokens"], atol=1e-6)
    black = DualGuidedReconstructor(vd, uncond_image="black").uncond_image_tokens.numpy()[0]
    assert np.abs(black - want["tiny_uncond_tokens"]).max() > 0.05
    real = CLIPImageProcessor.from_pretrained(MODELS / "versatile-diffusion-architecture" / "image_feature_extractor")
    blank = np.full((1, 224, 224, 3), 127, np.uint8)
    np.testing.assert_allclose(clip_pixel_values(real, blank)[0].numpy(), want["real_uncond_pixels"], atol=1e-6)


def test_brain_diffuser_stimulus_input_equals_its_code(vd):
    """clipvision_extract_features.py's path (PIL bilinear to 512, the float round trip truncated to uint8, PIL
    bicubic and centre crop) gives the same CLIP input bit for bit, at the tiny and the real processor's size."""
    want = golden("brain_diffuser_clip_image")
    stimulus = sample_image(0, 425)[None]
    real = CLIPImageProcessor.from_pretrained(MODELS / "versatile-diffusion-architecture" / "image_feature_extractor")
    for processor, key in ((vd.image_processor, "tiny"), (real, "real")):
        ours = clip_pixel_values(processor, stimulus, "brain_diffuser")[0].numpy()
        np.testing.assert_array_equal(ours, want[f"{key}_stimulus_pixels"])
        plain = clip_pixel_values(processor, stimulus, "processor")[0].numpy()
        assert np.abs(plain - want[f"{key}_stimulus_pixels"]).max() > 0.01  # diffusers' input is not theirs
    np.testing.assert_allclose(clip_image_batch(vd, stimulus, "brain_diffuser")[0], want["tiny_stimulus_tokens"], atol=1e-6)


# --- text contexts ---------------------------------------------------------------------------------------------------


def test_text_contexts_equal_the_authors(vd, sd):
    """Brain-Diffuser: VD's 77-token context averaged over all captions. MindDiffuser: SD's 15-token context
    (its v1-inference.yaml) averaged over the first five captions; the first 15 of 77 tokens differ once a
    caption is cut."""
    want = golden("text_conditioning")
    ours = clip_text_batch(vd, CAPTIONS)
    for i in range(len(CAPTIONS)):
        np.testing.assert_allclose(ours[i], want[f"brain_diffuser_text_{i}"], atol=1e-6)
    np.testing.assert_allclose(clip_text_batch(vd, [[""]])[0], want["brain_diffuser_uncond_text"], atol=1e-6)
    first_five = [captions[:5] for captions in CAPTIONS]
    ours = sd_text_batch(sd, first_five, context_tokens=15)
    for i in range(len(CAPTIONS)):
        np.testing.assert_allclose(ours[i], want[f"minddiffuser_text_{i}"], atol=1e-5)
    np.testing.assert_allclose(sd_text_batch(sd, [[""]], 15)[0], want["minddiffuser_uncond_text"], atol=1e-6)
    head_of_77 = sd_text_batch(sd, first_five)[:, :15]
    assert np.abs(head_of_77[1] - want["minddiffuser_text_1"]).max() > 0.05


# --- MindDiffuser's CLIP features and stage-2 loss -------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_clip():
    return load_clip_vision(MODELS / "tiny-clip-vit-base-patch32")


def test_minddiffuser_layers_are_mlp_outputs_with_its_input(tiny_clip):
    """`Linear-2k` = block k's MLP output; stimuli bilinear and generated images bicubic, no antialiasing,
    ImageNet normalisation. The residual stream or CLIP's own input give other features."""
    want = golden("minddiffuser_clip")
    layers = list(range(1, tiny_clip.config.num_hidden_layers + 1))
    theirs = ClipLayerFeatures(tiny_clip, layers, output="mlp", preprocess="minddiffuser")
    stimuli = np.stack([sample_image(s, 96) for s in (1, 2)])
    got = theirs.batch_features(stimuli)
    for k in layers:
        np.testing.assert_allclose(got[f"layer{k:02d}"], want[f"target_Linear-{2 * k}"], atol=1e-5)
    np.testing.assert_allclose(got["embedding"], want["target_VisionTransformer-1"], atol=1e-5)
    generated = torch.from_numpy(np.stack([sample_image(s, 128) for s in (3, 4)]).astype(np.float32) / 255).permute(0, 3, 1, 2)
    with torch.no_grad():
        got_generated = theirs(generated)
    for k in layers:
        np.testing.assert_allclose(got_generated[f"layer{k:02d}"].numpy(), want[f"generated_Linear-{2 * k}"], atol=1e-5)
    for output, preprocess in (("hidden_state", "minddiffuser"), ("mlp", "clip")):
        other = ClipLayerFeatures(tiny_clip, layers, output=output, preprocess=preprocess).batch_features(stimuli)
        assert np.abs(other["layer01"] - want["target_Linear-2"]).max() > 0.05


@pytest.mark.parametrize("clip_weight", [0.0, 0.5])
def test_stage2_loss_equals_mse_clip_mask(clip_weight):
    """Their loss is (1 - w) x the weighted layer MSE + 0.1 w (1 - cos): ours with cosine_weight 0.1 w / (1 - w)
    is the same up to the factor (1 - w), which Adam does not see. Equal weights do not reproduce it."""
    target, generated, masks = loss_features()
    names = [name for name in target if name != "VisionTransformer-1"]
    ours = {f"layer{i + 1:02d}": name for i, name in enumerate(names)} | {"embedding": "VisionTransformer-1"}
    index = {ours_name: np.flatnonzero(masks[i][0]) for i, ours_name in enumerate(list(ours)[:-1])}
    pick = lambda name, value: torch.from_numpy(value[:, index[name]] if name in index else value)  # noqa: E731
    goal = {name: pick(name, target[theirs]) for name, theirs in ours.items()}
    features = {name: pick(name, generated[theirs]) for name, theirs in ours.items()}
    sizes = {name: target[theirs].shape[1] for name, theirs in ours.items()}
    cosine = 0.1 * clip_weight / (1 - clip_weight)
    loss = stage2_loss(features, goal, stage2_weights(goal, "minddiffuser", sizes), cosine)
    want = float(golden("minddiffuser_clip")[f"loss_weight_{clip_weight}"])
    assert float(loss[0]) * (1 - clip_weight) == pytest.approx(want, rel=1e-6)
    equal = stage2_loss(features, goal, stage2_weights(goal, "equal", sizes), cosine)
    assert abs(float(equal[0]) * (1 - clip_weight) - want) > 0.05 * want


# --- MindDiffuser's decoders (FastL2LiR) -----------------------------------------------------------------------------


def test_per_target_l2_equals_fastl2lir():
    """z-scored as their scripts (StandardScaler over all rows), fitted on the first 50 rows with alpha 0.15 and
    8 voxels per target: FastL2LiR's weights, intercepts, voxels and predictions."""
    want = golden("minddiffuser_decoders")
    X, Y = decoder_data()
    zscore = lambda a: (a - a.mean(0)) / a.std(0)  # noqa: E731
    x, y = torch.from_numpy(zscore(X)), torch.from_numpy(zscore(Y))
    coef, intercept = solve_per_target_l2(x[:50], y[:50], 0.15, 8, 2**20)
    np.testing.assert_allclose(coef.numpy(), want["W"], atol=1e-12)
    np.testing.assert_allclose(intercept.numpy(), want["b"][0], atol=1e-12)
    np.testing.assert_array_equal(coef.numpy().T != 0, want["selected"])
    np.testing.assert_allclose((x[50:] @ coef + intercept).numpy(), want["predictions"], atol=1e-12)
    # one system per target, gathered in blocks: the block size changes nothing
    small_blocks, _ = solve_per_target_l2(x[:50], y[:50], 0.15, 8, 8 * 9 * 9)
    np.testing.assert_allclose(small_blocks.numpy(), want["W"], atol=1e-12)
    # voxel selection per target group (the ridge mode) would be another decoder
    group_coef, _ = solve_per_target_l2(x[:50], y[:50], 0.15, 30, 2**20)
    assert np.abs(group_coef.numpy() - want["W"]).max() > 0.01


def test_fit_per_target_l2_works_in_target_units():
    """fit_per_target_l2 z-scores with its training rows, fits, and predicts in the targets' own units; with
    cv_folds it scores each target by mean |r| over contiguous folds."""
    X, Y = decoder_data()
    model = fit_per_target_l2(X[:50], Y[:50], 0.15, 8, cv_folds=5)
    x = (X[:50] - X[:50].mean(0)) / X[:50].std(0)
    y_mean, y_std = Y[:50].mean(0), Y[:50].std(0)
    coef, intercept = solve_per_target_l2(torch.from_numpy(x), torch.from_numpy((Y[:50] - y_mean) / y_std), 0.15, 8, 2**20)
    x_test = (X[50:] - X[:50].mean(0)) / X[:50].std(0)
    expected = (x_test @ coef.numpy() + intercept.numpy()) * y_std + y_mean
    np.testing.assert_allclose(model.predict(X[50:]), expected, rtol=1e-5, atol=1e-4)
    assert model.cv_scores.shape == (5,) and ((0 <= model.cv_scores) & (model.cv_scores <= 1)).all()
    assert np.corrcoef(model.predict(X[50:]).ravel(), Y[50:].ravel())[0, 1] > 0.8
