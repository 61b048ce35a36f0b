"""Verified HTTP(S) downloads: range resume, size checks, retries, atomic rename.

A file only appears under its final name once all of its bytes arrived and
their count equals the server's ``Content-Length``; until then it lives as
``<name>.part`` beside it, which the next attempt resumes with an HTTP range
request (or restarts when the server ignores ranges or the part is longer than
the file). Transient failures (dropped connections, truncated bodies, HTTP 5xx)
are retried with exponential backoff; a permanent one (HTTP 4xx) fails at once
with the URL and the status.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

CHUNK = 1 << 16  # small enough that a dropped connection loses little


class DownloadError(RuntimeError):
    """A download that could not be completed and verified."""


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    size: int
    fetched: bool  # False when a complete file was already there


def remote_size(session: requests.Session, url: str, timeout: float) -> int | None:
    """Content length announced by the server, or None when it gives none."""
    r = session.head(url, allow_redirects=True, timeout=timeout)
    if r.status_code >= 400:
        raise _http_error(url, r.status_code)
    length = r.headers.get("Content-Length")
    return int(length) if length is not None else None


def download_file(
    url: str,
    dest: str | os.PathLike,
    *,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60.0,
    session: requests.Session | None = None,
    progress: bool = True,
) -> DownloadResult:
    """Fetch ``url`` to ``dest`` with resume, size verification and retries.

    A ``dest`` whose size already equals the server's length is kept as is.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    session = session or requests.Session()
    last_error: Exception | None = None
    for attempt in range(retries + 1):
        if attempt:
            delay = backoff * 2 ** (attempt - 1)
            logger.warning("retrying %s in %.1f s (attempt %d/%d): %s", url, delay, attempt + 1, retries + 1, last_error)
            time.sleep(delay)
        try:
            size = remote_size(session, url, timeout)
            if size is not None and dest.exists() and dest.stat().st_size == size:
                logger.info("complete, skipped: %s (%d bytes)", dest, size)
                return DownloadResult(dest, size, fetched=False)
            _fetch_into(session, url, part, size, timeout, progress)
            got = part.stat().st_size
            if size is not None and got != size:
                raise DownloadError(f"{url}: received {got} bytes, server announced {size}")
            os.replace(part, dest)
            logger.info("downloaded %s -> %s (%d bytes)", url, dest, got)
            return DownloadResult(dest, got, fetched=True)
        except _PermanentError as e:
            raise DownloadError(str(e)) from None
        except (requests.RequestException, DownloadError, _TransientError) as e:
            last_error = e
    raise DownloadError(f"{url}: gave up after {retries + 1} attempts; last error: {last_error}")


class _TransientError(RuntimeError):
    pass


class _PermanentError(RuntimeError):
    pass


def _http_error(url: str, status: int) -> Exception:
    if status >= 500 or status == 429:
        return _TransientError(f"{url}: HTTP {status}")
    return _PermanentError(f"{url}: HTTP {status}")


def _fetch_into(session, url, part: Path, size: int | None, timeout: float, progress: bool) -> None:
    """Append the missing bytes of ``url`` to ``part`` (restart when resuming is impossible)."""
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:
        logger.warning("%s is longer than the remote file (%d > %d): restarting", part, have, size)
        have = 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with session.get(url, headers=headers, stream=True, timeout=timeout) as r:
        if r.status_code == 416:  # the part does not fit the remote file: start over
            part.unlink()
            raise _TransientError(f"{url}: range {have}- not satisfiable; discarded {part}")
        if r.status_code >= 400:
            raise _http_error(url, r.status_code)
        if have and r.status_code != 206:
            logger.info("server ignored the range request for %s: restarting from byte 0", url)
            have = 0
        mode = "ab" if have else "wb"
        bar = tqdm(total=size, initial=have, unit="B", unit_scale=True, desc=part.name[:-5], disable=not progress or None)
        with open(part, mode) as f, bar:
            for chunk in r.iter_content(CHUNK):
                f.write(chunk)
                bar.update(len(chunk))


def extract_members(archive: str | os.PathLike, members: dict[str, str | os.PathLike]) -> None:
    """Extract ``members`` (name in archive -> destination) from a zip file, atomically."""
    import shutil
    import zipfile

    from .atomic import atomic_path

    with zipfile.ZipFile(archive) as z:
        names = set(z.namelist())
        missing = sorted(set(members) - names)
        if missing:
            raise DownloadError(f"{archive}: missing members {missing}")
        for name, dest in members.items():
            with z.open(name) as src, atomic_path(dest) as tmp, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out)
