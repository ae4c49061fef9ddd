"""The dashboard's HTTP server: the page, its script, the snapshots, and a stream of them.

    GET /                 the page (static/index.html)
    GET /dashboard.js     its script; /dashboard.css its style
    GET /api/snapshot     the newest snapshot (JSON)
    GET /api/history      the snapshots kept, oldest first (JSON)
    GET /api/events       Server-Sent Events: one "snapshot" event per new snapshot

Read-only: nothing here changes the stack or runs anything. It listens on loopback only, and
answers only requests whose Host names loopback (a page elsewhere cannot read it through a
DNS name of its own pointing at 127.0.0.1), with a Content-Security-Policy that lets the page
load nothing but its own files.
"""

from __future__ import annotations

import errno
import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from serverless_testbed.dashboard.sampler import Sampler
from serverless_testbed.errors import UsageError

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "/dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
}
KEEP_ALIVE_S = 15.0  # an SSE comment this often, so proxies and browsers keep the stream
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _static(name: str) -> bytes:
    return resources.files("serverless_testbed.dashboard").joinpath("static", name).read_bytes()


class DashboardServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # http.server's 5 resets connections under a burst

    sampler: Sampler

    def __init__(self, port: int = 0) -> None:
        """Bind the port at once (a taken one is a UsageError before anything starts);
        ``start`` serves once there is something to show."""
        self.stopping = threading.Event()
        try:
            super().__init__(("127.0.0.1", port), _Handler)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise UsageError(
                    f"the dashboard port {port} is already in use (choose another --port, "
                    "or 0 for a free one)"
                ) from None
            raise
        self.allowed_hosts = {
            host for name in LOOPBACK_NAMES for host in (name, f"{name}:{self.port}")
        }
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, sampler: Sampler) -> None:
        self.sampler = sampler
        self._thread = threading.Thread(
            target=self.serve_forever, name="dashboard-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self._thread is not None:  # shutdown() waits for serve_forever, so only if started
            self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: DashboardServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the page polls nothing, but a browser's requests would fill the terminal

    def do_GET(self) -> None:
        if self.headers.get("Host", "") not in self.server.allowed_hosts:
            self._send(HTTPStatus.FORBIDDEN, b"the dashboard answers loopback hosts only\n")
            return
        path = self.path.split("?", 1)[0]
        if path in STATIC:
            name, content_type = STATIC[path]
            self._send(HTTPStatus.OK, _static(name), content_type)
        elif path == "/api/snapshot":
            self._send_json(self.server.sampler.latest())
        elif path == "/api/history":
            self._send_json(self.server.sampler.history())
        elif path == "/api/events":
            self._stream()
        elif path == "/favicon.ico":
            self._send(HTTPStatus.NO_CONTENT, b"")
        else:
            self._send(HTTPStatus.NOT_FOUND, f"no such page: {path}\n".encode())

    def do_POST(self) -> None:
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"the dashboard is read-only\n", allow=True)

    do_PUT = do_DELETE = do_PATCH = do_POST

    def _send_json(self, value: Any) -> None:
        self._send(HTTPStatus.OK, json.dumps(value).encode(), "application/json")

    def _send(
        self,
        status: HTTPStatus,
        body: bytes,
        content_type: str = "text/plain; charset=utf-8",
        *,
        allow: bool = False,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if allow:
            self.send_header("Allow", "GET")
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _stream(self) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        sampler = self.server.sampler
        latest = sampler.latest()
        after = latest["sequence"] if latest else 0
        try:
            while not (self.server.stopping.is_set() or sampler.stopped):
                snapshot = sampler.wait_for_next(after, KEEP_ALIVE_S)
                if snapshot is None:
                    self.wfile.write(b": keep-alive\n\n")
                else:
                    after = snapshot["sequence"]
                    data = json.dumps(snapshot)
                    self.wfile.write(f"event: snapshot\nid: {after}\ndata: {data}\n\n".encode())
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return  # the page went away
