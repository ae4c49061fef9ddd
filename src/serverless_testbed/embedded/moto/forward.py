"""Forwarding one service's calls to the moto server that serves it in another process.

The embedded stack can serve DynamoDB from its own moto server in a child process
(``service_process.py``), so its calls run under that process's interpreter lock, not the
stack process's. Clients that know only ``AWS_ENDPOINT_URL`` still reach the stack's main
endpoint: ``ForwardByTarget`` sends those calls (picked by their ``X-Amz-Target``) to the
child as they came: same method, path and query, headers (``Host`` and the SigV4
``Authorization`` too: the child checks the signature) and body, over kept-alive
connections, and answers with the child's status, headers and body. moto's own state
calls that concern both servers (``/moto-api/reset``) are made in both, the child first;
its state dump (``/moto-api/data.json``) is asked of both and answered with the two merged.
"""

from __future__ import annotations

import http.client
import io
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from serverless_testbed.embedded.moto.wsgi_request import read_body, request_headers, request_target

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Address = Callable[[], tuple[str, int]]  # where the other server listens (may wait for it)


@dataclass(frozen=True)
class Forwarding:
    """What goes to another server: calls by ``X-Amz-Target`` prefix, and paths that go
    there as well as to this one."""

    prefixes: tuple[str, ...]
    address: Address
    also_paths: frozenset[str] = frozenset()
    merged_paths: frozenset[str] = frozenset()


# Hop-by-hop headers (RFC 9110 7.6.1) and the length, which is set from the body sent.
NOT_FORWARDED = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",
    }
)
FORWARD_TIMEOUT_S = 120.0
IDLE_CONNECTIONS_KEPT = 64


class ForwardByTarget:
    """WSGI app: requests whose ``X-Amz-Target`` starts with one of ``prefixes`` go to the
    server at ``address()``; those to one of ``also_paths`` (moto's own state calls, such
    as ``/moto-api/reset``) go there first and then to ``app``, which answers once both
    have done it; those to one of ``merged_paths`` (moto's state dump) go to both, and the
    answer is the two JSON dumps merged (``merged_dumps``); the rest go to ``app``."""

    def __init__(self, app: WsgiApp, forwarding: Forwarding) -> None:
        self._app = app
        self._prefixes = forwarding.prefixes
        self._also_paths = forwarding.also_paths
        self._merged_paths = forwarding.merged_paths
        self._pool = ConnectionPool(forwarding.address)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target is not None and target.startswith(self._prefixes):
            status, headers, answer = self._forward(environ, body=read_body(environ))
            start_response(status, headers)
            return [answer]
        if environ.get("PATH_INFO") in self._also_paths:
            status, headers, answer = self._forward(environ, body=read_body(environ))
            if not status.startswith("2"):  # refused or failed there: not done here either
                start_response(status, headers)
                return [answer]
        if environ.get("PATH_INFO") in self._merged_paths:
            return self._merged(environ, start_response)
        return self._app(environ, start_response)

    def _merged(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        body = read_body(environ)
        status, headers, theirs = self._forward(environ, body=body)
        if not status.startswith("2"):
            start_response(status, headers)
            return [theirs]
        environ["wsgi.input"] = io.BytesIO(body)
        answered: list[Any] = []
        answer = self._app(environ, lambda *response: answered.append(response))
        try:
            ours = b"".join(answer)
        finally:
            getattr(answer, "close", lambda: None)()
        our_status, our_headers = answered[0][0], answered[0][1]
        if not our_status.startswith("2"):
            start_response(our_status, our_headers)
            return [ours]
        merged = json.dumps(merged_dumps(json.loads(ours), json.loads(theirs))).encode()
        kept = [(n, v) for n, v in our_headers if n.lower() != "content-length"]
        start_response(our_status, [*kept, ("Content-Length", str(len(merged)))])
        return [merged]

    def _forward(
        self, environ: dict[str, Any], *, body: bytes
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        """The other server's status line, headers and body for this request."""
        headers = [
            (name, value)
            for name, value in request_headers(environ)
            if name.lower() not in NOT_FORWARDED
        ]
        uri = request_target(environ)
        try:
            status, reason, answer_headers, answer = self._pool.request(
                environ["REQUEST_METHOD"], uri, headers, body
            )
        except (OSError, http.client.HTTPException, RuntimeError) as error:
            name = (environ.get("HTTP_X_AMZ_TARGET") or "").partition(".")[0]
            name = name or str(environ.get("PATH_INFO"))
            message = f"the server process of {name} did not answer: {error}"
            payload = json.dumps({"__type": "ServiceUnavailable", "message": message}).encode()
            return (
                "503 Service Unavailable",
                [
                    ("Content-Type", "application/x-amz-json-1.0"),
                    ("Content-Length", str(len(payload))),
                ],
                payload,
            )
        kept = [(n, v) for n, v in answer_headers if n.lower() not in NOT_FORWARDED]
        kept.append(("Content-Length", str(len(answer))))
        return f"{status} {reason}", kept, answer


def merged_dumps(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """moto's state dumps of two servers as one: ``{service: {model: [instance, ...]}}``,
    each model's instances this server's, then the other's."""
    merged = {service: dict(models) for service, models in ours.items()}
    for service, models in theirs.items():
        into = merged.setdefault(service, {})
        for model, instances in models.items():
            into[model] = [*into.get(model, []), *instances]
    return merged


class ConnectionPool:
    """Kept-alive HTTP/1.1 connections to one server, each used by one request at a time."""

    def __init__(self, address: Address) -> None:
        self._address = address
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def request(
        self, method: str, uri: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        for attempt in range(2):
            connection, reused = self._take()
            try:
                connection.putrequest(method, uri, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    connection.putheader(name, value)
                connection.putheader("Content-Length", str(len(body)))
                connection.endheaders(body)
                response = connection.getresponse()
                answer = response.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                # A kept connection the server closed while idle: once more on a new one.
                if reused and attempt == 0:
                    continue
                raise
            if response.will_close:
                connection.close()
            else:
                self._give(connection)
            return response.status, response.reason, response.getheaders(), answer
        raise AssertionError("unreachable")

    def _take(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        host, port = self._address()
        return http.client.HTTPConnection(host, port, timeout=FORWARD_TIMEOUT_S), False

    def _give(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < IDLE_CONNECTIONS_KEPT:
                self._idle.append(connection)
                return
        connection.close()
