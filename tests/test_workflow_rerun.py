"""Model folders are declared inputs: editing a model's config.json reruns exactly the rules that load it.

A finished run is simulated without computing anything: every output the DAG
names is created empty and a touch run (`snakemake --touch`) records it as up to
date. What a later run would redo is read from Snakemake's summary (`--summary`,
a TSV per output file), not from its printed messages; both go through
snakemake.api in this process (tests/snakemake_plan.py).
"""

import json
import shutil

import pandas as pd
import pytest
import yaml

from tests.conftest import ROOT
from tests.snakemake_plan import plan, run

MODEL_KEYS = {  # config key path -> the tiny model folder it names in the embedded default
    ("models", "diffusion", "id"): "tiny-versatile-diffusion",
    ("minddiffuser", "model", "id"): "tiny-stable-diffusion",
    ("minddiffuser", "clip", "id"): "tiny-clip-vit-base-patch32",
    ("evaluate", "clip_id"): "tiny-versatile-diffusion",
}


def summary(workdir, forcerun=()) -> pd.DataFrame:
    """Snakemake's summary: one row per output file with its rule and whether a run would update it."""
    return plan(workdir, forcerun=forcerun)[1]


def pending(table: pd.DataFrame) -> set[str]:
    return set(table.loc[table["plan"] == "update pending", "output_file"])


@pytest.fixture
def finished_run(tmp_path):
    """A workdir whose every output is up to date, with its own copy of the tiny models."""
    shutil.copytree(ROOT / "resources/models", tmp_path / "models", symlinks=True)
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    for keys, folder in MODEL_KEYS.items():
        section = cfg
        for key in keys[:-1]:
            section = section[key]
        section[keys[-1]] = str(tmp_path / "models" / folder)
    (tmp_path / "config").mkdir()
    (tmp_path / "config/config.yaml").write_text(yaml.safe_dump(cfg))
    for output in summary(tmp_path)["output_file"]:
        path = tmp_path / output
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    run(tmp_path, pseudo_executor="touch")
    assert not pending(summary(tmp_path))
    return tmp_path


def edit_config(path):
    config = json.loads(path.read_text())
    config["_edited_by_test"] = True  # content changes (Snakemake ignores a newer mtime with the same checksum)
    path.write_text(json.dumps(config, indent=2))


@pytest.mark.parametrize(
    "config_file, loaders",
    [
        # MindDiffuser's CLIP ViT-B/32: its features and its stage-2 refinement
        ("tiny-clip-vit-base-patch32/config.json", ["minddiffuser_features", "reconstruct_minddiffuser"]),
        # VD's image UNet: HAVIR's features, reconstructions and the metric CLIP (evaluate.clip_id is the VD
        # folder); not MindDiffuser's rules, whose SD folder links VD's autoencoder but not its UNet
        ("tiny-versatile-diffusion/image_unet/config.json", ["stimulus_features", "reconstruct_havir", "evaluate"]),
    ],
)
def test_editing_a_model_config_reruns_exactly_its_rules(finished_run, config_file, loaders):
    # what rerunning the loaders would redo: their jobs and everything downstream of them
    expected = pending(summary(finished_run, forcerun=loaders))
    edit_config(finished_run / "models" / config_file)
    table = summary(finished_run)
    assert pending(table) == expected
    directly = set(table.loc[table["status"] == "updated input files", "rule"])
    assert directly <= set(loaders)
    rerun_rules = set(table.loc[table["plan"] == "update pending", "rule"])
    assert set(loaders) <= rerun_rules
    assert not rerun_rules & {"generate_synthetic_nsd", "masks", "betas", "reconstruct_pixel_ridge"}
