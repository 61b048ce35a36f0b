"""source: nsd against a local server: downloads are write-protected and recorded, `snakemake verify` re-checks them."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from nsdrecon import layout
from tests.http_server import FileServer

ROOT = Path(__file__).resolve().parents[1]
KEYS = [layout.expdesign(), layout.roi("subj01", "nsdgeneral")]

pytestmark = pytest.mark.slow


def snakemake(workdir, *args):
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--snakefile", str(ROOT / "Snakefile"), *args],
        cwd=workdir, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )


def test_verify_finds_a_download_changed_afterwards(tmp_path):
    rng = np.random.default_rng(0)
    files = {key: rng.integers(0, 256, size=50_000 + 1000 * i, dtype=np.uint8).tobytes() for i, key in enumerate(KEYS)}
    with FileServer(files) as server:
        cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
        cfg.update(source="nsd", nsd_root="nsd", nsd_url=server.url, subjects=["subj01"])
        (tmp_path / "config").mkdir()
        (tmp_path / "config/config.yaml").write_text(yaml.safe_dump(cfg))
        fetched = snakemake(tmp_path, *(f"nsd/{key}" for key in KEYS))
    assert fetched.returncode == 0, fetched.stderr[-3000:]
    for key, body in files.items():
        path = tmp_path / "nsd" / key
        assert path.read_bytes() == body
        assert path.stat().st_mode & 0o222 == 0  # protected(): no write bits
        assert (tmp_path / "logs/download_nsd" / f"{key}.json").is_file()

    ok = snakemake(tmp_path, "verify")
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert (tmp_path / "logs/verify_downloads.log").read_text().count(" ok ") == 2

    changed = tmp_path / "nsd" / KEYS[1]
    changed.chmod(0o644)
    body = bytearray(changed.read_bytes())
    body[7] ^= 0xFF  # same size: the downloader's own checks would not notice
    changed.write_bytes(bytes(body))
    failed = snakemake(tmp_path, "verify")
    assert failed.returncode != 0
    assert f"nsd/{KEYS[1]}: content changed" in failed.stderr
    assert f"nsd/{KEYS[0]}:" not in failed.stderr
