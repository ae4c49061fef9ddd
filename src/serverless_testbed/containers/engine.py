"""Is there a Docker engine to run the containers stack? Asked over its socket, in well under
half a second when none answers, without importing the docker SDK or testcontainers."""

from __future__ import annotations

import http.client
import os
import socket
from urllib.parse import urlsplit

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
PING_TIMEOUT_S = 0.3
NEEDED_FOR = "the containers target needs one; use --target embedded"


def docker_engine_status(timeout_s: float = PING_TIMEOUT_S) -> tuple[bool, str]:
    """(True, where) when a Docker engine answers ``GET /_ping`` at DOCKER_HOST (default: the
    standard socket); otherwise (False, a one-line reason that says what to do instead)."""
    host = os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
    try:
        connection = _connection(host, timeout_s)
    except ValueError as error:
        return False, f"cannot ask DOCKER_HOST={host}: {error} ({NEEDED_FOR})"
    try:
        connection.request("GET", "/_ping")
        response = connection.getresponse()
        body = response.read(64)
    except (OSError, http.client.HTTPException):
        return False, f"no Docker engine answers at {host} ({NEEDED_FOR})"
    finally:
        connection.close()
    if response.status != 200 or body.strip() != b"OK":
        return False, (
            f"the Docker engine at {host} is not ready "
            f"(GET /_ping -> {response.status} {body[:32]!r}; {NEEDED_FOR})"
        )
    return True, f"a Docker engine answers at {host}"


def _connection(host: str, timeout_s: float) -> http.client.HTTPConnection:
    url = urlsplit(host)
    if url.scheme == "unix":
        return _UnixHTTPConnection(url.path, timeout_s)
    if url.scheme in ("tcp", "http"):
        if not url.hostname:
            raise ValueError("no host name in it")
        return http.client.HTTPConnection(url.hostname, url.port or 2375, timeout=timeout_s)
    # https (TLS client certificates), ssh and npipe need the docker SDK's own transports.
    raise ValueError(f"the {url.scheme or 'empty'} scheme is not supported here (unix or tcp)")


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout_s: float) -> None:
        super().__init__("localhost", timeout=timeout_s)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock
