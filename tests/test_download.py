"""Downloader against a local server with injected faults: complete files or clear errors."""

import numpy as np
import pytest

from nsdrecon.download import DownloadError, download_file
from tests.http_server import FileServer

KEY = "nsddata_betas/ppdata/subj01/func1pt8mm/betas_fithrf_GLMdenoise_RR/betas_session01.hdf5"


@pytest.fixture
def payload():
    return np.random.default_rng(0).integers(0, 256, size=300_001, dtype=np.uint8).tobytes()


@pytest.fixture
def server(payload):
    with FileServer({KEY: payload}) as s:
        yield s


def fetch(server, dest, **kw):
    return download_file(f"{server.url}/{KEY}", dest, backoff=0.01, progress=False, **kw)


def test_clean_download_then_skip(server, payload, tmp_path):
    dest = tmp_path / "b.hdf5"
    assert fetch(server, dest).fetched
    assert dest.read_bytes() == payload
    gets = server.faults.gets
    again = fetch(server, dest)
    assert not again.fetched and server.faults.gets == gets  # nothing re-downloaded


def test_dropped_connection_resumes_with_range(server, payload, tmp_path):
    server.faults.drop_after = [100_000, 50_000]
    dest = tmp_path / "b.hdf5"
    fetch(server, dest)
    assert dest.read_bytes() == payload
    assert server.faults.range_requests == 2


def test_server_errors_are_retried(server, payload, tmp_path):
    server.faults.statuses = [500, 503, 503]
    dest = tmp_path / "b.hdf5"
    fetch(server, dest)
    assert dest.read_bytes() == payload


def test_server_without_range_support_restarts(server, payload, tmp_path):
    server.faults.ignore_range = True
    server.faults.drop_after = [120_000]
    dest = tmp_path / "b.hdf5"
    fetch(server, dest)
    assert dest.read_bytes() == payload


def test_corrupted_partial_longer_than_remote_is_discarded(server, payload, tmp_path):
    dest = tmp_path / "b.hdf5"
    (tmp_path / "b.hdf5.part").write_bytes(b"x" * (len(payload) + 10))
    fetch(server, dest)
    assert dest.read_bytes() == payload


def test_persistent_truncation_fails_clearly_and_leaves_no_file(server, tmp_path):
    server.faults.drop_after = [1000] * 10
    dest = tmp_path / "b.hdf5"
    with pytest.raises(DownloadError, match="gave up after 3 attempts"):
        fetch(server, dest, retries=2)
    assert not dest.exists()


def test_missing_key_is_a_permanent_error(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_file(f"{server.url}/nope", tmp_path / "x", backoff=0.01, progress=False)
    assert server.faults.gets == 0


def test_wrong_size_local_file_is_refetched(server, payload, tmp_path):
    dest = tmp_path / "b.hdf5"
    dest.write_bytes(payload[:10])
    assert fetch(server, dest).fetched
    assert dest.read_bytes() == payload
