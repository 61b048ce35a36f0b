"""Verified HTTP(S) downloads: parallel ranges, resume, size and checksum checks, retries, atomic rename.

A file only appears under its final name once all of its bytes arrived, their
count equals the server's ``Content-Length`` and, where the server's ``ETag``
is an S3 MD5 (single or multipart upload), their checksum matches; a caller
that knows the file's size and SHA-256 from a listing (OSF's API gives both)
passes them as :class:`Expected`, and those are checked instead. Until then
the bytes live in ``<name>.part`` and the byte intervals already received in
``<name>.part.json``; the next attempt fetches only the missing intervals with
HTTP range requests, over ``parallel`` connections at once for large files.
A part that does not fit the remote file (longer, or written for another
size/ETag) is discarded; one whose bytes are wrong fails the checksum and is
fetched again. A part without its interval record is taken as a prefix (a
plain resumable download). Servers that ignore ranges get one stream from
byte 0. Transient failures (dropped connections, truncated bodies, HTTP 5xx
and 429, checksum mismatches) are retried with exponential backoff; a
permanent one (other HTTP 4xx) fails at once with the URL and the status.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import requests
from tqdm.auto import tqdm

from .atomic import atomic_path, write_text

logger = logging.getLogger(__name__)

CHUNK = 1 << 16  # small enough that a dropped connection loses little
MIN_SEGMENT = 8 << 20  # a file is split over connections only in pieces at least this long
RECORD_EVERY = 4 << 20  # a connection records its progress in the .part.json after this many bytes
MIB = 1 << 20

T = TypeVar("T")


class DownloadError(RuntimeError):
    """A download that could not be completed and verified."""


class TransientError(RuntimeError):
    """Worth another attempt: 5xx/429, truncated body, checksum mismatch."""


class PermanentError(RuntimeError):
    """Not worth another attempt: 4xx other than 429."""


class _RangesIgnored(TransientError):
    """The server answered a range request with the whole file."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a network operation is tried."""

    retries: int = 5  # further attempts after the first
    backoff: float = 1.0  # seconds before the first retry; doubles each time
    timeout: float = 60.0  # seconds of silence before a connection counts as dropped

    def run(self, what: str, attempt: Callable[[], T]) -> T:
        """Call ``attempt`` until it succeeds; transient failures are retried with backoff."""
        last_error: Exception | None = None
        for n in range(self.retries + 1):
            if n:
                delay = self.backoff * 2 ** (n - 1)
                logger.warning("retrying %s in %.2f s (attempt %d/%d): %s", what, delay, n + 1, self.retries + 1, last_error)
                time.sleep(delay)
            try:
                return attempt()
            except PermanentError as e:
                raise DownloadError(str(e)) from None
            except (requests.RequestException, TransientError) as e:
                last_error = e
        raise DownloadError(f"{what}: gave up after {self.retries + 1} attempts; last error: {last_error}")


@dataclass(frozen=True)
class Expected:
    """A file's size and hex SHA-256 as a listing announces them (either may be unknown)."""

    size: int | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class RemoteInfo:
    size: int | None  # Content-Length, None when the server gives none
    etag: str | None  # without quotes
    ranges: bool  # False only when the server says Accept-Ranges: none


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    size: int
    fetched: bool  # False when a complete file was already there
    received: int = 0  # bytes transferred by this call
    seconds: float = 0.0
    checksum: str = ""  # what verified the bytes, or why nothing could


def http_error(url: str, status: int) -> Exception:
    """The transient or permanent error for an HTTP status >= 400."""
    if status >= 500 or status == 429:
        return TransientError(f"{url}: HTTP {status}")
    return PermanentError(f"{url}: HTTP {status}")


def remote_info(session: requests.Session, url: str, timeout: float) -> RemoteInfo:
    """Size, ETag and range support announced by the server (one HEAD request; a GET's headers where HEAD is refused)."""
    r = session.head(url, allow_redirects=True, timeout=timeout)
    if r.status_code == 405:
        with session.get(url, allow_redirects=True, timeout=timeout, stream=True) as r:
            pass  # the body is never read: closing drops the connection
    if r.status_code >= 400:
        raise http_error(url, r.status_code)
    length = r.headers.get("Content-Length")
    etag = r.headers.get("ETag")
    return RemoteInfo(
        size=int(length) if length is not None else None,
        etag=etag.strip('"') if etag else None,
        ranges=r.headers.get("Accept-Ranges", "bytes").lower() != "none",
    )


def download_file(
    url: str,
    dest: str | os.PathLike,
    *,
    parallel: int = 1,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60.0,
    session: requests.Session | None = None,
    progress: bool = True,
    min_segment: int = MIN_SEGMENT,
    expected: Expected = Expected(),
) -> DownloadResult:
    """Fetch ``url`` to ``dest`` with resume, parallel ranges, size/checksum verification and retries.

    Parameters
    ----------
    parallel : int, default=1
        Connections used at once for one file; files shorter than
        ``2 * min_segment`` use one.
    retries, backoff, timeout
        See :class:`RetryPolicy`.
    expected : Expected
        Size and SHA-256 from a listing: a server announcing another size fails at once; bytes with
        another SHA-256 are discarded and fetched again.

    A ``dest`` whose size equals the server's length (and whose MD5 matches an
    S3 ETag, when there is one) is kept as is and nothing is fetched.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    session = session or requests.Session()
    policy = RetryPolicy(retries, backoff, timeout)
    partial = _PartialFile(dest.with_name(dest.name + ".part"))
    ranges_work = [True]  # becomes False once the server answers a range request with the whole file
    start = time.monotonic()

    def attempt() -> DownloadResult:
        info = _with_expected(url, remote_info(session, url, timeout), expected)
        if dest.exists():
            kept = _verify_existing(dest, info, expected.sha256)
            if kept is not None:
                return kept
        ranges = info.ranges and ranges_work[0]
        partial.open(info, resume=ranges)
        try:
            _fetch_missing(session, url, partial, info, parallel if ranges else 1, min_segment, timeout, progress)
        except _RangesIgnored:
            ranges_work[0] = False
            raise
        got = partial.path.stat().st_size
        if info.size is not None and (got != info.size or partial.missing()):
            raise TransientError(f"{url}: received {partial.have()} bytes, server announced {info.size}")
        checksum = _checksum_note(partial.path, info.etag, got, expected.sha256)
        if checksum.startswith("MISMATCH"):
            partial.discard()
            raise TransientError(f"{url}: {checksum}; discarded the partial download")
        os.replace(partial.path, dest)
        partial.forget()
        seconds = time.monotonic() - start
        logger.info(
            "downloaded %s -> %s (%d bytes, %d received in %.1f s, %.1f MB/s, %s)",
            url, dest, got, partial.received, seconds, partial.received / 1e6 / max(seconds, 1e-9), checksum,
        )
        return DownloadResult(dest, got, True, partial.received, seconds, checksum)

    return policy.run(url, attempt)


def _with_expected(url: str, info: RemoteInfo, expected: Expected) -> RemoteInfo:
    """``info`` with the listing's size where the server announces none; a contradiction is permanent."""
    if expected.size is None:
        return info
    if info.size is None:
        return RemoteInfo(expected.size, info.etag, info.ranges)
    if info.size != expected.size:
        raise PermanentError(f"{url}: the server announces {info.size} bytes, the listing {expected.size}")
    return info


def _verify_existing(dest: Path, info: RemoteInfo, sha256: str | None) -> DownloadResult | None:
    """The skip result for a complete, verified ``dest``; None (after removing it) otherwise."""
    size = dest.stat().st_size
    if info.size is not None and size == info.size:
        checksum = _checksum_note(dest, info.etag, size, sha256)
        if not checksum.startswith("MISMATCH"):
            logger.info("complete, skipped: %s (%d bytes, %s)", dest, size, checksum)
            return DownloadResult(dest, size, fetched=False, checksum=checksum)
        logger.warning("%s: %s; fetching it again", dest, checksum)
    else:
        logger.warning("%s has %d bytes, server announces %s: fetching it again", dest, size, info.size)
    dest.unlink()
    return None


class _PartialFile:
    """``<dest>.part`` and the byte intervals of it already received (``<dest>.part.json``)."""

    def __init__(self, path: Path):
        self.path = path
        self.record = path.with_name(path.name + ".json")
        self.done: list[list[int]] = []  # sorted, disjoint [start, stop) intervals
        self.size: int | None = None
        self.received = 0
        self.lock = threading.Lock()
        self._identity: dict = {}

    def open(self, info: RemoteInfo, resume: bool) -> None:
        """Load what earlier attempts received, keeping only what fits ``info``."""
        self.size = info.size
        self._identity = {"size": info.size, "etag": info.etag}
        self.done = self._load(info) if resume else []
        if not self.done and self.path.exists():
            self.path.unlink()
        if info.size is not None:
            with open(self.path, "ab") as f:  # sparse file of the final length: pieces land at their offsets
                f.truncate(info.size)
        self.save()

    def _load(self, info: RemoteInfo) -> list[list[int]]:
        if not self.path.exists():
            return []
        have = self.path.stat().st_size
        if self.record.exists():
            try:
                state = json.loads(self.record.read_text())
                done = [list(map(int, iv)) for iv in state["done"]]
            except (ValueError, KeyError, TypeError) as e:
                logger.warning("%s is unreadable (%s): restarting %s", self.record, e, self.path)
                return []
            if {"size": state.get("size"), "etag": state.get("etag")} != self._identity:
                logger.warning("%s was written for another version of the file: restarting", self.path)
                return []
            if any(a < 0 or b > have or a >= b for a, b in done):
                logger.warning("%s does not fit %s (%d bytes): restarting", self.record, self.path, have)
                return []
            return done
        if info.size is not None and have > info.size:
            logger.warning("%s is longer than the remote file (%d > %d): restarting", self.path, have, info.size)
            return []
        return [[0, have]] if have else []

    def missing(self) -> list[tuple[int, int]]:
        """Intervals not yet received; with an unknown size, ``(end of prefix, -1)`` = to the end."""
        if self.size is None:
            return [(self.done[0][1] if self.done and self.done[0][0] == 0 else 0, -1)]
        gaps, pos = [], 0
        for a, b in self.done:
            if a > pos:
                gaps.append((pos, a))
            pos = max(pos, b)
        if pos < self.size:
            gaps.append((pos, self.size))
        return gaps

    def have(self) -> int:
        return sum(b - a for a, b in self.done)

    def add(self, start: int, stop: int) -> None:
        """Record ``[start, stop)`` as received (thread-safe)."""
        with self.lock:
            self.received += stop - start
            merged: list[list[int]] = []
            for a, b in sorted([*self.done, [start, stop]]):
                if merged and a <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], b)
                else:
                    merged.append([a, b])
            self.done = merged

    def save(self) -> None:
        with self.lock:
            write_text(self.record, json.dumps({**self._identity, "done": self.done}))

    def discard(self) -> None:
        self.done = []
        self.path.unlink(missing_ok=True)
        self.record.unlink(missing_ok=True)

    def forget(self) -> None:
        self.record.unlink(missing_ok=True)


def _pieces(gaps: list[tuple[int, int]], parallel: int, min_segment: int) -> list[tuple[int, int]]:
    """Split the missing intervals into about ``parallel`` pieces of at least ``min_segment`` bytes."""
    total = sum(b - a for a, b in gaps)
    piece = max(min_segment, math.ceil(total / max(parallel, 1)))
    return [(s, min(s + piece, b)) for a, b in gaps for s in range(a, b, piece)]


def _fetch_missing(session, url, partial: _PartialFile, info: RemoteInfo, parallel, min_segment, timeout, progress):
    """Fetch every missing interval of ``partial``, ``parallel`` connections at once."""
    gaps = partial.missing()
    bar = tqdm(
        total=info.size, initial=partial.have(), unit="B", unit_scale=True,
        desc=partial.path.name[:-5], disable=not progress or None,
    )
    with bar, open(partial.path, "r+b" if partial.path.exists() else "w+b") as f:
        fd = f.fileno()
        pieces = gaps if info.size is None or parallel <= 1 else _pieces(gaps, parallel, min_segment)
        fetch = lambda piece: _fetch_piece(session, url, partial, fd, piece, info, timeout, bar)  # noqa: E731
        try:
            if len(pieces) <= 1:
                for piece in pieces:
                    fetch(piece)
            else:
                with ThreadPoolExecutor(min(parallel, len(pieces))) as pool:
                    for future in [pool.submit(fetch, p) for p in pieces]:
                        future.result()
        finally:
            partial.save()


def _fetch_piece(session, url, partial: _PartialFile, fd: int, piece, info: RemoteInfo, timeout, bar) -> None:
    """Write bytes ``[start, stop)`` of ``url`` at their offset, recording progress as they land."""
    start, stop = piece
    whole = start == 0 and (stop < 0 or stop == info.size)
    headers = {} if whole else {"Range": f"bytes={start}-{stop - 1 if stop >= 0 else ''}"}
    with session.get(url, headers=headers, stream=True, timeout=timeout) as r:
        if r.status_code == 416:
            partial.discard()
            raise TransientError(f"{url}: range {start}- not satisfiable; discarded {partial.path}")
        if r.status_code >= 400:
            raise http_error(url, r.status_code)
        if headers and r.status_code != 206:
            logger.info("server ignored the range request for %s: restarting from byte 0", url)
            partial.discard()
            raise _RangesIgnored(f"{url}: server ignores HTTP range requests")
        pos, recorded = start, start
        try:
            for chunk in r.iter_content(CHUNK):
                if stop >= 0:
                    chunk = chunk[: stop - pos]
                os.pwrite(fd, chunk, pos)
                pos += len(chunk)
                bar.update(len(chunk))
                if pos - recorded >= RECORD_EVERY:
                    partial.add(recorded, pos)
                    partial.save()
                    recorded = pos
        finally:
            if pos > recorded:
                partial.add(recorded, pos)
    if stop >= 0 and pos < stop:
        raise TransientError(f"{url}: connection closed after {pos - start} of {stop - start} bytes from {start}")


def _md5_parts(path: Path, part_size: int) -> list[bytes]:
    digests = []
    with open(path, "rb") as f:
        while block := f.read(part_size):
            digests.append(hashlib.md5(block).digest())
    return digests


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _checksum_note(path: Path, etag: str | None, size: int, sha256: str | None = None) -> str:
    """Check ``path`` against a listed SHA-256 or an S3 ETag: ``... ok``, ``MISMATCH ...`` or why it could not be.

    A single-part S3 upload's ETag is the MD5 of the bytes; a multipart one is
    ``md5(concat(md5(part)...))-N``. The part size is not announced, so the
    power-of-two MiB sizes that give N parts are tried (aws-cli/boto3 default:
    8 MiB); when none fits, only the size was checked.
    """
    if sha256:
        got = sha256_file(path)
        return "sha256 ok" if got == sha256.lower() else f"MISMATCH: sha256 {got} != listed {sha256}"
    if not etag:
        return "size only: no ETag"
    digest, _, count = etag.partition("-")
    if len(digest) != 32 or any(c not in "0123456789abcdef" for c in digest.lower()):
        return "size only: ETag is not an MD5"
    if not count:
        md5 = hashlib.md5()
        with open(path, "rb") as f:
            while block := f.read(MIB):
                md5.update(block)
        ok = md5.hexdigest() == digest.lower()
        return "md5 ok" if ok else f"MISMATCH: md5 {md5.hexdigest()} != ETag {digest}"
    n = int(count)
    sizes = [MIB << k for k in range(13) if math.ceil(size / (MIB << k)) == n]
    for part_size in sizes:
        parts = _md5_parts(path, part_size)
        if hashlib.md5(b"".join(parts)).hexdigest() == digest.lower():
            return f"multipart md5 ok ({n} parts of {part_size // MIB} MiB)"
    if sizes:
        return f"MISMATCH: multipart md5 differs from ETag {etag} for part sizes {[s // MIB for s in sizes]} MiB"
    return f"size only: multipart ETag {etag} with an unknown part size"


def extract_members(archive: str | os.PathLike, members: dict[str, str | os.PathLike]) -> None:
    """Extract ``members`` (name in archive -> destination) from a zip file (path or file object), atomically.

    zipfile checks each member's CRC-32 while reading, so corrupt bytes raise
    instead of landing in a destination.
    """
    import zipfile

    with zipfile.ZipFile(archive) as z:
        names = set(z.namelist())
        missing = sorted(set(members) - names)
        if missing:
            raise DownloadError(f"{archive}: missing members {missing}")
        for name, dest in members.items():
            with z.open(name) as src, atomic_path(dest) as tmp, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out)

