"""source: nsd against a local server: downloads are write-protected and recorded, `snakemake verify` re-checks them."""

import os
import subprocess
import sys
from pathlib import Path

import h5py
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


def _run_to_responses(tmp_path, subject, cfg_update):
    """Snakemake on ``source: things_*`` up to one subject's stream matrices, all data fetched from the server."""
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    cfg.update(subjects=[subject], **cfg_update)
    (tmp_path / "config").mkdir(parents=True)
    (tmp_path / "config/config.yaml").write_text(yaml.safe_dump(cfg))
    return snakemake(tmp_path, f"results/{subject}/betas.nc", f"results/{subject}/stimuli.h5")


def test_things_eeg_comes_from_osf_by_name_and_is_read_in_its_real_layout(tmp_path):
    """Each subject's archive (OSF anp5v) and the image set (y63gw), as OSF's API lists them, up to the responses."""
    from nsdrecon.synthetic.things_eeg import write_synthetic_things_eeg
    from tests.osf_server import serve_osf_project, zip_bytes

    world = tmp_path / "world"
    write_synthetic_things_eeg(world, ["sub-01"], n_train_concepts=12, n_train_exemplars=2, n_test_concepts=4,
                               test_repetitions=6, image_size=32)  # fmt: skip
    subject = {f"sub-01/{p.name}": p.read_bytes() for p in (world / "preprocessed_data/sub-01").iterdir()}
    image_set = {"image_metadata.npy": (world / "image_set/image_metadata.npy").read_bytes()}
    for folder in ("training_images", "test_images"):
        files = sorted(p for p in (world / "image_set" / folder).rglob("*") if p.is_file())
        image_set[f"{folder}.zip"] = zip_bytes({p.relative_to(world / "image_set").as_posix(): p.read_bytes() for p in files})
    run = tmp_path / "run"
    with FileServer({}) as server:
        serve_osf_project(server, "anp5v", {"sub-01.zip": zip_bytes(subject), "sub-02.zip": b"not this one"})
        serve_osf_project(server, "y63gw", {f"THINGS-EEG2/{name}": body for name, body in image_set.items()})
        result = _run_to_responses(run, "sub-01", {"source": "things_eeg", "meeg": {
            **yaml.safe_load((ROOT / "config/config.yaml").read_text())["meeg"], "root": "data", "osf_api": f"{server.url}/v2/",
        }})  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    for name, body in subject.items():
        assert (run / "data/preprocessed_data" / name).read_bytes() == body
    assert not (run / "data/preprocessed_data/sub-01.zip").exists()
    for name, body in image_set.items():
        assert (run / "data/image_set" / name).read_bytes() == body
    with h5py.File(run / "results/sub-01/stimuli.h5") as f:
        assert f["imgBrick"].shape[0] == 12 * 2 + 4  # every image, read from the zipped folders


def test_things_meg_comes_from_openneuro_with_every_split_epochs_file(tmp_path):
    """The epochs' first file, its three continuation files and the sample attributes, by key, up to the responses."""
    from nsdrecon.synthetic.things_meg import IMAGES, write_synthetic_things_meg

    world = tmp_path / "world"
    write_synthetic_things_meg(world, [1], n_concepts=16, n_exemplars=3, n_test_concepts=4, n_sensors=20, image_size=32)
    keys = [p.relative_to(world).as_posix() for p in sorted(world.glob("*/**/*")) if p.is_file() and IMAGES not in p.parts]
    assert len([k for k in keys if k.startswith("derivatives/")]) == 4
    run = tmp_path / "run"
    meeg = yaml.safe_load((ROOT / "config/config.yaml").read_text())["meeg"]
    meeg["streams"]["structural"]["channels"] = "^M[LRZ][OP]"  # CTF occipital/parietal, as config/things_meg.yaml
    with FileServer({key: (world / key).read_bytes() for key in keys if "/" in key}) as server:
        result = _run_to_responses(run, "P1", {"source": "things_meg", "meeg": {
            **meeg, "root": "data", "meg_url": f"{server.url}/", "things_images": str(world / IMAGES),
        }})  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    for key in keys:
        if "/" in key:
            assert (run / "data" / key).read_bytes() == (world / key).read_bytes()
    with h5py.File(run / "results/P1/stimuli.h5") as f:
        assert f["imgBrick"].shape[0] == 12 * 3 + 4  # training concepts overlapping the test removed, as ATM does
