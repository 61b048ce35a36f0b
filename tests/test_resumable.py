"""Row-wise outputs survive an interrupted run: finished rows are kept, the output appears only complete."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from nsdrecon import features
from nsdrecon.features import compute_stimulus_features
from nsdrecon.models import load_versatile_diffusion
from nsdrecon.resumable import RowWriter

TINY = Path(__file__).resolve().parents[1] / "resources" / "models" / "tiny-versatile-diffusion"
ROWS = {"x": ((2, 3), "float32")}


def _writer(path, ids=np.arange(6), attrs=None):
    return RowWriter(path, len(ids), ROWS, {"nsd_id": ids}, attrs or {"model": "a"})


def test_rows_resume_after_an_interruption(tmp_path):
    out = tmp_path / "out.h5"
    data = np.arange(36, dtype=np.float32).reshape(6, 2, 3)
    with _writer(out) as w:
        w.write(0, {"x": data[:2]})
        w.write(2, {"x": data[2:4]})
    assert not out.exists() and (tmp_path / "out.h5.partial.h5").exists()
    with _writer(out) as w:
        assert w.done == 4
        with pytest.raises(ValueError, match="expected row 4"):
            w.write(2, {"x": data[2:4]})
        w.write(4, {"x": data[4:]})
        w.finish()
    with h5py.File(out) as f:
        np.testing.assert_array_equal(f["x"][()], data)
        np.testing.assert_array_equal(f["nsd_id"][()], np.arange(6))
    assert not (tmp_path / "out.h5.partial.h5").exists()


def test_other_settings_or_ids_start_over(tmp_path):
    out = tmp_path / "out.h5"
    with _writer(out) as w:
        w.write(0, {"x": np.ones((3, 2, 3))})
    with _writer(out, attrs={"model": "b"}) as w:
        assert w.done == 0
        w.write(0, {"x": np.ones((3, 2, 3))})
    with _writer(out, ids=np.arange(6) + 1) as w:
        assert w.done == 0


def test_unfinished_output_cannot_finish_and_a_corrupt_partial_restarts(tmp_path):
    out = tmp_path / "out.h5"
    w = _writer(out)
    w.write(0, {"x": np.ones((3, 2, 3))})
    with pytest.raises(RuntimeError, match="3 of 6 rows"):
        w.finish()
    assert not out.exists()
    (tmp_path / "out.h5.partial.h5").write_bytes(b"not hdf5 at all")
    with _writer(out) as w:
        assert w.done == 0


def test_features_resume_computing_only_the_missing_batches(tmp_path, monkeypatch):
    vd = load_versatile_diffusion(
        TINY, random_init=True, seed=0, components=("vae", "image_encoder", "text_encoder", "tokenizer", "image_processor")
    )
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10, 64, 64, 3), dtype=np.uint8)
    captions = [["a red circle"]] * 10
    ids = np.arange(10) * 7
    reference = tmp_path / "reference.h5"
    compute_stimulus_features(vd, images, captions, ids, reference, batch_size=4)

    calls = []
    real_batch = features.latent_batch

    def dies_on_third_batch(vd_, batch, seeds=None):
        calls.append(len(batch))
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return real_batch(vd_, batch, seeds)

    monkeypatch.setattr(features, "latent_batch", dies_on_third_batch)
    out = tmp_path / "features.h5"
    with pytest.raises(KeyboardInterrupt):
        compute_stimulus_features(vd, images, captions, ids, out, batch_size=4)
    assert not out.exists()
    calls.clear()
    monkeypatch.setattr(features, "latent_batch", real_batch)
    monkeypatch.setattr(features, "clip_image_batch", _counting(features.clip_image_batch, calls))
    compute_stimulus_features(vd, images, captions, ids, out, batch_size=4)
    assert calls == [2]  # rows 8..9 only: the first two batches were kept
    with h5py.File(out) as got, h5py.File(reference) as want:
        for name in ("nsd_id", "vae_latent", "clip_image", "clip_text"):
            np.testing.assert_allclose(got[name][()], want[name][()], rtol=1e-5, atol=1e-6)


def _counting(fn, calls):
    def wrapped(vd_, batch, *args):
        calls.append(len(batch))
        return fn(vd_, batch, *args)

    return wrapped


def _corrupt_row(partial: Path, row: int) -> None:
    """Change a written row on disk behind the writer's back (as a silently failed write leaves it)."""
    with h5py.File(partial, "a") as f:
        f["x"][row] = 0


def test_a_row_that_differs_on_disk_is_redone_on_resume(tmp_path):
    out, partial = tmp_path / "out.h5", tmp_path / "out.h5.partial.h5"
    data = np.arange(1, 37, dtype=np.float32).reshape(6, 2, 3)
    with _writer(out) as w:
        w.write(0, {"x": data[:4]})
    _corrupt_row(partial, 2)
    with _writer(out) as w:
        assert w.done == 2  # rows 2 and 3 are redone
        w.write(2, {"x": data[2:]})
        w.finish()
    with h5py.File(out) as f:
        np.testing.assert_array_equal(f["x"][()], data)
        assert sorted(f) == ["nsd_id", "x"]  # the digests stay in the partial file


def test_finish_refuses_rows_that_differ_on_disk(tmp_path):
    out, partial = tmp_path / "out.h5", tmp_path / "out.h5.partial.h5"
    data = np.arange(1, 37, dtype=np.float32).reshape(6, 2, 3)
    w = _writer(out)
    w.write(0, {"x": data})
    w.file.flush()
    _corrupt_row(partial, 5)
    with pytest.raises(OSError, match=r"out\.h5\.partial\.h5: row 5 of 6 on disk differs"):
        w.finish()
    assert not out.exists()
    with _writer(out) as again:
        assert again.done == 5


WRITE_UNTIL_FULL = """
import resource, signal, sys
import numpy as np
from nsdrecon.resumable import RowWriter
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an over-limit write then fails with EFBIG, as a full disk with ENOSPC
limit = int(sys.argv[2])
if limit:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
images = np.random.default_rng(0).integers(1, 256, (20, 64, 64, 3), dtype=np.uint8)
with RowWriter(sys.argv[1], 20, {"images": ((64, 64, 3), "uint8")}, {"nsd_id": np.arange(20)}, {"m": "a"}) as w:
    for start in range(w.done, 20, 4):
        w.write(start, {"images": images[start : start + 4]})
    w.finish()
"""


@pytest.mark.parametrize("limit", [60_000, 150_000, 230_000])
def test_a_failed_write_fails_the_job_and_a_rerun_gives_the_full_output(tmp_path, limit):
    """A file-size limit makes the writes fail as a full disk does: the job fails, no output looks complete."""
    script = tmp_path / "write.py"
    script.write_text(WRITE_UNTIL_FULL)
    out = tmp_path / "out.h5"
    failed = subprocess.run([sys.executable, script, out, str(limit)], capture_output=True, text=True)
    assert failed.returncode != 0
    assert "out.h5.partial.h5: writing rows" in failed.stderr and "failed" in failed.stderr
    assert not out.exists()
    rerun = subprocess.run([sys.executable, script, out, "0"], capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    reference = tmp_path / "reference.h5"
    assert subprocess.run([sys.executable, script, reference, "0"]).returncode == 0
    with h5py.File(out) as got, h5py.File(reference) as want:
        np.testing.assert_array_equal(got["images"][()], want["images"][()])


@pytest.mark.parametrize("writer", ["text", "safetensors", "hdf5"])
def test_every_output_gets_an_ordinary_file_mode(tmp_path, writer):
    """Outputs are 0666 minus the umask, as a new file is, whichever library writes them (mkstemp makes 0600)."""
    from safetensors.numpy import save_file

    from nsdrecon.atomic import atomic_path, write_text
    from nsdrecon.h5io import save_arrays

    out = tmp_path / f"out.{writer}"
    old = os.umask(0o022)
    try:
        if writer == "text":
            write_text(out, "x")
        elif writer == "safetensors":
            with atomic_path(out) as tmp:
                save_file({"a": np.zeros(3, np.float32)}, str(tmp))
        else:
            save_arrays(out, {"a": np.zeros(3)})
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644
