"""Shared fixtures: the repository root and a workdir with a copy of config/."""

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def workdir(tmp_path):
    """A temporary working directory holding a copy of config/ (configfile paths are relative)."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    return tmp_path
