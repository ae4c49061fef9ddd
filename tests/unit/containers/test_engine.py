"""docker_engine_status(): asks the engine at DOCKER_HOST over a real socket, answers fast."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from serverless_testbed.containers import docker_engine_status


def _closed_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends: nothing listens


@pytest.fixture
def fake_engine() -> Iterator[dict[str, object]]:
    """An HTTP server on loopback that answers GET /_ping the way it is told to."""
    answer: dict[str, object] = {"status": 200, "body": b"OK"}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = answer["body"] if self.path == "/_ping" else b"not found"
            self.send_response(int(answer["status"]) if self.path == "/_ping" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    answer["host"] = f"tcp://127.0.0.1:{server.server_port}"
    try:
        yield answer
    finally:
        server.shutdown()
        server.server_close()


def test_a_missing_socket_means_no_engine_with_a_reason_that_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/docker.sock")

    available, reason = docker_engine_status()

    assert available is False
    assert reason == (
        f"no Docker engine answers at unix://{tmp_path}/docker.sock "
        "(the containers target needs one; use --target embedded)"
    )


def test_a_closed_tcp_port_means_no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    host = f"tcp://127.0.0.1:{_closed_loopback_port()}"
    monkeypatch.setenv("DOCKER_HOST", host)

    available, reason = docker_engine_status()

    assert available is False
    assert reason.startswith(f"no Docker engine answers at {host} ")


def test_the_standard_socket_is_asked_when_docker_host_is_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)

    _, reason = docker_engine_status()

    assert "unix:///var/run/docker.sock" in reason


def test_an_engine_that_answers_ping_is_available(
    monkeypatch: pytest.MonkeyPatch, fake_engine: dict[str, object]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", str(fake_engine["host"]))

    assert docker_engine_status() == (True, f"a Docker engine answers at {fake_engine['host']}")


def test_an_engine_that_is_not_ready_is_not_available(
    monkeypatch: pytest.MonkeyPatch, fake_engine: dict[str, object]
) -> None:
    fake_engine.update(status=500, body=b"starting")
    monkeypatch.setenv("DOCKER_HOST", str(fake_engine["host"]))

    available, reason = docker_engine_status()

    assert available is False
    assert "not ready" in reason and "500" in reason


def test_an_unsupported_scheme_is_named_not_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "ssh://builder@example.invalid")

    available, reason = docker_engine_status()

    assert available is False
    assert "ssh scheme is not supported" in reason
