"""The real Snakefile on a small embedded default, through snakemake.api, in a temporary directory.

Checks the outputs' contents (shapes, ranges, that pixel_ridge beats chance in
the synthetic world), that figures are written, and that changing a config
value reruns exactly the jobs downstream of it.
"""

import json
import shutil
import subprocess
import sys
from collections import Counter

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml
from PIL import Image
from snakemake.api import ConfigSettings, DAGSettings, OutputSettings, ResourceSettings, SnakemakeApi
from snakemake.settings.enums import Quietness

from nsdrecon.models import load_clip_vision, load_stable_diffusion, load_versatile_diffusion
from nsdrecon.metrics import METRICS
from nsdrecon.prediction_files import read_minddiffuser_inputs, read_stage2_losses
from tests.conftest import ROOT
from tests.snakemake_plan import pending, plan

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]  # the module's run is one long fixture

SMALL = {
    "subjects": ["subj01", "subj02"],
    "synthetic": {"n_images_per_subject": 400, "n_shared": 30, "trials_per_session": 300},
    "decoders": {"epochs": 1, "hidden": 64, "rank": 64},
    "reconstruct": {
        "num_inference_steps": 8,
        "methods": ["havir", "havir_no_text", "havir_oracle", "minddiffuser", "minddiffuser_oracle", "pixel_ridge"],
    },
    "minddiffuser": {"num_inference_steps": 8},
}


def merged_config():
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    for key, value in SMALL.items():
        if isinstance(value, dict):
            cfg[key].update(value)
        else:
            cfg[key] = value
    return cfg


def write_config(workdir, cfg):
    (workdir / "config").mkdir(exist_ok=True)
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(cfg))


@pytest.fixture(scope="module")
def shapes():
    """Feature shapes of the configured tiny models, read from their configs (random weights, no files needed)."""
    cfg = merged_config()
    vd_components = ["vae", "image_encoder", "text_encoder", "tokenizer"]
    vd = load_versatile_diffusion(ROOT / cfg["models"]["diffusion"]["id"], random_init=True, components=vd_components)
    sd_components = ["tokenizer", "text_encoder"]
    sd = load_stable_diffusion(ROOT / cfg["minddiffuser"]["model"]["id"], random_init=True, components=sd_components)
    clip = load_clip_vision(ROOT / cfg["minddiffuser"]["clip"]["id"], random_init=True).config
    return {
        "vd_latent": vd.latent_shape,
        "clip_image": vd.image_tokens,
        "clip_text": vd.text_tokens,
        "sd_latent": sd.latent_shape,
        "sd_text": sd.text_tokens,
        "clip_layer_dims": ((clip.image_size // clip.patch_size) ** 2 + 1) * clip.hidden_size,
    }


def run_workflow(workdir, cfg):
    """The real Snakefile run in ``workdir`` with ``cfg`` as its config file; returns ``workdir``."""
    write_config(workdir, cfg)
    with SnakemakeApi(OutputSettings(quiet={Quietness.PROGRESS})) as api:
        wf = api.workflow(
            snakefile=ROOT / "Snakefile",
            workdir=workdir,
            resource_settings=ResourceSettings(cores=2),
            config_settings=ConfigSettings(configfiles=[workdir / "config/config.yaml"]),
        )
        wf.dag(dag_settings=DAGSettings()).execute_workflow(executor="local")
    return workdir


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return run_workflow(tmp_path_factory.mktemp("wf"), merged_config())


def test_betas_and_features_have_nsd_shapes(run, shapes):
    ds = xr.open_dataset(run / "results/subj01/betas.nc", engine="h5netcdf")
    assert set(ds["split"].values) == {"train", "test"}
    n_test = int((ds["split"] == "test").sum())
    assert 20 <= n_test <= 30  # shared images seen within the sessions
    assert ds["structural"].dtype == np.float32 and ds["structural"].shape[1] > 50
    train = ds["structural"].values[ds["split"].values == "train"]
    assert abs(train.mean()) < 0.2 and 0.2 < train.std() < 1.5  # z-scored, then repeats averaged
    with h5py.File(run / "results/features/versatile_diffusion.h5") as f:
        assert f["vae_latent"].shape[1:] == shapes["vd_latent"]
        assert f["clip_image"].shape[1:] == shapes["clip_image"] and f["clip_text"].shape[1:] == shapes["clip_text"]
        assert "transformers" in " ".join(f.attrs.keys())


def test_decoders_beat_chance_on_held_out_images(run):
    for stream in ("structural", "semantic"):
        scores = pd.read_csv(run / f"results/subj01/decoders/{stream}_scores.tsv", sep="\t")
        dec = scores[scores.model == "decoder"]
        assert (dec.two_way_identification > 0.7).all(), scores
        ridge = scores[scores.model == "ridge"].set_index("target").mse
        assert (dec.set_index("target").mse <= ridge * 1.05).all()  # early stopping guards against worse


def test_reconstructions_and_metrics(run):
    with h5py.File(run / "results/subj02/havir/reconstructions.h5") as f:
        images = f["images"][()]
        assert images.dtype == np.uint8 and images.shape[1:] == (64, 64, 3)
        assert images.std() > 1  # not a constant image
    table = pd.read_csv(run / "results/tables/metrics.tsv", sep="\t")
    ours = table[(table.source == "this run") & (table.method == "pixel_ridge")]
    assert set(ours.subject) == {"subj01", "subj02", "mean"}
    # In the synthetic world the pixel baseline must identify its images well above chance (50%).
    assert (ours["PixCorr"] > 0.3).all() and (ours["AlexNet(2)"] > 0.65).all(), ours
    assert ((table.method == "havir_no_text") & (table.subject == "mean")).sum() == 1
    assert (table.source == "published").any()


def test_minddiffuser_decodes_and_refines(run, shapes):
    scores = pd.read_csv(run / "results/subj01/decoders/minddiffuser_scores.tsv", sep="\t").set_index("target")
    assert set(scores.index) == {"sd_latent", "sd_text", "clip_layer02", "clip_layer04", "clip_embedding"}
    assert (scores.loc[["sd_latent", "clip_layer02", "clip_embedding"], "two_way_identification"] > 0.65).all(), scores
    with h5py.File(run / "results/subj01/decoders/minddiffuser_test_predictions.h5") as f:
        n_test = len(f["nsd_id"])
        assert f["sd_latent"].shape == (n_test, *shapes["sd_latent"])
        n_tokens, dim = shapes["sd_text"]
        assert f["sd_text"].shape == (n_test, 15, dim) and f["sd_text_tail"].shape == (n_tokens - 15, dim)
        # tiny CLIP ViT-B/32: 17 tokens x 64 dims per layer, of which the top 25% are kept
        assert len(f["clip_layer02_index"]) == round(0.25 * shapes["clip_layer_dims"]) == f["clip_layer02"].shape[1]
    with h5py.File(run / "results/subj01/minddiffuser/reconstructions.h5") as f:
        assert f["images"].dtype == np.uint8 and f["images"].shape == (n_test, 64, 64, 3)
    losses = read_stage2_losses(run / "results/subj01/minddiffuser/reconstructions.h5")
    assert losses.shape == (n_test, merged_config()["minddiffuser"]["stage2"]["steps"] + 1)
    assert losses[:, -1].mean() < losses[:, 0].mean(), losses  # stage 2 lowers its feature loss
    assert read_stage2_losses(run / "results/subj01/pixel_ridge/reconstructions.h5") is None  # no stage 2


def test_oracles_reconstruct_from_the_true_features(run):
    """The oracle inputs are the features file's rows of the test images, in the decoders' formats."""
    with h5py.File(run / "results/subj01/oracle/havir_inputs.h5") as oracle, \
            h5py.File(run / "results/features/versatile_diffusion.h5") as features:
        rows = np.searchsorted(features["nsd_id"][()], oracle["nsd_id"][()])
        np.testing.assert_array_equal(oracle["clip_image"][()], features["clip_image"][()][rows])
        np.testing.assert_array_equal(oracle["vae_latent"][()], features["vae_latent"][()][rows])
    with h5py.File(run / "results/subj01/oracle/minddiffuser_inputs.h5") as oracle, \
            h5py.File(run / "results/subj01/decoders/minddiffuser_test_predictions.h5") as decoded:
        assert oracle["sd_text"].shape[1] == 77 and oracle["sd_text_tail"].shape[0] == 0
        np.testing.assert_array_equal(oracle["clip_layer02_index"][()], decoded["clip_layer02_index"][()])
    table = pd.read_csv(run / "results/tables/metrics.tsv", sep="\t").set_index(["subject", "method"])
    for oracle in ("havir_oracle", "minddiffuser_oracle"):
        assert np.isfinite(table.loc[("mean", oracle), "PixCorr"])


def test_figures_written(run):
    for name in ["metrics", "reconstructions_subj01", "masks_subj02", "ablations", "weights_subj01", "pathways"]:
        with Image.open(run / f"results/figures/{name}.png") as im:
            assert im.size[0] > 400 and im.size[1] > 200
        assert (run / f"results/figures/{name}.pdf").read_bytes()[:4] == b"%PDF"


def rerun_rules(workdir):
    """The rules of the jobs a run would execute, from Snakemake's summary (read through snakemake.api)."""
    _, files = plan(workdir)
    return set(pending(files)["rule"])


def test_config_change_reruns_exactly_downstream(run):
    assert rerun_rules(run) == set()  # everything is up to date
    cfg = merged_config()
    cfg["ridge"]["alphas"] = [100.0, 1000.0]
    write_config(run, cfg)
    try:
        jobs = rerun_rules(run)
    finally:
        write_config(run, merged_config())
    assert "train_decoder" in jobs and "reconstruct_pixel_ridge" in jobs and "figure_metrics" in jobs
    assert not jobs & {"generate_synthetic_nsd", "masks", "betas", "stimulus_features", "figure_masks"}


def test_execution_settings_rerun_nothing(run):
    """The device and the batch sizes say how to compute, not what: switching them leaves every output up to date."""
    cfg = merged_config()
    cfg["models"]["device"] = "cpu"
    for section in ("features", "reconstruct", "minddiffuser", "evaluate"):
        cfg[section]["batch_size"] += 3
    cfg["ridge"]["target_block"] //= 2
    write_config(run, cfg)
    try:
        assert rerun_rules(run) == set()
    finally:
        write_config(run, merged_config())


def test_interpretability_tables(run):
    weights = pd.read_csv(run / "results/subj01/interpretability/voxel_weights.tsv", sep="\t")
    ds = xr.open_dataset(run / "results/subj01/betas.nc", engine="h5netcdf")
    for stream in ("structural", "semantic"):
        rows = weights[weights.stream == stream]
        np.testing.assert_array_equal(rows[["i", "j", "k"]].to_numpy(), ds[f"{stream}_ijk"].values)
        assert (rows.weight > 0).all()
    shares = pd.read_csv(run / "results/tables/roi_weight_shares.tsv", sep="\t")
    np.testing.assert_allclose(shares.groupby(["subject", "stream"]).share.sum(), 1.0)
    # in the synthetic world the structural decoder reads early visual cortex, the semantic one higher areas
    structural = shares[shares.stream == "structural"].groupby("roi_group").share.mean()
    assert structural[["V1", "V2", "V3", "hV4"]].sum() > 0.8, structural
    overlap = pd.read_csv(run / "results/tables/stream_overlap.tsv", sep="\t")
    assert set(overlap.subject) == {"subj01", "subj02"}


def test_mix_ratio_change_reruns_exactly_the_havir_branch(run):
    cfg = merged_config()
    cfg["reconstruct"]["mix_ratio_text"] = 0.5
    write_config(run, cfg)
    try:
        jobs_per_rule, files = plan(run)
    finally:
        write_config(run, merged_config())
    subjects, havir = SMALL["subjects"], ["havir", "havir_no_text", "havir_oracle"]
    # the jobs that must rerun, each named by (rule, its first output)
    expected = {("reconstruct_havir", f"results/{s}/{m}/reconstructions.h5") for s in subjects for m in havir}
    # one evaluate job per subject (all its methods)
    expected |= {("evaluate", f"results/{s}/havir/metrics.tsv") for s in subjects}
    expected |= {("figure_reconstructions", f"results/figures/reconstructions_{s}.png") for s in subjects}
    expected |= {
        ("metrics_table", "results/tables/metrics.tsv"),
        ("figure_metrics", "results/figures/metrics.png"),
        ("figure_ablations", "results/figures/ablations.png"),
    }
    rerun = pending(files)
    assert expected <= set(zip(rerun["rule"], rerun["output_file"]))
    # and no other job: only these rules rerun, each has exactly the expected jobs, and every output of theirs reruns
    rules = {rule for rule, _ in expected}
    assert set(rerun["rule"]) == rules
    assert {rule: jobs_per_rule[rule] for rule in rules} == Counter(rule for rule, _ in expected)
    assert len(rerun) == files["rule"].isin(rules).sum()


def test_report_bundles_the_figures(run):
    subprocess.run(
        [sys.executable, "-m", "snakemake", "--report", "report.html", "--snakefile", str(ROOT / "Snakefile")],
        cwd=run, capture_output=True, text=True, check=True,
    )
    html = (run / "report.html").read_text(errors="replace")
    assert "reconstructions_subj01.png" in html and "masks_subj02.png" in html
    for name in ("ablations.png", "weights_subj02.png", "pathways.png", "metrics.png"):
        assert name in html, name


PROTOCOLS = {  # config/nsd.yaml's protocol choices (docs/protocols.md) at the small embedded default's sizes
    "subjects": ["subj01"],
    "features": {"vae_latent": "sample", "clip_image_input": "brain_diffuser"},
    "reconstruct": {"uncond_image": "grey", "schedule": "brain_diffuser", "methods": ["havir", "minddiffuser", "minddiffuser_stage1"]},
    "minddiffuser": {
        "clip_layers": [1, 2, 3, 4], "clip_output": "mlp", "clip_input": "minddiffuser", "context_tokens": 15,
        "captions": 5, "regression": "fastl2lir", "alphas": [0.15], "n_voxels": {"sd_latent": 100, "sd_text": 15, "clip": 30},
        "schedule": "minddiffuser",
        "stage2": {"steps": 4, "noise": "fresh", "layer_weights": "minddiffuser", "snapshot_every": 2, "inner_steps": None, "lr": 0.00999},
    },
}  # fmt: skip


def deep_merged(base: dict, overlay: dict) -> dict:
    out = dict(base)
    for key, value in overlay.items():
        out[key] = deep_merged(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


@pytest.fixture(scope="module")
def protocols_run(tmp_path_factory):
    """The small embedded default with every protocol of config/nsd.yaml switched on, one subject."""
    return run_workflow(tmp_path_factory.mktemp("protocols"), deep_merged(merged_config(), PROTOCOLS))


def test_paper_protocols_run_end_to_end(protocols_run):
    """Each protocol reaches the files: sampled latents and Brain-Diffuser's CLIP input; MindDiffuser's MLP
    features, 15-token context, FastL2LiR decoders with their voxel counts, its schedules and stage-2 loop."""
    with h5py.File(protocols_run / "results/features/versatile_diffusion.h5") as f:
        assert (f.attrs["vae_latent"], f.attrs["clip_image_input"]) == ("sample", "brain_diffuser")
    with h5py.File(protocols_run / "results/features/minddiffuser.h5") as f:
        assert (f.attrs["clip_output"], f.attrs["clip_input"], f.attrs["captions_per_image"]) == ("mlp", "minddiffuser", 5)
        assert f["sd_text"].shape[1] == 15 and "clip_layer01" in f
    inputs = read_minddiffuser_inputs(protocols_run / "results/subj01/decoders/minddiffuser_test_predictions.h5")
    assert (inputs.clip_output, inputs.clip_input, inputs.sd_text.shape[1], len(inputs.sd_text_tail)) == ("mlp", "minddiffuser", 15, 0)
    assert set(inputs.clip) == {"layer01", "layer02", "layer03", "layer04", "embedding"}
    scores = pd.read_csv(protocols_run / "results/subj01/decoders/minddiffuser_scores.tsv", sep="\t").set_index("target")
    assert scores.loc[["sd_latent", "sd_text", "clip_layer01"], "voxels_per_group"].tolist() == [100, 15, 30]
    with h5py.File(protocols_run / "results/subj01/havir/reconstructions.h5") as f:
        assert (f.attrs["schedule"], f.attrs["uncond_image"]) == ("brain_diffuser", "grey")
    refined = protocols_run / "results/subj01/minddiffuser/reconstructions.h5"
    with h5py.File(refined) as f:
        assert f.attrs["schedule"] == "minddiffuser" and json.loads(f.attrs["stage2"])["snapshot_every"] == 2
    assert read_stage2_losses(refined).shape[1] == 5
    stage1 = h5py.File(protocols_run / "results/subj01/minddiffuser_stage1/reconstructions.h5")["images"][()]
    assert np.abs(h5py.File(refined)["images"][()].astype(int) - stage1).mean() > 0.5  # stage 2 changed the images
    table = pd.read_csv(protocols_run / "results/tables/metrics.tsv", sep="\t")
    ours = table[(table.source == "this run") & (table.subject == "mean")].set_index("method")
    assert set(ours.index) == {"havir", "minddiffuser", "minddiffuser_stage1"} and np.isfinite(ours[METRICS]).all().all()
