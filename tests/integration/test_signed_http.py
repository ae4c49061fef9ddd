"""The signed POST client: it keeps its connection between requests, as an HTTP client in
front of API Gateway does, and a request without an HTTP answer is an ``OSError`` naming the
socket's own error."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.credentials import Credentials

from serverless_testbed.signed_http import RequestFailed, post, signed_post

CREDENTIALS = Credentials("AKIDEXAMPLE", "secret")


class _Recorder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Answer)
        self.client_ports: list[int] = []
        self.authorizations: list[str] = []


class _Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Recorder

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.client_ports.append(self.client_address[1])
        self.server.authorizations.append(self.headers.get("Authorization", ""))
        status = 418 if self.path == "/teapot" else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def recorder() -> Iterator[_Recorder]:
    server = _Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_requests_one_after_another_share_one_connection(recorder: _Recorder) -> None:
    url = f"http://127.0.0.1:{recorder.server_address[1]}/run"
    for _ in range(3):
        status, body = signed_post(
            url, b"{}", credentials=CREDENTIALS, region="us-east-1", timeout_s=10
        )
        assert (status, body) == (200, b"{}")
    assert len(recorder.client_ports) == 3
    assert len(set(recorder.client_ports)) == 1
    assert all(
        a.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") for a in recorder.authorizations
    )


def test_an_error_status_is_returned_not_raised(recorder: _Recorder) -> None:
    url = f"http://127.0.0.1:{recorder.server_address[1]}/teapot"
    assert post(url, b"{}", timeout_s=10) == (418, b"{}")


def test_no_answer_is_an_os_error_with_the_socket_error_as_reason() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, not listening: the connection is refused
        with pytest.raises(OSError) as raised:
            post(f"http://127.0.0.1:{port}/run", b"{}", timeout_s=10)
    assert isinstance(raised.value, RequestFailed)
    assert isinstance(raised.value.reason, ConnectionRefusedError)
