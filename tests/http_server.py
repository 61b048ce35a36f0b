"""A fault-injecting HTTP file server on 127.0.0.1 for downloader tests.

Serves an in-memory ``{path: bytes}`` map with HEAD, GET and byte ranges
(``bytes=a-``, ``bytes=a-b``) and S3-style ETags (the MD5 of the body), and can
be told to misbehave: fail the next requests with given statuses, drop the
connection after N body bytes, flip bytes of the next bodies, or ignore Range
headers. It counts GETs, range GETs and body bytes sent (thread-safe: clients
may use many connections at once).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Faults:
    statuses: list[int] = field(default_factory=list)  # returned (and consumed) one per GET/HEAD
    drop_after: list[int] = field(default_factory=list)  # per GET: close after this many body bytes
    corrupt: int = 0  # the next N GET bodies have their first byte flipped
    corrupt_prefix: str = ""  # ... only those of paths starting so
    ignore_range: bool = False
    refuse_head: bool = False  # HEAD answers 405 (some storage servers)
    broken_after: int | None = None  # every GET after this many answers 503 (a server going down)
    etag: str | None = "md5"  # "md5" (S3 single part), None, or any fixed string
    gets: int = 0
    range_requests: int = 0
    bytes_sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self, name: str):
        """Pop the next value of a fault list (None when empty), under the lock."""
        with self.lock:
            values = getattr(self, name)
            return values.pop(0) if values else None


class FileServer:
    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.md5 = {id(body): hashlib.md5(body).hexdigest() for body in files.values()}
        self.faults = Faults()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _status_fault(self) -> bool:
                code = server.faults.take("statuses")
                if code is None:
                    return False
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return True

            def _headers(self, body: bytes) -> None:
                if server.faults.etag == "md5":
                    self.send_header("ETag", f'"{server.md5[id(body)]}"')
                elif server.faults.etag:
                    self.send_header("ETag", f'"{server.faults.etag}"')

            def do_HEAD(self):
                if self._status_fault():
                    return
                if server.faults.refuse_head:
                    self.send_response(405)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = server.files.get(self.path.lstrip("/"))
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "none" if server.faults.ignore_range else "bytes")
                self._headers(body)
                self.end_headers()

            def do_GET(self):
                faults = server.faults
                with faults.lock:
                    faults.gets += 1
                    broken = faults.broken_after is not None and faults.gets > faults.broken_after
                if broken:
                    faults.statuses.insert(0, 503)
                if self._status_fault():
                    return
                body = server.files.get(self.path.lstrip("/"))
                if body is None:
                    self.send_error(404)
                    return
                start, stop = 0, len(body)
                rng = self.headers.get("Range")
                if rng and not faults.ignore_range:
                    with faults.lock:
                        faults.range_requests += 1
                    first, _, last = rng.split("=")[1].partition("-")
                    start, stop = int(first), min(int(last) + 1, len(body)) if last else len(body)
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{len(body)}")
                else:
                    self.send_response(200)
                payload = body[start:stop]
                with faults.lock:
                    if faults.corrupt and payload and self.path.lstrip("/").startswith(faults.corrupt_prefix):
                        faults.corrupt -= 1
                        payload = bytes([payload[0] ^ 0xFF]) + payload[1:]
                self.send_header("Content-Length", str(len(payload)))
                self._headers(body)
                self.end_headers()
                n = faults.take("drop_after")
                if n is not None:
                    self._send(payload[:n])
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self._send(payload)

            def _send(self, payload: bytes) -> None:
                self.wfile.write(payload)
                self.wfile.flush()
                with server.faults.lock:
                    server.faults.bytes_sent += len(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def add(self, files: dict[str, bytes]) -> None:
        """Serve more files (ones whose contents name the server's own address, such as API listings)."""
        self.md5.update({id(body): hashlib.md5(body).hexdigest() for body in files.values()})
        self.files.update(files)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
