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

import socket
import threading

from cheroot import wsgi
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

LISTEN_BACKLOG = 1024  # a burst of connections waits for accept (capped by somaxconn)
POOL_THREADS = 256
KEEP_ALIVE_TIMEOUT_S = 60  # an idle client connection is closed after this


class MotoServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: wsgi.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> MotoServer:
        """Bind (raising ``OSError`` when the port is taken), then serve in a thread."""
        port = self._port
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # cheroot reports a taken port without naming it: find out here first.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((self._host, port))
            if port == 0:
                port = probe.getsockname()[1]
        server = wsgi.Server(
            (self._host, port),
            DomainDispatcherApplication(create_backend_app),
            numthreads=POOL_THREADS,
            request_queue_size=LISTEN_BACKLOG,
            timeout=KEEP_ALIVE_TIMEOUT_S,
            server_name="moto",
        )
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
        if self._server is None:
            return
        self._server.stop()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None
