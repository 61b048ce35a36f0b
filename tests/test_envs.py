"""Conda env files: conda-forge/nodefaults only, every dependency pinned, same versions as
requirements.lock, and the project installed in each by its post-deploy script."""

import os
import re
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

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


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_installs_the_project(path: Path):
    """Each env gets nsdrecon from its post-deploy script, built by the env's own setuptools."""
    script = path.with_name(f"{path.stem}.post-deploy.sh")
    assert script.is_file(), f"{path.name} has no {script.name}: the env would lack nsdrecon"
    command = script.read_text()
    assert "pip install --no-deps --no-build-isolation --editable" in command
    pip_specs = next(dep["pip"] for dep in yaml.safe_load(path.read_text())["dependencies"] if isinstance(dep, dict))
    pinned = dict(spec.split("==") for spec in pip_specs)
    build_requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    for requirement in map(Requirement, build_requires):
        assert requirement.name in pinned, f"{path.name} lacks {requirement.name}, needed to build nsdrecon"
        assert pinned[requirement.name] in requirement.specifier, f"{path.name}: {requirement} not met"


def test_post_deploy_installs_editable_project(tmp_path):
    """Run the script as Snakemake does: inside the env (here a bare venv that sees the
    project venv's setuptools), from the working directory, the clone."""
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", env], check=True)
    site = next(env.glob("lib/python3*/site-packages"))
    (site / "project_venv.pth").write_text(sysconfig.get_paths()["purelib"])
    path = f"{env / 'bin'}{os.pathsep}{os.environ['PATH']}"
    script = ROOT / "envs/gpu.post-deploy.sh"
    run = subprocess.run(["bash", script], cwd=ROOT, env={**os.environ, "PATH": path}, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    where = subprocess.run(
        [env / "bin/python", "-c", "import importlib.metadata as m, nsdrecon; print(m.version('nsdrecon'), nsdrecon.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout.split()
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert where == [version, str(ROOT / "src/nsdrecon/__init__.py")]
    elsewhere = subprocess.run(["bash", script], cwd=tmp_path, env={**os.environ, "PATH": path}, capture_output=True, text=True)
    assert elsewhere.returncode == 1 and "NSDRECON_ROOT" in elsewhere.stderr


def test_data_env_rule_scripts_import_without_torch():
    """envs/data.yaml has no torch: every rule that runs in it must import its stage without torch (or diffusers)."""
    rule_blocks = re.split(r"^\s*rule (\w+):", "".join(p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk")), flags=re.M)
    scripts = {
        ROOT / "workflow/scripts" / f"{m[1]}.py"
        for body in rule_blocks[2::2]
        if "data.yaml" in body and (m := re.search(r'"\.\./scripts/(\w+)\.py"', body))
    }
    assert len(scripts) > 20
    imports = sorted({line for s in scripts for line in s.read_text().splitlines() if line.startswith("from nsdrecon")})
    blocker = (
        "import importlib.abc, sys\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] in {'torch', 'torchvision', 'diffusers', 'transformers'}:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}')\n"
        "sys.meta_path.insert(0, Block())\n"
    )
    result = subprocess.run([sys.executable, "-c", blocker + "\n".join(imports)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
