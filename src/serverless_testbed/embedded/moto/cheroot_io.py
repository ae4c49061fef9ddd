"""Leaner reading and writing for cheroot, the HTTP server under moto's WSGI app.

cheroot reads and writes sockets through pure-Python buffered files (``cheroot.makefile``,
on ``_pyio``). Under load that showed in the stack process's GIL time:

- each request line and header line is read with ``_pyio``'s generic ``readline`` (a
  ``peek`` then a ``read`` per line, each under the buffer's lock, 5-10%). ``LineReader``
  takes a line that is already in the buffer with one ``find``, and falls back to the
  generic ``readline`` when it is not (or is longer than asked);
- a response's status line and headers, then each body chunk, are written and flushed
  separately (two ``send`` calls per AWS call), and the Date header is formatted for each
  response (``email.utils.formatdate``, ~2%). ``OneWriteGateway`` gathers the head and the
  first chunk into one write and formats the date once a second.

What is read and sent is what cheroot reads and sends, but for the Date header's place among
the headers (before cheroot's own ``Connection`` / ``Keep-Alive``, when it adds them).
"""

from __future__ import annotations

import email.utils
import io
import threading
import time
from typing import Any

from cheroot import makefile, server, wsgi


class LineReader(makefile.StreamReader):
    # The state of the _pyio.BufferedReader it is: the bytes read from the socket, and how
    # many of them were consumed.
    _read_lock: threading.Lock
    _read_buf: bytes
    _read_pos: int

    def readline(self, size: int | None = -1) -> bytes:
        limit = -1 if size is None else size
        with self._read_lock:
            buffered, start = self._read_buf, self._read_pos
            stop = len(buffered) if limit < 0 else min(len(buffered), start + limit)
            end = buffered.find(b"\n", start, stop)
            if end >= 0:
                line: bytes = buffered[start : end + 1]
                self._read_pos = end + 1
                self.bytes_read += len(line)
                return line
        return super().readline(limit)  # reads the socket: the line is not all buffered


def _make_file(sock: Any, mode: str = "r", bufsize: int = io.DEFAULT_BUFFER_SIZE) -> Any:
    if "r" in mode:
        return LineReader(sock, mode, bufsize)
    return makefile.StreamWriter(sock, mode, bufsize)


class LineReadingConnection(server.HTTPConnection):
    def __init__(self, http_server: Any, sock: Any, makefile: Any = None) -> None:
        # cheroot hands its own file factory (or an SSL adapter's: none is used here).
        super().__init__(http_server, sock, makefile=_make_file)


class _Gathered:
    """Stands in for the connection's writer while cheroot writes a response's head."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)


_date: tuple[int, str] = (0, "")


def http_date() -> str:
    """Now as an HTTP date (``Mon, 30 Nov 2026 06:15:56 GMT``), formatted once a second."""
    global _date
    second = int(time.time())
    if _date[0] != second:
        _date = (second, email.utils.formatdate(second, usegmt=True))
    return _date[1]


class OneWriteGateway(wsgi.Gateway_10):
    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Any:
        if not any(name.lower() == "date" for name, _ in headers):
            headers = [*headers, ("Date", http_date())]
        return super().start_response(status, headers, exc_info)

    def write(self, chunk: bytes) -> None:
        request = self.req
        if request.sent_headers:
            super().write(chunk)
            return
        connection = request.conn
        socket_writer = connection.wfile
        gathered = _Gathered()
        connection.wfile = gathered
        try:
            super().write(chunk)  # the head (once), then the chunk, both into `gathered`
        finally:
            connection.wfile = socket_writer
            if gathered.parts:
                socket_writer.write(b"".join(gathered.parts))


def make_lean(http_server: wsgi.Server) -> None:
    """Have ``http_server`` (before it starts) read and write as described above."""
    http_server.ConnectionClass = LineReadingConnection
    http_server.gateway = OneWriteGateway
