"""Row-wise outputs survive an interrupted run: finished rows are kept, the output appears only complete."""

from __future__ import annotations

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
    real_batch = features._vae_latent_batch

    def dies_on_third_batch(vd_, batch):
        calls.append(len(batch))
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return real_batch(vd_, batch)

    monkeypatch.setattr(features, "_vae_latent_batch", dies_on_third_batch)
    out = tmp_path / "features.h5"
    with pytest.raises(KeyboardInterrupt):
        compute_stimulus_features(vd, images, captions, ids, out, batch_size=4)
    assert not out.exists()
    calls.clear()
    monkeypatch.setattr(features, "_vae_latent_batch", real_batch)
    monkeypatch.setattr(features, "_clip_image_batch", _counting(features._clip_image_batch, calls))
    compute_stimulus_features(vd, images, captions, ids, out, batch_size=4)
    assert calls == [2]  # rows 8..9 only: the first two batches were kept
    with h5py.File(out) as got, h5py.File(reference) as want:
        for name in ("nsd_id", "vae_latent", "clip_image", "clip_text"):
            np.testing.assert_allclose(got[name][()], want[name][()], rtol=1e-5, atol=1e-6)


def _counting(fn, calls):
    def wrapped(vd_, batch):
        calls.append(len(batch))
        return fn(vd_, batch)

    return wrapped
