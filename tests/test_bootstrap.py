"""tools/bootstrap.sh: returns at once when the venv is current, rebuilds one made for another folder."""

from __future__ import annotations

import os
import shutil
import subprocess

from tests.conftest import ROOT

# Stands in for python3.11: `-m venv .venv` makes a .venv whose python accepts and logs pip calls.
FAKE_PYTHON = """#!/usr/bin/env bash
echo "python $*" >> "$BOOTSTRAP_LOG"
if [ "$1 $2" = "-m venv" ]; then
    mkdir -p "$3/bin"
    printf '#!/usr/bin/env bash\\necho "venv-python $*" >> "$BOOTSTRAP_LOG"\\n' > "$3/bin/python"
    chmod +x "$3/bin/python"
fi
"""


def _clone(folder):
    (folder / "tools").mkdir(parents=True)
    shutil.copy(ROOT / "tools/bootstrap.sh", folder / "tools")
    for name in ("requirements.lock", "pyproject.toml"):
        shutil.copy(ROOT / name, folder)
    return folder


def _bootstrap(folder, tmp_path):
    fake = tmp_path / "python3.11"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    log = tmp_path / f"{folder.name}.log"
    env = {**os.environ, "PYTHON": str(fake), "BOOTSTRAP_LOG": str(log)}
    result = subprocess.run(["bash", folder / "tools/bootstrap.sh"], env=env, capture_output=True, text=True, check=True)
    return result.stdout, log.read_text() if log.exists() else ""


def test_a_moved_clone_gets_a_new_venv(tmp_path):
    first = _clone(tmp_path / "first")
    out, calls = _bootstrap(first, tmp_path)
    assert "python -m venv .venv" in calls and "venv-python -m pip install --quiet -r requirements.lock" in calls
    _, calls = _bootstrap(first, tmp_path)
    assert calls.count("-m venv") == 1  # current: nothing redone
    moved = tmp_path / "moved"
    shutil.copytree(first, moved)
    out, calls = _bootstrap(moved, tmp_path)
    assert f".venv was made for {first.resolve()}, not {moved.resolve()}" in out
    assert "python -m venv .venv" in calls
    _, calls = _bootstrap(moved, tmp_path)
    assert calls.count("-m venv") == 1
