"""A local stand-in for OSF: a project's files served with OSF's API listings (paged, per folder) and download links."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

from tests.http_server import FileServer


def serve_osf_project(server: FileServer, project: str, files: dict[str, bytes], page_size: int = 2) -> dict[str, str]:
    """Serve ``files`` (path in the project -> bytes) as OSF does: listings per folder, paged; return path -> file id."""
    ids = {path: f"id{project}{k}" for k, path in enumerate(sorted(files))}
    server.add({f"download/{ids[path]}/": body for path, body in files.items()})
    folders: dict[str, list[dict]] = {"": []}
    for path in sorted(files):
        parts = path.split("/")
        for depth in range(1, len(parts)):
            folder, parent = "/".join(parts[:depth]), "/".join(parts[: depth - 1])
            if folder not in folders:
                folders[folder] = []
                folders[parent].append({
                    "attributes": {"kind": "folder", "name": parts[depth - 1], "materialized_path": f"/{folder}/"},
                    "relationships": {"files": {"links": {"related": {"href": f"{server.url}/{listing(project, folder)}"}}}},
                })  # fmt: skip
        body = files[path]
        folders["/".join(parts[:-1])].append({
            "attributes": {
                "kind": "file", "name": parts[-1], "materialized_path": f"/{path}", "size": len(body),
                "extra": {"hashes": {"md5": hashlib.md5(body).hexdigest(), "sha256": hashlib.sha256(body).hexdigest()}},
            },
            "links": {"download": f"{server.url}/download/{ids[path]}/"},
        })  # fmt: skip
    for folder, entries in folders.items():
        pages = [entries[i : i + page_size] for i in range(0, max(len(entries), 1), page_size)]
        for n, page in enumerate(pages):
            address = listing(project, folder) + (f"page{n}" if n else "")
            following = f"{server.url}/{listing(project, folder)}page{n + 1}" if n + 1 < len(pages) else None
            server.add({address: json.dumps({"data": page, "links": {"next": following}}).encode()})
    return ids


def listing(project: str, folder: str) -> str:
    return f"v2/nodes/{project}/files/osfstorage/" + (f"{folder}/" if folder else "")


def zip_bytes(members: dict[str, bytes]) -> bytes:
    """A zip archive of ``members`` (name -> bytes; a name ending in ``/`` is a folder entry)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, body in members.items():
            zf.writestr(name, body)
    return buffer.getvalue()
