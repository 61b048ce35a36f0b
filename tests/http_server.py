"""A fault-injecting HTTP file server on 127.0.0.1 for downloader tests.

Serves an in-memory ``{path: bytes}`` map with HEAD, GET and byte ranges, and
can be told to misbehave: fail the next requests with given statuses, drop the
connection after N body bytes, or ignore Range headers.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Faults:
    statuses: list[int] = field(default_factory=list)  # returned (and consumed) one per GET/HEAD
    drop_after: list[int] = field(default_factory=list)  # per GET: close after this many body bytes
    ignore_range: bool = False
    gets: int = 0
    range_requests: int = 0


class FileServer:
    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.faults = Faults()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _status_fault(self) -> bool:
                if server.faults.statuses:
                    code = server.faults.statuses.pop(0)
                    self.send_response(code)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return True
                return False

            def do_HEAD(self):
                if self._status_fault():
                    return
                body = server.files.get(self.path.lstrip("/"))
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "none" if server.faults.ignore_range else "bytes")
                self.end_headers()

            def do_GET(self):
                server.faults.gets += 1
                if self._status_fault():
                    return
                body = server.files.get(self.path.lstrip("/"))
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng and not server.faults.ignore_range:
                    server.faults.range_requests += 1
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                payload = body[start:]
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if server.faults.drop_after:
                    n = server.faults.drop_after.pop(0)
                    self.wfile.write(payload[:n])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
