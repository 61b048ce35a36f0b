"""Files of an OSF project, found by name through OSF's public API (v2), with the size and SHA-256 it lists.

OSF addresses a file by an opaque id (``https://osf.io/download/<id>/``), which
changes when a file is replaced; the project's listing does not. A project's
OSF Storage is listed at ``{api}nodes/{project}/files/osfstorage/``, a JSON:API
document whose ``data`` holds one entry per file or folder of that level::

    {"attributes": {"kind": "file", "name": "sub-01.zip", "materialized_path": "/sub-01.zip",
                    "size": 123, "extra": {"hashes": {"md5": "...", "sha256": "..."}}},
     "links": {"download": "https://osf.io/download/<id>/"},
     "relationships": {"files": {"links": {"related": {"href": "<a folder's own listing>"}}}}}

and ``links.next`` the next page of that level (``null`` on the last). Folders are
listed in turn, so a file is found wherever the project keeps it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import requests

from nsdrecon.download import DownloadError, Expected, RetryPolicy, http_error

logger = logging.getLogger(__name__)

__all__ = ["OsfFile", "find_osf_file", "list_osf_files"]

MAX_DEPTH = 8
"""Folder levels followed below the project's storage root."""


@dataclass(frozen=True)
class OsfFile:
    """One file of a project's OSF Storage."""

    path: str  # in the project, from its root: "/sub-01.zip"
    url: str  # the download link
    size: int | None
    sha256: str | None

    @property
    def expected(self) -> Expected:
        return Expected(self.size, self.sha256)


def _entries(session: requests.Session, url: str, policy: RetryPolicy) -> list[dict]:
    """Every entry of one listing level, following ``links.next``."""

    def page(address: str) -> dict:
        r = session.get(address, timeout=policy.timeout, headers={"Accept": "application/vnd.api+json"})
        if r.status_code >= 400:
            raise http_error(address, r.status_code)
        return r.json()

    entries, address = [], url
    while address:
        document = policy.run(address, lambda a=address: page(a))
        if not isinstance(document.get("data"), list):
            raise DownloadError(f"{address}: not an OSF file listing (no 'data' list)")
        entries += document["data"]
        address = (document.get("links") or {}).get("next")
    return entries


def list_osf_files(
    api: str, project: str, *, session: requests.Session | None = None, policy: RetryPolicy = RetryPolicy()
) -> list[OsfFile]:
    """All files of ``project``'s OSF Storage, folders followed (at most :data:`MAX_DEPTH` levels)."""
    session = session or requests.Session()
    found: list[OsfFile] = []
    levels = [(f"{api.rstrip('/')}/nodes/{project}/files/osfstorage/", 0)]
    while levels:
        url, depth = levels.pop()
        for entry in _entries(session, url, policy):
            attributes = entry.get("attributes", {})
            if attributes.get("kind") == "folder":
                href = entry["relationships"]["files"]["links"]["related"]["href"]
                if depth < MAX_DEPTH:
                    levels.append((href, depth + 1))
                continue
            hashes = (attributes.get("extra") or {}).get("hashes") or {}
            found.append(
                OsfFile(
                    path=attributes.get("materialized_path") or f"/{attributes['name']}",
                    url=entry["links"]["download"],
                    size=attributes.get("size"),
                    sha256=hashes.get("sha256"),
                )
            )
    logger.info("OSF project %s: %d files", project, len(found))
    return found


def find_osf_file(files: list[OsfFile], name: str, project: str) -> OsfFile:
    """The one file called ``name`` (its last path part); an error lists what the project holds otherwise."""
    matches = [f for f in files if f.path.rsplit("/", 1)[-1] == name]
    if len(matches) == 1:
        return matches[0]
    held = sorted(f.path for f in files)
    if matches:
        raise DownloadError(f"OSF project {project} holds {len(matches)} files named {name}: {sorted(m.path for m in matches)}")
    raise DownloadError(f"OSF project {project} holds no file named {name}; it holds {held[:20]}{' ...' if len(held) > 20 else ''}")
