"""moto's WSGI application on loopback, served by cheroot (a thread-pool HTTP/1.1 server).

Why not moto's own ``ThreadedMotoServer`` (werkzeug's development server): it answers every
request with ``Connection: close``, so each AWS call paid a TCP handshake, an accept and a
new server thread, and its client a new connection (with 8 POST /run in flight, ~14 AWS calls
per execution, those were ~20% of the stack process's GIL time in py-spy), and it binds inside
its serving thread, where a taken port ends in ``sys.exit(1)`` and a ``start()`` that waits
forever. Here the port is checked by binding it first (a taken port is an ``OSError`` the
caller reports), connections are kept alive, and requests run on a fixed pool of threads.

The pool must exceed the requests that block inside moto at once: Lambda Invoke (Step
Functions' ``lambda:invoke`` waits for the function, which calls back into moto) and the SQS
long polls of the event-source poller. One of each per execution in flight, so POOL_THREADS
covers a couple of hundred executions in flight, above what the local HTTP API is tested with.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from xml.sax.saxutils import escape

from botocore.credentials import Credentials
from cheroot import wsgi
from cheroot.workers import threadpool
from moto.moto_server import werkzeug_app
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from serverless_testbed.embedded.moto import cheroot_io
from serverless_testbed.embedded.moto.dispatch import JsonTargetDispatch
from serverless_testbed.embedded.moto.forward import ForwardByTarget, Forwarding
from serverless_testbed.embedded.moto.wsgi_request import read_body, request_headers, request_target
from serverless_testbed.emulation import sigv4

LISTEN_BACKLOG = 1024  # a burst of connections waits for accept (capped by somaxconn)
POOL_THREADS = 256
KEEP_ALIVE_TIMEOUT_S = 60  # an idle client connection is closed after this
# cheroot keeps at most 10 connections open between requests by default and answers the
# rest with "Connection: close": with a few functions' containers each holding one, most
# calls paid a new connection (2.6 per execution at 8 in flight). No limit here (and no
# count of open connections per answer): the clients are the stack's own containers and
# the user's on loopback, idle connections close after KEEP_ALIVE_TIMEOUT_S, and the
# file-descriptor limit bounds the rest.
KEEP_ALIVE_CONNECTIONS: int | None = None
STOP_WAIT_S = 10.0  # how long stop() waits for the requests still running

logger = logging.getLogger(__name__)


class _DaemonWorkerPool(threadpool.ThreadPool):
    """cheroot's pool with daemon workers. cheroot's stop joins each worker without a time
    limit once its own has passed, and its workers would keep the process alive: a request
    that never returns (a handler stuck on a lock) would hang the stack's stop, then its exit.
    """

    def _spawn_worker(self) -> threadpool.WorkerThread:
        worker = threadpool.WorkerThread(self.server)
        worker.name = f"moto-server {worker.name}"
        worker.daemon = True
        worker.start()
        return worker


class MotoServer:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: Credentials | None = None,
        *,
        direct_json_dispatch: bool = True,
        lean_io: bool = True,
        forward: Forwarding | None = None,
        listening: socket.socket | None = None,
    ) -> None:
        """With ``credentials``, every request (``/moto-api/`` too) must be SigV4-signed
        with them, else 403 as AWS answers; without, moto takes any request, as it does.

        ``direct_json_dispatch``: JSON-protocol calls to Step Functions, DynamoDB and SQS
        skip moto's Flask layer (``dispatch.py``; same answers, less CPU). Off, every
        request takes moto's own route (benchmarks compare the two).
        ``lean_io``: requests are read and responses written with less work
        (``cheroot_io.py``); off, as cheroot does.
        ``forward``: calls that go to another server as they came (``forward.py``), which
        checks their signature.
        ``listening``: a socket already bound and listening (handed over by a parent
        process) to serve on, instead of binding ``host:port``."""
        self._host = host
        self._port = port
        self._credentials = credentials
        self._direct_json_dispatch = direct_json_dispatch
        self._lean_io = lean_io
        self._forward = forward
        self._listening = listening
        self._server: wsgi.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> MotoServer:
        """Bind (raising ``OSError`` when the port is taken), then serve in a thread."""
        port = self._port
        if self._listening is not None:
            port = self._listening.getsockname()[1]
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                # cheroot reports a taken port without naming it: find out here first.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((self._host, port))
                if port == 0:
                    port = probe.getsockname()[1]
        dispatcher = DomainDispatcherApplication(create_backend_app)
        app: Any = dispatcher
        if self._direct_json_dispatch:
            # CORS as create_backend_app decides it: from the setting it imported.
            cors = not werkzeug_app.DISABLE_GLOBAL_CORS
            app = JsonTargetDispatch(dispatcher, cors=cors)
        if self._credentials is not None:
            app = SignedRequestsOnly(app, self._credentials)
        if self._forward is not None:
            app = ForwardByTarget(app, self._forward)
        server = wsgi.Server(
            (self._host, port),
            app,
            numthreads=POOL_THREADS,
            request_queue_size=LISTEN_BACKLOG,
            timeout=KEEP_ALIVE_TIMEOUT_S,
            server_name="moto",
        )
        server.requests = _DaemonWorkerPool(
            server, min=server.requests.min, max=server.requests.max
        )
        # Annotated int, but cheroot reads None as no limit (ConnectionManager.can_add_...).
        server.keep_alive_conn_limit = KEEP_ALIVE_CONNECTIONS  # type: ignore[assignment]
        if self._lean_io:
            cheroot_io.make_lean(server)
        if self._listening is not None:
            _serve_on(server, self._listening)
        server.prepare()
        self._server = server
        self._thread = threading.Thread(target=server.serve, name="moto-server", daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.socket.getsockname()[1])

    def stop(self) -> None:
        """Stop serving; requests still running get STOP_WAIT_S to finish, then are left to
        end with the process (a warning says so)."""
        if self._server is None:
            return
        port, server, serving = self.port, self._server, self._thread
        self._server = self._thread = None
        stopping = threading.Thread(target=server.stop, name="moto-server-stop", daemon=True)
        stopping.start()
        stopping.join(STOP_WAIT_S)
        if stopping.is_alive():
            logger.warning(
                "moto's server on port %s stopped with requests still running after %.0f s",
                port,
                STOP_WAIT_S,
            )
        if serving is not None:
            serving.join(STOP_WAIT_S)


def _serve_on(server: wsgi.Server, listening: socket.socket) -> None:
    """Make cheroot's ``prepare`` take ``listening`` where it would bind a new socket."""

    def adopt(family: int, type: int, proto: int = 0) -> socket.socket:
        server.socket = listening
        server.bind_addr = listening.getsockname()
        return listening

    server.bind = adopt  # type: ignore[method-assign]


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class SignedRequestsOnly:
    """WSGI middleware: a request reaches the app only when signed with the credentials."""

    def __init__(self, app: WsgiApp, credentials: Credentials) -> None:
        self._app = app
        self._credentials = credentials

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        body = read_body(environ)
        refusal = sigv4.check(
            environ["REQUEST_METHOD"],
            request_target(environ),
            request_headers(environ),
            body,
            self._credentials,
        )
        if refusal is None:
            return self._app(environ, start_response)
        payload, content_type = _error_body(refusal, environ.get("CONTENT_TYPE", ""))
        start_response(
            "403 Forbidden",
            [
                ("Content-Type", content_type),
                ("Content-Length", str(len(payload))),
                ("x-amzn-ErrorType", refusal.code),
            ],
        )
        return [payload]


def _error_body(refusal: sigv4.Refusal, content_type: str) -> tuple[bytes, str]:
    """The error in the shape the request's protocol expects: JSON for the JSON protocols,
    XML for the query protocol (IAM, CloudFormation, ...)."""
    if "json" in content_type:
        body = {"__type": refusal.code, "message": refusal.message}
        return json.dumps(body).encode(), "application/x-amz-json-1.1"
    xml = (
        "<ErrorResponse><Error><Type>Sender</Type>"
        f"<Code>{escape(refusal.code)}</Code><Message>{escape(refusal.message)}</Message>"
        "</Error><RequestId>0</RequestId></ErrorResponse>"
    )
    return xml.encode(), "text/xml"
