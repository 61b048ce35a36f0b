"""Tests of nsdrecon.metrics: pixel metrics, identification, resizing conventions, feature networks."""

import logging

import numpy as np
import pandas as pd
import pytest
import scipy.spatial.distance
import torch
import torchvision
from PIL import Image
from skimage.color import rgb2gray
from skimage.metrics import structural_similarity
from torchvision.models.feature_extraction import create_feature_extractor
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

from nsdrecon.metrics import (
    METRICS,
    WEIGHTS_PRETRAINED,
    WEIGHTS_RANDOM_CONFIGURED,
    WEIGHTS_RANDOM_MISSING,
    cached_checkpoint,
    correlation_distance,
    evaluate_reconstructions,
    load_feature_networks,
    network_inputs,
    pearson_matrix,
    pixcorr,
    pixel_metric_inputs,
    reference_features,
    ssim,
    two_way_identification,
    weights_column,
)
from nsdrecon.metrics.feature_nets import SWAV_URL

torch.set_num_threads(1)

TINY_CLIP = dict(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=2,
    patch_size=8,
    image_size=32,
    projection_dim=16,
)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def smooth_images(rng, n, size):
    """Random but spatially smooth uint8 images (N, size, size, 3), so SSIM and resizing behave like photos."""
    coarse = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
    return np.stack([np.asarray(Image.fromarray(c).resize((size, size), Image.Resampling.BICUBIC)) for c in coarse])


@pytest.fixture
def empty_hub(tmp_path):
    """A torch hub cache with no checkpoints (restored afterwards)."""
    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield tmp_path / "hub"
    torch.hub.set_dir(previous)


@pytest.fixture
def clip_folder(tmp_path):
    """A Versatile-Diffusion-style folder with a tiny CLIP vision config in image_encoder/."""
    CLIPVisionConfig(**TINY_CLIP).save_pretrained(tmp_path / "vd" / "image_encoder")
    return tmp_path / "vd"


# ---------------------------------------------------------------- pixel metrics


@pytest.mark.parametrize("convention", ["brain_diffuser", "mindeye"])
def test_identical_images_score_perfectly(rng, convention):
    images = smooth_images(rng, 3, 40)
    np.testing.assert_allclose(pixcorr(images, images, convention), 1.0, atol=1e-12)
    np.testing.assert_allclose(ssim(images, images, convention), 1.0, atol=1e-9)
    np.testing.assert_allclose(ssim(images, images, convention, variant="legacy"), 1.0, atol=1e-9)


def test_pixcorr_is_pearson_of_bicubic_resized_rgb(rng):
    gt = smooth_images(rng, 3, 40)
    rec = smooth_images(rng, 3, 24)
    expected = [
        np.corrcoef(
            g.ravel() / 255.0, np.asarray(Image.fromarray(r).resize((40, 40), Image.Resampling.BICUBIC)).ravel() / 255.0
        )[0, 1]
        for g, r in zip(gt, rec)
    ]
    np.testing.assert_allclose(pixcorr(gt, rec), expected, rtol=1e-12)


def test_pixcorr_of_known_correlations(rng):
    gt = smooth_images(rng, 4, 32)
    np.testing.assert_allclose(pixcorr(gt, 255 - gt), -1.0, atol=1e-12)  # negative image
    # an affine change of contrast keeps r = 1 wherever no pixel clips
    contrast = (gt.astype(float) * 0.5 + 60).round().astype(np.uint8)
    assert pixcorr(gt, contrast).min() > 0.9999
    # gt + independent noise of equal variance: r = 1 / sqrt(2)
    flat = rng.normal(128, 20, (2, 64, 64, 3))
    noisy = flat + rng.normal(0, 20, flat.shape)
    r = pixcorr(flat.clip(0, 255).astype(np.uint8), noisy.clip(0, 255).astype(np.uint8))
    np.testing.assert_allclose(r, 1 / np.sqrt(2), atol=0.02)


def _ssim_from_the_formula(x: np.ndarray, y: np.ndarray) -> float:
    """Wang et al. (2004) SSIM written out: 11x11 Gaussian window (sigma 1.5), population (co)variances,
    C1 = (0.01 L)^2, C2 = (0.03 L)^2 for L = 1, averaged over the positions where the window fits."""
    from scipy.signal import convolve2d

    taps = np.exp(-(np.arange(-5, 6) ** 2) / (2 * 1.5**2))
    window = np.outer(taps, taps) / taps.sum() ** 2
    local = lambda image: convolve2d(image, window, mode="valid")  # noqa: E731
    mx, my = local(x), local(y)
    vx, vy, cxy = local(x * x) - mx**2, local(y * y) - my**2, local(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    return float((((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))).mean())


def test_ssim_equals_the_formula_computed_independently(rng):
    gt = smooth_images(rng, 2, 40)
    noisy = np.clip(gt.astype(int) + rng.normal(0, 30, gt.shape), 0, 255).astype(np.uint8)
    grey = lambda images: images.astype(np.float64) @ np.array([0.2125, 0.7154, 0.0721]) / 255.0  # noqa: E731
    expected = [_ssim_from_the_formula(grey(noisy)[i], grey(gt)[i]) for i in range(2)]
    np.testing.assert_allclose(ssim(gt, noisy), expected, rtol=1e-9)
    assert 0.2 < min(expected) < 0.95  # a real, intermediate similarity


def test_ssim_variants_differ_and_each_matches_skimage(rng):
    gt = smooth_images(rng, 1, 48)
    noisy = np.clip(gt.astype(int) + rng.normal(0, 40, gt.shape), 0, 255).astype(np.uint8)
    g, r = rgb2gray(gt[0] / 255.0), rgb2gray(noisy[0] / 255.0)
    kwargs = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
    standard = structural_similarity(r, g, **kwargs)
    legacy = structural_similarity(r, g, channel_axis=-1, **kwargs)
    assert abs(standard - legacy) > 0.01
    assert ssim(gt, noisy)[0] == pytest.approx(standard, abs=1e-12)
    assert ssim(gt, noisy, variant="legacy")[0] == pytest.approx(legacy, abs=1e-12)
    with pytest.raises(ValueError, match="SSIM variant"):
        ssim(gt, noisy, variant="multichannel")


def test_conventions_resize_as_specified(rng):
    gt = smooth_images(rng, 2, 40)
    rec = smooth_images(rng, 2, 64)
    bd_gt, bd_rec = pixel_metric_inputs(gt, rec, "brain_diffuser")
    assert bd_gt.shape == bd_rec.shape == (2, 40, 40, 3)
    np.testing.assert_array_equal(bd_gt, gt / 255.0)  # ground truth stays at its native size
    me_gt, me_rec = pixel_metric_inputs(gt, rec, "mindeye")
    assert me_gt.shape == me_rec.shape == (2, 425, 425, 3)
    assert 0.0 <= me_rec.min() and me_rec.max() <= 1.0

    bd = network_inputs(rec, 224, "brain_diffuser")
    assert bd.shape == (2, 3, 224, 224)
    pil = np.asarray(Image.fromarray(rec[0]).resize((224, 224), Image.Resampling.BILINEAR)) / 255.0
    np.testing.assert_allclose(bd[0].permute(1, 2, 0).numpy(), pil, atol=1e-6)
    assert network_inputs(rec, 342, "mindeye").shape == (2, 3, 342, 342)
    # MindEye's torchvision (0.15 / 0.16) resized tensors without antialiasing: plain bilinear interpolation
    tensor = torch.from_numpy(rec).permute(0, 3, 1, 2).float() / 255.0
    base = torch.nn.functional.interpolate(tensor, size=(256, 256), mode="bilinear", align_corners=False)
    expected = torch.nn.functional.interpolate(base, size=(224, 224), mode="bilinear", align_corners=False)
    torch.testing.assert_close(network_inputs(rec, 224, "mindeye"), expected, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="convention"):
        network_inputs(rec, 224, "takagi")
    with pytest.raises(ValueError, match="uint8"):
        pixcorr(gt.astype(np.float32), rec)


# ---------------------------------------------------------------- identification


def test_shuffled_predictions_identify_at_chance(rng):
    gt = rng.standard_normal((200, 64))
    shuffled = gt[rng.permutation(200)]
    assert two_way_identification(gt, shuffled).mean() == pytest.approx(0.5, abs=0.05)
    assert two_way_identification(gt, gt + 0.1 * rng.standard_normal(gt.shape)).mean() == 1.0


def test_identification_on_constructed_correlations(rng):
    # orthonormal, zero-mean rows u_i: pearson(u_i, sum_k c_kj u_k) = c_ij / |c_:j|
    columns = rng.standard_normal((50, 3))
    basis = np.linalg.qr(columns - columns.mean(axis=0))[0].T  # (3, 50), orthonormal, zero-mean rows
    assert np.allclose(basis.mean(axis=1), 0, atol=1e-12)
    c = np.array([[1.0, 0.2, 1.2], [0.5, 1.0, 0.5], [0.3, 0.1, 1.0]])  # column j = prediction j
    preds = (basis.T @ c).T
    np.testing.assert_allclose(pearson_matrix(basis, preds), c / np.linalg.norm(c, axis=0), atol=1e-12)
    # column 0: 0.5, 0.3 < 1.0 -> 1; column 1: 0.2, 0.1 < 1.0 -> 1; column 2: 1.2 > 1.0 fails, 0.5 < 1.0 -> 1/2
    np.testing.assert_allclose(two_way_identification(basis, preds), [1.0, 1.0, 0.5])


def test_identification_ties_fail_and_matches_corrcoef_reference(rng):
    gt = np.array([[1, 2, 3, 4], [1, 2, 3, 4], [4, 1, 0, 2]], dtype=float)  # gt 0 and 1 identical
    # every other GT is exactly as correlated with pred 0 / pred 1 as its own: a tie, counted as a failure
    np.testing.assert_allclose(two_way_identification(gt, gt), [0.5, 0.5, 1.0])

    feats_gt = rng.standard_normal((30, 500))
    feats_pred = feats_gt + 2.0 * rng.standard_normal((30, 500))
    r = np.corrcoef(feats_gt, feats_pred)[:30, 30:]
    reference = (r < np.diag(r)).sum(axis=0) / 29  # nsd.md §6a verbatim
    np.testing.assert_array_equal(two_way_identification(feats_gt, feats_pred), reference)


def test_correlation_distance(rng):
    x = rng.standard_normal((4, 100))
    np.testing.assert_allclose(correlation_distance(x, 2 * x + 1), 0.0, atol=1e-12)
    np.testing.assert_allclose(correlation_distance(x, -x), 2.0, atol=1e-12)
    # streamed over feature blocks: compare with scipy on a long feature axis
    a, b = rng.standard_normal((3, 40000)), rng.standard_normal((3, 40000)).astype(np.float32)
    expected = [scipy.spatial.distance.correlation(a[i], b[i]) for i in range(3)]
    np.testing.assert_allclose(correlation_distance(a, b), expected, rtol=1e-9)
    np.testing.assert_allclose(pearson_matrix(a, b), np.corrcoef(a, b)[:3, 3:], atol=1e-12)
    with pytest.raises(ValueError, match="do not match"):
        correlation_distance(a, b[:, :10])


# ---------------------------------------------------------------- feature networks


def test_missing_weights_give_random_networks_with_one_warning_each(rng, empty_hub, clip_folder, caplog):
    with caplog.at_level(logging.WARNING, logger="nsdrecon.metrics.feature_nets"):
        networks = load_feature_networks("auto", str(clip_folder), True, "cpu", "brain_diffuser")
    assert [n.name for n in networks] == ["AlexNet", "Inception", "CLIP", "EffNet-B", "SwAV"]
    labels = {n.name: n.weights_label for n in networks}
    assert labels == {
        "AlexNet": WEIGHTS_RANDOM_MISSING,
        "Inception": WEIGHTS_RANDOM_MISSING,
        "CLIP": WEIGHTS_RANDOM_CONFIGURED,
        "EffNet-B": WEIGHTS_RANDOM_MISSING,
        "SwAV": WEIGHTS_RANDOM_MISSING,
    }
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 4
    assert str(empty_hub / "checkpoints" / "alexnet-owt-7be5be79.pth") in warnings[0]
    assert {n.name: n.input_size for n in networks} == {
        "AlexNet": 224,
        "Inception": 224,
        "CLIP": 32,
        "EffNet-B": 224,
        "SwAV": 224,
    }

    gt = smooth_images(rng, 4, 40)
    rec = smooth_images(rng, 4, 48)
    table = evaluate_reconstructions(gt, rec, networks, batch_size=3)
    assert list(table.columns[:8]) == METRICS
    assert table[weights_column("CLIP")].eq(WEIGHTS_RANDOM_CONFIGURED).all()
    assert len(table) == 4 and table[METRICS].notna().all().all()
    assert table[["PixCorr", "SSIM"]].abs().le(1).all().all()
    identification = table[["AlexNet(2)", "AlexNet(5)", "Inception", "CLIP"]].to_numpy()
    assert set(np.unique(identification)) <= {0, 1 / 3, 2 / 3, 1}  # N = 4: fractions of 3 distractors
    assert table[["EffNet-B", "SwAV"]].ge(0).all().all() and table[["EffNet-B", "SwAV"]].le(2).all().all()

    gt_features = reference_features(gt, networks, batch_size=2)
    cached = evaluate_reconstructions(gt, rec, networks, batch_size=3, gt_features=gt_features)
    pd.testing.assert_frame_equal(cached, table)  # the stimuli's features computed once serve every method
    with pytest.raises(ValueError, match="another number of images"):  # the same 4 images' features for 3 stimuli
        evaluate_reconstructions(gt[:3], rec[:3], networks, gt_features=gt_features)

    perfect = evaluate_reconstructions(gt, gt, networks)
    np.testing.assert_allclose(
        perfect[["PixCorr", "SSIM", "AlexNet(2)", "AlexNet(5)", "Inception", "CLIP"]], 1.0, atol=1e-9
    )
    np.testing.assert_allclose(perfect[["EffNet-B", "SwAV"]], 0.0, atol=1e-6)

    with pytest.raises(ValueError, match="convention"):
        evaluate_reconstructions(gt, rec, networks, convention="mindeye")


def test_mindeye_networks_use_mindeye_input_sizes():
    networks = load_feature_networks("random", None, convention="mindeye", names=["AlexNet", "Inception", "EffNet-B"])
    assert {n.name: n.input_size for n in networks} == {"AlexNet": 256, "Inception": 342, "EffNet-B": 255}
    assert {n.weights_label for n in networks} == {WEIGHTS_RANDOM_CONFIGURED}
    small = load_feature_networks("random", None, convention="mindeye", names=["AlexNet", "Inception"], input_size=112)
    assert {n.name: n.input_size for n in small} == {"AlexNet": 112, "Inception": 112}
    with pytest.raises(ValueError, match="unknown feature networks"):
        load_feature_networks("random", None, names=["VGG"])
    with pytest.raises(ValueError, match="feature weights"):
        load_feature_networks("imagenet", None)


def test_cached_checkpoints_are_loaded(rng, empty_hub):
    torch.manual_seed(123)
    alexnet = torchvision.models.alexnet().eval()
    resnet = torchvision.models.resnet50().eval()
    cached_checkpoint(SWAV_URL).parent.mkdir(parents=True)
    torch.save(alexnet.state_dict(), cached_checkpoint(torchvision.models.AlexNet_Weights.IMAGENET1K_V1.url))
    swav_state = {f"module.{k}": v for k, v in resnet.state_dict().items() if not k.startswith("fc.")}
    swav_state["module.prototypes.weight"] = torch.zeros(10, 128)
    torch.save(swav_state, cached_checkpoint(SWAV_URL))

    networks = load_feature_networks("auto", None, names=["AlexNet", "SwAV"])
    assert [n.weights_label for n in networks] == [WEIGHTS_PRETRAINED, WEIGHTS_PRETRAINED]
    images = smooth_images(rng, 2, 40)
    inputs = (
        network_inputs(images, 224, "brain_diffuser") - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    ) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.inference_mode():
        expected_alex = create_feature_extractor(alexnet, {"features.11": "f"})(inputs)["f"].flatten(1).numpy()
        expected_swav = create_feature_extractor(resnet, {"avgpool": "f"})(inputs)["f"].flatten(1).numpy()
    np.testing.assert_allclose(networks[0].extract(images)["AlexNet(5)"], expected_alex, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(networks[1].extract(images)["SwAV"], expected_swav, rtol=1e-5, atol=1e-6)


def test_clip_loads_pretrained_folder_or_fails_clearly(rng, clip_folder, tmp_path):
    torch.manual_seed(7)
    model = CLIPVisionModelWithProjection(CLIPVisionConfig(**TINY_CLIP)).eval()
    model.save_pretrained(tmp_path / "clip")
    (network,) = load_feature_networks("random", str(tmp_path / "clip"), False, names=["CLIP"])
    assert network.weights_label == WEIGHTS_PRETRAINED
    images = smooth_images(rng, 2, 32)
    pixels = (
        torch.from_numpy(images).permute(0, 3, 1, 2) / 255.0
        - torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    ) / torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    with torch.inference_mode():
        expected = model(pixel_values=pixels).image_embeds.numpy()
    np.testing.assert_allclose(network.extract(images)["CLIP"], expected, rtol=1e-5, atol=1e-6)



def test_clip_without_weights_warns_once_and_never_stops_the_pixel_metrics(rng, clip_folder, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="nsdrecon.metrics.feature_nets"):
        (network,) = load_feature_networks("auto", str(clip_folder), False, names=["CLIP"])  # config, no weights
    assert network.weights_label == WEIGHTS_RANDOM_MISSING and network.input_size == 32
    assert len(caplog.records) == 1 and "could not load pretrained weights" in caplog.records[0].getMessage()

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="nsdrecon.metrics.feature_nets"):
        networks = load_feature_networks("auto", str(tmp_path / "no-such-clip"), False, names=["CLIP"])
    assert networks == []
    assert len(caplog.records) == 1 and "left out" in caplog.records[0].getMessage()
    gt, rec = smooth_images(rng, 3, 40), smooth_images(rng, 3, 40)
    table = evaluate_reconstructions(gt, rec, networks)
    assert table["CLIP"].isna().all() and table[["PixCorr", "SSIM"]].notna().all().all()
    with pytest.raises(FileNotFoundError, match="no vision config"):
        load_feature_networks("auto", str(tmp_path / "no-such-clip"), True, names=["CLIP"])


def test_an_empty_clip_folder_is_no_config(tmp_path, caplog):
    """transformers 5 reads a default config from a folder without config.json: a full-size random CLIP."""
    empty = tmp_path / "empty-clip"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=f"no config.json in {empty}"):
        load_feature_networks("auto", str(empty), True, names=["CLIP"])
    with caplog.at_level(logging.WARNING, logger="nsdrecon.metrics.feature_nets"):
        assert load_feature_networks("auto", str(empty), False, names=["CLIP"]) == []
    assert "left out" in caplog.records[-1].getMessage()
