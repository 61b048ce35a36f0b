"""Downloader against a local server with injected faults: complete files or clear errors."""

import numpy as np
import pytest

from nsdrecon.download import CHUNK, DownloadError, download_file
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


BIG = 3_000_001  # several MB-sized pieces at min_segment=256 KiB


@pytest.fixture
def big():
    return np.random.default_rng(1).integers(0, 256, size=BIG, dtype=np.uint8).tobytes()


def test_parallel_ranges_with_drops_and_5xx_give_identical_bytes(big, tmp_path):
    with FileServer({KEY: big}) as s:
        s.faults.drop_after = [100_000, 70_000, 20_000]
        s.faults.statuses = [503]
        dest = tmp_path / "b.hdf5"
        result = fetch(s, dest, parallel=6, min_segment=256 << 10)
        assert dest.read_bytes() == big and result.checksum == "md5 ok"
        assert s.faults.range_requests >= 6
        # each dropped piece resumed where its last written chunk ended: at most one chunk per drop re-sent
        assert BIG <= s.faults.bytes_sent <= BIG + 3 * CHUNK
        assert not (tmp_path / "b.hdf5.part").exists() and not (tmp_path / "b.hdf5.part.json").exists()


def test_several_files_at_once_with_faults_then_nothing_refetched(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(2)
    files = {f"k/{i}.bin": rng.integers(0, 256, size=400_000 + i, dtype=np.uint8).tobytes() for i in range(6)}
    with FileServer(files) as s:
        s.faults.drop_after = [50_000] * 4
        s.faults.statuses = [500, 503]
        s.faults.corrupt = 1
        with ThreadPoolExecutor(6) as pool:
            get = lambda k, **kw: download_file(f"{s.url}/{k}", tmp_path / k, backoff=0.01, progress=False, **kw)  # noqa: E731
            results = list(pool.map(lambda k: get(k, parallel=3, min_segment=64 << 10), files))
        assert all(r.fetched for r in results)
        for key, body in files.items():
            assert (tmp_path / key).read_bytes() == body
        gets = s.faults.gets
        again = [get(k) for k in files]
        assert not any(r.fetched for r in again) and s.faults.gets == gets


def test_corrupt_transfer_fails_checksum_and_is_fetched_again(server, payload, tmp_path):
    server.faults.corrupt = 1
    dest = tmp_path / "b.hdf5"
    result = fetch(server, dest)
    assert dest.read_bytes() == payload and result.checksum == "md5 ok"
    assert server.faults.gets == 2


def test_partial_with_wrong_bytes_is_caught_by_the_checksum(server, payload, tmp_path):
    dest = tmp_path / "b.hdf5"
    (tmp_path / "b.hdf5.part").write_bytes(b"\0" * 1000)  # right length for a prefix, wrong bytes
    fetch(server, dest)
    assert dest.read_bytes() == payload
    assert server.faults.range_requests == 1 and server.faults.gets == 2  # resumed, mismatched, refetched whole


def test_wrong_bytes_without_checksum_are_a_clear_limit(server, payload, tmp_path):
    server.faults.etag = None
    dest = tmp_path / "b.hdf5"
    (tmp_path / "b.hdf5.part").write_bytes(b"\0" * 1000)
    result = fetch(server, dest)
    assert result.checksum == "size only: no ETag"
    assert dest.read_bytes()[1000:] == payload[1000:]  # only the size can be checked without an MD5


def test_existing_complete_file_with_wrong_bytes_is_refetched(server, payload, tmp_path):
    dest = tmp_path / "b.hdf5"
    dest.write_bytes(payload[::-1])
    assert fetch(server, dest).fetched
    assert dest.read_bytes() == payload


def test_multipart_etag_is_verified_with_its_part_size(tmp_path):
    import hashlib

    body = np.random.default_rng(3).integers(0, 256, size=(2 << 20) + 5, dtype=np.uint8).tobytes()
    parts = [body[i : i + (1 << 20)] for i in range(0, len(body), 1 << 20)]
    etag = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + f"-{len(parts)}"
    with FileServer({KEY: body}) as s:
        s.faults.etag = etag
        result = fetch(s, tmp_path / "b")
        assert result.checksum == "multipart md5 ok (3 parts of 1 MiB)"
        s.faults.etag = etag.replace(etag[0], "0" if etag[0] != "0" else "1", 1)
        with pytest.raises(DownloadError, match="multipart md5 differs"):
            fetch(s, tmp_path / "c", retries=1)


def test_records_catch_a_same_size_change_after_download(server, payload, tmp_path):
    """The downloader verifies bytes while they arrive; the record catches what happens to them afterwards."""
    import hashlib
    import json

    from nsdrecon.download_records import verify_records, write_record

    root, records = tmp_path / "nsd", tmp_path / "records"
    dest = root / KEY
    for _ in range(2):  # fetched, then skipped (complete): both record the file
        record = write_record(records / f"{KEY}.json", KEY, f"{server.url}/{KEY}", fetch(server, dest))
    assert record["status"] == "skipped" and record["bytes"] == len(payload) == 300_001
    assert record["sha256"] == hashlib.sha256(payload).hexdigest() and record["checksum"] == "md5 ok"
    assert json.loads((records / f"{KEY}.json").read_text()) == record
    assert verify_records(records, root).status.tolist() == ["ok"]

    changed = bytearray(payload)
    changed[123_456] ^= 0xFF  # same size, one byte different
    dest.write_bytes(bytes(changed))
    assert verify_records(records, root).status.tolist() == ["content changed"]
    dest.write_bytes(payload[:-1])
    assert verify_records(records, root).status.tolist() == ["size changed"]
    dest.unlink()
    assert verify_records(records, root).status.tolist() == ["missing"]
    (records / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="broken.json: not a readable download record"):
        verify_records(records, root)


def test_zip_members_are_read_by_range_without_the_archive(tmp_path):
    import io
    import zipfile

    from nsdrecon.remote import fetch_zip_members

    buf = io.BytesIO()
    filler = np.random.default_rng(4).integers(0, 256, size=2_000_000, dtype=np.uint8).tobytes()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("annotations/instances_train2017.json", filler)
        z.writestr("annotations/captions_val2017.json", b'{"annotations": []}')
    with FileServer({"a.zip": buf.getvalue()}) as s:
        dest = tmp_path / "captions_val2017.json"
        fetch_zip_members(f"{s.url}/a.zip", {"annotations/captions_val2017.json": dest})
        assert dest.read_bytes() == b'{"annotations": []}'
        assert s.faults.bytes_sent < 0.1 * len(buf.getvalue())
        s.faults.ignore_range = True  # no ranges: whole archive downloaded, extracted, deleted
        dest.unlink()
        fetch_zip_members(f"{s.url}/a.zip", {"annotations/captions_val2017.json": dest})
        assert dest.read_bytes() == b'{"annotations": []}' and list(tmp_path.iterdir()) == [dest]
