"""One AWS service served by its own moto server in a child process.

    python -m serverless_testbed.embedded.moto.service_process

The embedded stack's process runs moto's server, Step Functions, the SQS poller, the HTTP
API and the Lambda runtime under one interpreter lock; a service served from a child process
runs under its own (DynamoDB: the worker's conditional UpdateItem was the largest single
part of the stack process's lock time). Clients reach it through boto3's own
``AWS_ENDPOINT_URL_<SERVICE>``, or through the stack's endpoint, which forwards
(``forward.py``).

The parent binds the listening socket and hands it over (so its port is known at once and
early calls wait in the backlog). The child reads its settings (that socket's descriptor,
host, the stack's credentials) as one JSON line on stdin, not from argv (``ps`` shows argv),
writes ``{"serving": PORT}`` as one line on stdout once it serves, and exits when its stdin
closes: when the stack stops it, or when the stack's process dies.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from typing import IO, Any

from botocore.credentials import Credentials

MODULE = "serverless_testbed.embedded.moto.service_process"
LISTEN_BACKLOG = 1024  # as the stack's endpoint's
START_TIMEOUT_S = 60.0  # the child imports moto and binds: ~1 s on an idle machine
STOP_TIMEOUT_S = 5.0

log = logging.getLogger(__name__)


class ServiceProcessFailed(RuntimeError):
    """The child exited, or said nothing, before it served."""


class ServiceProcess:
    """The parent's side: start() returns at once; wait_serving() waits for the child."""

    def __init__(
        self,
        service: str,
        credentials: Credentials,
        host: str = "127.0.0.1",
        *,
        module: str = MODULE,
    ) -> None:
        """``module``: what the child runs (``python -m``), this one unless a test says."""
        self.service = service
        self._module = module
        self._credentials = credentials
        self._host = host
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._serving = False
        self._lock = threading.Lock()

    def start(self) -> ServiceProcess:
        # The listening socket is made here and handed over: its port is known at once, and
        # calls made before the child serves wait in its backlog instead of being refused.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listening:
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listening.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            listening.bind((self._host, 0))
            listening.listen(LISTEN_BACKLOG)
            self._port = int(listening.getsockname()[1])
            self._process = subprocess.Popen(
                [sys.executable, "-m", self._module],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(listening.fileno(),),
            )
            fd = listening.fileno()
        # (Closed here: a child that dies leaves no socket that accepts and never answers.)
        settings = {
            "fd": fd,
            "host": self._host,
            "access_key": self._credentials.access_key,
            "secret_key": self._credentials.secret_key,
        }
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(settings).encode() + b"\n")
        self._process.stdin.flush()
        return self

    @property
    def pid(self) -> int:
        assert self._process is not None, "start() first"
        return self._process.pid

    @property
    def port(self) -> int:
        assert self._port is not None, "start() first"
        return self._port

    def wait_serving(self) -> None:
        """Return once the child serves; raise ServiceProcessFailed if it cannot."""
        with self._lock:
            if not self._serving:
                self._read_ready()
                self._serving = True

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def address(self) -> tuple[str, int]:
        return self._host, self.port

    def exit_status(self) -> int | None:
        """None while the child runs, else its exit status (negative: killed by a signal)."""
        return None if self._process is None else self._process.poll()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None
        with contextlib.suppress(OSError):
            process.stdin.close()  # the child exits when its stdin closes
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def _read_ready(self) -> None:
        process = self._process
        if process is None:
            raise ServiceProcessFailed(f"the {self.service} server process is not running")
        assert process.stdout is not None and process.stderr is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([process.stdout], [], [], remaining)[0]:
                raise ServiceProcessFailed(
                    f"the {self.service} server process did not serve within "
                    f"{START_TIMEOUT_S:.0f} s"
                )
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                raise ServiceProcessFailed(self._why_it_ended(process))
            line += chunk
        threading.Thread(
            target=_log_lines,
            args=(self.service, process.stderr),
            name=f"{self.service}-process-stderr",
            daemon=True,
        ).start()
        if json.loads(line).get("serving") != self._port:
            raise ServiceProcessFailed(f"the {self.service} server process said {line!r}")

    def _why_it_ended(self, process: subprocess.Popen[bytes]) -> str:
        try:
            status = process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            status = None
        assert process.stderr is not None
        lines = [ln for ln in process.stderr.read().decode(errors="replace").splitlines() if ln]
        last = lines[-1].strip() if lines else "(nothing on stderr)"
        return (
            f"the {self.service} server process exited (status {status}) before it served: {last}"
        )


def _log_lines(service: str, stream: IO[bytes]) -> None:
    with contextlib.suppress(OSError, ValueError):
        for raw in stream:
            log.warning("%s server process: %s", service, raw.decode(errors="replace").rstrip())


def _first_call(url: str, credentials: Credentials) -> None:
    """One call of its own: the first request loads DynamoDB's backend and models, which the
    stack's first call would otherwise wait for. Signed and sent with botocore's signer and
    urllib: a boto3 client would cost another ~0.1 s of CPU while the stack starts."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    from serverless_testbed.signed_http import post

    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "DynamoDB_20120810.ListTables",
    }
    request = AWSRequest(method="POST", url=url, data=b"{}", headers=headers)
    SigV4Auth(credentials, "dynamodb", "us-east-1").add_auth(request)
    status, answer = post(url, b"{}", headers=dict(request.headers.items()), timeout_s=60)
    if status != 200:
        raise RuntimeError(f"its own first call answered {status}: {answer[:200]!r}")


def main() -> None:
    # Ctrl-C at a terminal reaches the whole process group: stopping is the stack's to do
    # (it closes stdin). Dying of it here printed a traceback, and the stack's health watch
    # could take the child's end for a crash.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _serve(json.loads(sys.stdin.readline()))
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    # Not a normal exit: that waits for cheroot's worker threads, which are not daemons and
    # may hold kept-alive connections; nothing here needs to be saved.
    os._exit(0)


def _serve(settings: dict[str, Any]) -> None:
    gc.disable()  # as the stack's start: what is loaded now lives as long as the process
    from serverless_testbed.embedded.moto import behaviour, model_tracking, speed

    speed.apply_for_dynamodb()
    behaviour.apply_for_dynamodb()
    model_tracking.apply()
    from serverless_testbed.embedded.moto.server import MotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    credentials = Credentials(settings["access_key"], settings["secret_key"])
    listening = socket.socket(fileno=settings["fd"])
    server = MotoServer(settings["host"], 0, credentials, listening=listening).start()
    sys.stdout.write(json.dumps({"serving": server.port}) + "\n")
    sys.stdout.flush()
    _first_call(server.url, credentials)
    gc.enable()
    gc.freeze()
    sys.stdin.read()  # until the parent closes it, or dies


if __name__ == "__main__":
    main()
