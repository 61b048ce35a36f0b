"""Random access to a file that is a local path or an HTTP(S) URL, by byte ranges.

One interface for both, so the code that reads part of a file (a few
thousand images of NSD's 40 GB ``nsd_stimuli.hdf5``, two members of COCO's
annotation zip) runs the same way on a local copy and on the bucket:

- :func:`open_bytes` gives a :class:`ByteSource` with ``size`` and
  ``read(offset, n)``; over HTTP every read is one range request, retried with
  the download :class:`~nsdrecon.download.RetryPolicy`, its length checked,
  and safe to call from many threads (one connection pool per thread).
- :func:`open_seekable` wraps a source as a buffered, seekable binary file
  object that h5py and zipfile accept.

Not fsspec's HTTP file: it has no retry of dropped or truncated responses, and
the same policy as :func:`~nsdrecon.download.download_file` keeps faults
handled (and tested) in one place.
"""

from __future__ import annotations

import io
import logging
import os
import threading
from pathlib import Path
from typing import Protocol

import requests

from .download import DownloadError, RetryPolicy, TransientError, download_file, extract_members, http_error, remote_info

logger = logging.getLogger(__name__)

BLOCK = 1 << 14  # read-ahead of the seekable wrapper: about one HDF5 B-tree node, so metadata reads fetch little


class RangesNotSupported(DownloadError):
    """The server answered a range request with the whole file."""


class ByteSource(Protocol):
    name: str
    size: int

    def read(self, offset: int, n: int) -> bytes: ...


def is_url(source: str | os.PathLike) -> bool:
    return str(source).startswith(("http://", "https://"))


class LocalBytes:
    """Byte ranges of a local file (``os.pread``: thread-safe, no shared file position)."""

    def __init__(self, path: str | os.PathLike):
        self.name = str(path)
        self._fd = os.open(path, os.O_RDONLY)
        self.size = os.fstat(self._fd).st_size
        self.bytes_read = 0

    def read(self, offset: int, n: int) -> bytes:
        data = os.pread(self._fd, n, offset)
        self.bytes_read += len(data)
        return data

    def close(self) -> None:
        os.close(self._fd)


class HttpBytes:
    """Byte ranges of a URL, one verified range request per read."""

    def __init__(self, url: str, policy: RetryPolicy = RetryPolicy(), pool_size: int = 4):
        self.name = url
        self.policy = policy
        self._local = threading.local()
        self._pool_size = pool_size
        self._lock = threading.Lock()
        self.requests = 0
        self.bytes_read = 0
        info = policy.run(url, lambda: remote_info(self._session(), url, policy.timeout))
        if info.size is None:
            raise DownloadError(f"{url}: the server announces no Content-Length; random access needs it")
        if not info.ranges:
            raise RangesNotSupported(f"{url}: the server does not accept HTTP range requests (Accept-Ranges: none)")
        self.size = info.size

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=self._pool_size)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
        return self._local.session

    def read(self, offset: int, n: int) -> bytes:
        n = max(0, min(n, self.size - offset))
        if n == 0:
            return b""
        return self.policy.run(f"{self.name} bytes {offset}-{offset + n - 1}", lambda: self._get(offset, n))

    def _get(self, offset: int, n: int) -> bytes:
        with self._lock:
            self.requests += 1
        headers = {"Range": f"bytes={offset}-{offset + n - 1}"}
        r = self._session().get(self.name, headers=headers, timeout=self.policy.timeout)
        if r.status_code >= 400:
            raise http_error(self.name, r.status_code)
        if r.status_code != 206:
            raise RangesNotSupported(f"{self.name}: the server ignored a range request (HTTP {r.status_code})")
        data = r.content
        with self._lock:
            self.bytes_read += len(data)
        if len(data) != n:
            raise TransientError(f"{self.name}: range {offset}+{n} returned {len(data)} bytes")
        return data

    def close(self) -> None:
        pass


def open_bytes(source: str | os.PathLike, policy: RetryPolicy = RetryPolicy(), pool_size: int = 4) -> LocalBytes | HttpBytes:
    """A :class:`ByteSource` for a local path or an HTTP(S) URL."""
    if is_url(source):
        return HttpBytes(str(source), policy, pool_size)
    if not Path(source).exists():
        raise FileNotFoundError(f"file not found: {source}")
    return LocalBytes(source)


class _RawRange(io.RawIOBase):
    """Unbuffered, seekable, read-only file object over a :class:`ByteSource`."""

    def __init__(self, source: ByteSource):
        self.source = source
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.source.size}[whence]
        self.pos = base + offset
        return self.pos

    def readinto(self, buffer) -> int:
        data = self.source.read(self.pos, len(buffer))
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)


def open_seekable(source: ByteSource, block: int = BLOCK) -> io.BufferedReader:
    """A buffered binary file object over ``source`` (reads ahead ``block`` bytes)."""
    return io.BufferedReader(_RawRange(source), buffer_size=block)


def fetch_zip_members(source: str | os.PathLike, members: dict[str, str | os.PathLike], policy: RetryPolicy = RetryPolicy()) -> None:
    """Extract ``members`` (name in archive -> destination) of a zip at a URL or path.

    With range requests only the zip's directory and those members' bytes are
    read (for COCO's annotations: the caption files, not the 240 MB archive);
    a server without ranges gets the whole archive downloaded beside the first
    destination, extracted and deleted. zipfile checks every member's CRC-32;
    a mismatch is retried.
    """
    import zipfile

    def ranged() -> None:
        src = open_bytes(source, policy)
        try:
            with open_seekable(src, block=1 << 20) as f:
                extract_members(f, members)
        except zipfile.BadZipFile as e:
            raise TransientError(f"{source}: {e}") from None
        finally:
            src.close()

    try:
        policy.run(str(source), ranged)
    except RangesNotSupported as e:
        archive = Path(next(iter(members.values()))).with_name(Path(str(source)).name)
        logger.info("%s; downloading the whole archive to %s", e, archive)
        download_file(str(source), archive, retries=policy.retries, backoff=policy.backoff, timeout=policy.timeout)
        extract_members(archive, members)
        archive.unlink()
