"""What each download left on disk, recorded per key, and a later check that the files still match.

The downloader verifies bytes while they arrive (size, S3 ETag MD5). A file
corrupted afterwards without changing its size (a bad disk, an accidental
write) would pass unnoticed, so each ``download_nsd`` job records the file's
size and SHA-256 in its own JSON file (one per key: no file is shared between
jobs), and :func:`verify_records` recomputes them on demand (``snakemake
verify``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pandas as pd

from nsdrecon.atomic import write_text
from nsdrecon.download import DownloadResult, sha256_file

__all__ = ["DownloadChanged", "check_downloads", "read_record", "sha256_file", "verify_records", "write_record"]


class DownloadChanged(ValueError):
    """Downloaded files that no longer match their records (or no records at all); the message names them."""


def write_record(record_path: str | os.PathLike, key: str, url: str, result: DownloadResult) -> dict:
    """Write the JSON record of one download (what arrived, how fast, what verified it) and return it."""
    record = {
        "key": key,
        "url": url,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "status": "fetched" if result.fetched else "skipped",
        "bytes": result.size,
        "sha256": sha256_file(result.path),
        "received": result.received,
        "seconds": round(result.seconds, 2),
        "mb_per_s": round(result.received / 1e6 / result.seconds, 1) if result.seconds else None,
        "checksum": result.checksum,
    }
    write_text(record_path, json.dumps(record, indent=1) + "\n")
    return record


def read_record(record_path: str | os.PathLike) -> dict:
    """One download record; a record that is not JSON or lacks a field names the file."""
    try:
        record = json.loads(Path(record_path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{record_path}: not a readable download record ({error})") from error
    missing = {"key", "bytes", "sha256"} - set(record)
    if missing:
        raise ValueError(f"{record_path}: download record without {sorted(missing)}")
    return record


def verify_records(records_dir: str | os.PathLike, root: str | os.PathLike) -> pd.DataFrame:
    """Recompute size and SHA-256 of every recorded file under ``root``.

    Returns one row per record (``key``, ``status``: ``ok``, ``missing``,
    ``size changed`` or ``content changed``, recorded and found bytes); the
    caller decides what a failure means.
    """
    rows = []
    for record_path in sorted(Path(records_dir).rglob("*.json")):
        record = read_record(record_path)
        path = Path(root, record["key"])
        row = {"key": record["key"], "recorded_bytes": record["bytes"], "found_bytes": None, "status": "ok"}
        if not path.is_file():
            row["status"] = "missing"
        else:
            row["found_bytes"] = path.stat().st_size
            if row["found_bytes"] != record["bytes"]:
                row["status"] = "size changed"
            elif sha256_file(path) != record["sha256"]:
                row["status"] = "content changed"
        rows.append(row)
    return pd.DataFrame(rows, columns=["key", "status", "recorded_bytes", "found_bytes"])


def check_downloads(records_dir: str | os.PathLike, root: str | os.PathLike) -> pd.DataFrame:
    """:func:`verify_records`, raising :class:`DownloadChanged` naming every file that changed (or finding none)."""
    table = verify_records(records_dir, root)
    if table.empty:
        raise DownloadChanged(f"no download records under {records_dir}: nothing was downloaded in this folder")
    bad = table[table.status != "ok"]
    if len(bad):
        lines = "\n".join(f"  {root}/{row.key}: {row.status}" for row in bad.itertuples())
        raise DownloadChanged(
            f"{len(bad)} of {len(table)} downloaded files no longer match their records:\n{lines}\n"
            "Delete them (chmod u+w first: downloads are write-protected) and rerun to fetch them again."
        )
    return table
