"""Parse-time config checks: what the schema cannot know, named by key and value."""

from __future__ import annotations

import copy

import pytest
import yaml

from nsdrecon.config_checks import ConfigError, check_config
from tests.conftest import ROOT

DEFAULT = yaml.safe_load((ROOT / "config/config.yaml").read_text())
GENERATIVE = [("models.diffusion.id", DEFAULT["models"]["diffusion"]["id"])]


def test_the_embedded_default_passes():
    check_config(DEFAULT, ROOT, GENERATIVE)


def test_nsd_labels_come_from_a_downloaded_ctab(tmp_path):
    cfg = copy.deepcopy(DEFAULT) | {"source": "nsd", "nsd_root": str(tmp_path), "subjects": ["subj01"]}
    cfg["masks"]["semantic"] = {"floc-faces": ["FFA-1", "FFA-3"]}
    with pytest.raises(ConfigError, match=r"masks\.semantic\.floc-faces: unknown label\(s\) \['FFA-3'\]"):
        check_config(cfg, ROOT, GENERATIVE)
    ctab = tmp_path / "nsddata/freesurfer/subj01/label/floc-faces.mgz.ctab"
    ctab.parent.mkdir(parents=True)
    ctab.write_text("0 Unknown\n1 OFA\n2 FFA-1\n3 FFA-3\n")  # a subject's own table wins over the known one
    check_config(cfg, ROOT, GENERATIVE)


def test_an_nsd_roi_without_a_known_table_passes_until_downloaded(tmp_path):
    cfg = copy.deepcopy(DEFAULT) | {"source": "nsd", "nsd_root": str(tmp_path), "subjects": ["subj03"]}
    cfg["masks"]["semantic"] = {"Kastner2015": ["VO1", "PHC1"]}
    check_config(cfg, ROOT, GENERATIVE)
    cfg["betas"]["sessions"] = 37
    with pytest.raises(ConfigError, match=r"betas\.sessions: 37 sessions, but \{'subj03': 32\} have fewer"):
        check_config(cfg, ROOT, GENERATIVE)


def test_an_uncached_hub_model_fails_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ConfigError, match=r"minddiffuser\.model\.id: Hub model 'CompVis/stable-diffusion-v1-4' is not in"):
        check_config(DEFAULT, ROOT, [("minddiffuser.model.id", "CompVis/stable-diffusion-v1-4")])
