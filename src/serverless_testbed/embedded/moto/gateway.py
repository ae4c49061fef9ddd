"""cheroot's WSGI gateway, sending each response's head and first body chunk in one write.

cheroot writes a response's status line and headers, then each body chunk, each through its
own pure-Python buffered writer (``cheroot.makefile``, flushed at every write) and its own
``send``: two of each for every AWS call, about 7% of the stack process's GIL time under load
with the date cheroot formats for each response (``email.utils.formatdate``, ~2%). Here the
head and the first chunk are gathered and written once, and the Date header (at one-second
resolution, as HTTP dates are) is formatted once a second. What is sent is what cheroot
sends, but for the Date header's place among the headers (before cheroot's own
``Connection`` / ``Keep-Alive``, when it adds them).
"""

from __future__ import annotations

import email.utils
import time
from typing import Any

from cheroot import wsgi


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
