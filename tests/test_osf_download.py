"""THINGS-EEG2 from OSF against a local server speaking OSF's API: files found by name, checked by SHA-256."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest

from nsdrecon.download import DownloadError, Expected, download_file
from nsdrecon.osf import OsfFile, find_osf_file, list_osf_files
from nsdrecon.pipeline.meeg import run_download_eeg_subject, run_download_osf
from tests.http_server import FileServer
from tests.osf_server import serve_osf_project, zip_bytes

SPLITS = {"train": "training", "test": "test"}


def npy(seed: int) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.random.default_rng(seed).normal(size=(30, 17)))
    return buffer.getvalue()


def test_listing_follows_pages_and_folders_and_finds_a_file_by_name():
    files = {f"sub-{k:02d}.zip": bytes([k]) * (100 + k) for k in range(1, 6)} | {"extra/deeper/notes.txt": b"hello"}
    with FileServer({}) as server:
        ids = serve_osf_project(server, "anp5v", files)
        listed = list_osf_files(f"{server.url}/v2/", "anp5v")
    assert sorted(f.path for f in listed) == sorted(f"/{path}" for path in files)  # 3 pages at the top, 2 folders
    found = find_osf_file(listed, "notes.txt", "anp5v")
    assert found.url.endswith(f"/download/{ids['extra/deeper/notes.txt']}/")
    assert found.expected == Expected(5, hashlib.sha256(b"hello").hexdigest())
    with pytest.raises(DownloadError, match=r"OSF project anp5v holds no file named sub-11.zip; it holds \['/extra"):
        find_osf_file(listed, "sub-11.zip", "anp5v")
    with pytest.raises(DownloadError, match=r"holds 2 files named a.txt: \['/a.txt', '/b/a.txt'\]"):
        find_osf_file([*listed, *(OsfFile(p, "u", 1, None) for p in ("/a.txt", "/b/a.txt"))], "a.txt", "anp5v")


def test_a_subjects_archive_becomes_its_two_files_and_is_removed(tmp_path):
    train, test = npy(0), npy(1)
    zipped = zip_bytes({"sub-03/": b"", "sub-03/preprocessed_eeg_training.npy": train, "sub-03/preprocessed_eeg_test.npy": test})
    outputs = {key: tmp_path / f"preprocessed_data/sub-03/preprocessed_eeg_{split}.npy" for key, split in SPLITS.items()}
    with FileServer({}) as server:
        serve_osf_project(server, "anp5v", {"sub-02.zip": b"other", "sub-03.zip": zipped})
        run_download_eeg_subject(
            api=f"{server.url}/v2/", subject="sub-03", parallel=1, retries=0,
            outputs=outputs,
        )  # fmt: skip
    assert outputs["train"].read_bytes() == train and outputs["test"].read_bytes() == test
    assert sorted(p.name for p in (tmp_path / "preprocessed_data").iterdir()) == ["sub-03"]  # the archive is gone


def test_an_archive_without_a_subject_file_is_named(tmp_path):
    with FileServer({}) as server:
        serve_osf_project(server, "anp5v", {"sub-01.zip": zip_bytes({"sub-01/preprocessed_eeg_test.npy": npy(1)})})
        with pytest.raises(DownloadError, match=r"sub-01.zip: 0 members named preprocessed_eeg_training.npy"):
            run_download_eeg_subject(
                api=f"{server.url}/v2/", subject="sub-01", parallel=1, retries=0,
                outputs={key: tmp_path / f"sub-01/preprocessed_eeg_{split}.npy" for key, split in SPLITS.items()},
            )  # fmt: skip


def test_bytes_that_differ_from_the_listed_sha256_never_land(tmp_path):
    body = bytes(range(256)) * 40
    out = tmp_path / "image_set/image_metadata.npy"
    with FileServer({}) as server:
        serve_osf_project(server, "y63gw", {"image_metadata.npy": body})
        server.faults.etag = None  # only the listing can tell
        server.faults.corrupt_prefix = "download/"  # the file's bodies, not the listing's
        server.faults.corrupt = 1  # the first body arrives with a flipped byte, the retry intact
        run_download_osf(
            api=f"{server.url}/v2/", project="y63gw", name="image_metadata.npy", parallel=1, retries=1, out_path=out
        )
        assert out.read_bytes() == body and server.faults.corrupt == 0

        out.chmod(0o644)
        out.write_bytes(body[:-1] + b"\x00")  # same size, other bytes: fetched again
        run_download_osf(
            api=f"{server.url}/v2/", project="y63gw", name="image_metadata.npy", parallel=1, retries=0, out_path=out
        )
        assert out.read_bytes() == body

        server.faults.corrupt = 5
        out.unlink()
        with pytest.raises(DownloadError, match=r"MISMATCH: sha256 .* != listed"):
            run_download_osf(
                api=f"{server.url}/v2/", project="y63gw", name="image_metadata.npy", parallel=1, retries=1,
                out_path=out,
            )  # fmt: skip
    assert not out.exists()


def test_a_server_refusing_head_is_asked_with_get_and_a_contradicting_size_fails(tmp_path):
    body = b"x" * 5000
    with FileServer({"f.bin": body}) as server:
        server.faults.refuse_head = True
        result = download_file(f"{server.url}/f.bin", tmp_path / "f.bin", retries=0, progress=False)
        assert result.size == 5000 and (tmp_path / "f.bin").read_bytes() == body
        with pytest.raises(DownloadError, match=r"announces 5000 bytes, the listing 4999"):
            download_file(f"{server.url}/f.bin", tmp_path / "g.bin", retries=0, progress=False, expected=Expected(4999))
