"""moto's server on loopback, bound by us before werkzeug sees the socket.

moto's own ``ThreadedMotoServer`` binds inside its serving thread: when the port
is taken, werkzeug prints two lines and calls ``sys.exit(1)`` in that thread, and
``start()`` waits forever. Binding the socket here turns a busy port into an
``OSError`` the caller can report.
"""

from __future__ import annotations

import socket
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

LISTEN_BACKLOG = 1024  # a burst of connections waits for accept (capped by somaxconn)


class MotoServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> MotoServer:
        """Bind (raising ``OSError`` when the port is taken), then serve in a thread."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self._host, self._port))
            listener.listen(LISTEN_BACKLOG)
            # werkzeug duplicates the descriptor; ours closes when the block ends.
            self._server = make_server(
                self._host,
                self._port,
                DomainDispatcherApplication(create_backend_app),
                threaded=True,
                request_handler=MotoRequestHandler,
                fd=listener.fileno(),
            )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="moto-server", daemon=True
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.server_address[1])

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None
