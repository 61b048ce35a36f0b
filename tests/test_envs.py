"""Conda env files: conda-forge/nodefaults only, every dependency pinned, same versions as requirements.lock."""

import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

ENV_FILES = sorted((ROOT / "envs").glob("*.yaml"))


def lock_versions():
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        name, _, version = line.partition("==")
        pins[name.lower().replace("_", "-")] = version
    return pins


def test_env_files_exist():
    assert {p.stem for p in ENV_FILES} >= {"data", "gpu"}


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_pinned_and_matching_lock(path: Path):
    env = yaml.safe_load(path.read_text())
    assert env["channels"] == ["conda-forge", "nodefaults"]
    lock = lock_versions()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for spec in dep["pip"]:
                name, _, version = spec.partition("==")
                assert version, f"{path.name}: pip dependency {spec!r} is not pinned with =="
                assert lock.get(name.lower()) == version, f"{path.name}: {spec} but requirements.lock has {lock.get(name.lower())}"
        else:
            assert re.match(r"^[\w.-]+ =[\d.]+", dep), f"{path.name}: conda dependency {dep!r} is not pinned"


def test_every_rule_env_exists():
    for smk in (ROOT / "workflow/rules").glob("*.smk"):
        for name in re.findall(r'f"\{ENVS\}/([\w-]+\.yaml)"', smk.read_text()):
            assert (ROOT / "envs" / name).exists(), f"{smk.name} uses envs/{name}, which does not exist"
