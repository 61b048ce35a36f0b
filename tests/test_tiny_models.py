"""The tiny-model trainers: each runs, is deterministic, saves what the pipeline's loaders read; data stay disjoint."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from nsdrecon.models import load_clip_vision, load_stable_diffusion, load_versatile_diffusion
from nsdrecon.synthetic.design import make_expdesign
from nsdrecon.synthetic.generate import _DESIGN, stimulus_scenes
from nsdrecon.synthetic.rng import stream_rng
from nsdrecon.synthetic.scenes import render_scenes
from nsdrecon.tiny_models.data import make_scene_set, overlapping_images
from nsdrecon.tiny_models.train import MD_CLIP, SD, VD, TrainingPlan, train_all

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "resources" / "models"


def _config_copy(tmp_path: Path) -> Path:
    """The tiny model folders' configs and tokenizer, without any weights, as the trainer's input."""
    out = tmp_path / "models"
    for folder in (VD, SD, MD_CLIP):
        shutil.copytree(MODELS / folder, out / folder, symlinks=True, ignore=shutil.ignore_patterns("*.safetensors"))
    return out


def _weights(root: Path) -> dict[str, dict[str, torch.Tensor]]:
    return {str(path.relative_to(root)): load_file(path) for path in sorted(root.rglob("*.safetensors"))}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two quick trainings from the same seed, each in its own folder."""
    runs = []
    for name in ("first", "second"):
        root = _config_copy(tmp_path_factory.mktemp(name))
        runs.append((root, train_all(root, TrainingPlan(threads=1).quick())))
    return runs


def test_every_trainer_saves_weights_the_pipeline_loads(trained):
    root, report = trained[0]
    vd = load_versatile_diffusion(root / VD)
    sd = load_stable_diffusion(root / SD)
    vision = load_clip_vision(root / MD_CLIP)
    assert not vd.random_init and not sd.random_init
    # the shared text tower: SD's text encoder is VD's without the projection
    torch.testing.assert_close(sd.text_encoder.embeddings.token_embedding.weight,
                               vd.text_encoder.text_model.embeddings.token_embedding.weight)
    assert vision.config.patch_size != vd.image_encoder.config.patch_size  # a second vision tower
    assert vd.vae.config.scaling_factor == report["vae"]["scaling_factor"] > 0
    assert (root / SD / "vae").resolve() == (root / VD / "vae").resolve()  # one autoencoder, as SD and VD share it
    for section in ("vae", "clip", "vd_unet", "sd_unet"):
        assert all(np.isfinite(v) for v in report[section].values() if isinstance(v, float)), section
    assert (root / VD / "training.json").is_file()


def test_training_is_deterministic(trained):
    (first, _), (second, _) = trained
    a, b = _weights(first), _weights(second)
    # vae (SD's vae/ is a link, not followed), 3 unets (VD image and text, SD), 2 vision towers, 2 text encoders
    assert a.keys() == b.keys() and len(a) == 8
    for name in a:
        for key in a[name]:
            assert torch.equal(a[name][key], b[name][key]), (name, key)


def test_retraining_one_stage_reproduces_the_full_run(trained, tmp_path):
    """``--stages vd_unet`` retrains VD's UNet from the saved encoders exactly as the full run trained it."""
    first, report = trained[0]
    again = tmp_path / "models"
    shutil.copytree(first, again, symlinks=True)
    plan = TrainingPlan(threads=1).quick()
    retrained = train_all(again, plan, stages=("vd_unet",))
    a, b = _weights(first), _weights(again)
    unet_files = [name for name in a if "_unet/" in name and name.startswith(VD)]
    assert len(unet_files) == 2
    for name in unet_files:
        for key in a[name]:
            assert torch.equal(a[name][key], b[name][key]), (name, key)
    assert retrained["vae"] == report["vae"] and retrained["seconds"]["vae"] == report["seconds"]["vae"]
    with pytest.raises(ValueError, match="unknown training stages"):
        train_all(again, plan, stages=("unet",))


def test_training_changes_the_weights(trained):
    root, _ = trained[0]
    random = load_versatile_diffusion(root / VD, random_init=True, seed=0, components=["vae"]).vae
    trained_vae = load_versatile_diffusion(root / VD, components=["vae"]).vae
    assert not torch.equal(random.decoder.conv_out.weight, trained_vae.decoder.conv_out.weight)


def test_training_scenes_are_not_the_datasets_images():
    """No scene the tiny models train on is a stimulus of the embedded default (config/config.yaml)."""
    design = make_expdesign(stream_rng(0, _DESIGN), 1000, 50, 750, 8)
    n_stimuli = int(design["subjectim"].max())
    dataset = render_scenes(stimulus_scenes(0, n_stimuli), 64)
    plan = TrainingPlan()
    for split, n in (("train", plan.n_train), ("heldout", plan.n_heldout)):
        scenes = make_scene_set(plan.seed, split, n, plan.image_size)
        assert overlapping_images(scenes.images, dataset).size == 0, split
    assert overlapping_images(dataset[:5], dataset[:5]).tolist() == [0, 1, 2, 3, 4]  # the check can find overlap
