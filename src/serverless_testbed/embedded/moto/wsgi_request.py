"""What the stack's WSGI middlewares read of a request: its whole body, its target and its
headers, as the client sent them (SigV4 signs all three; a forward sends them on)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any


def read_body(environ: dict[str, Any]) -> bytes:
    """Read the whole body and give the app after this a copy to read."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH") or ""
    if length.isdigit():
        body: bytes = stream.read(int(length))
    elif "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        body = stream.read()
        environ.pop("HTTP_TRANSFER_ENCODING", None)
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def request_target(environ: dict[str, Any]) -> str:
    """The request's path and query as sent (the server's raw URI when it keeps one)."""
    if environ.get("REQUEST_URI"):
        return str(environ["REQUEST_URI"])
    query = environ.get("QUERY_STRING", "")
    path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
    return f"{path}?{query}" if query else path


def request_headers(environ: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            yield key[5:].replace("_", "-"), value
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            yield key.replace("_", "-"), value
