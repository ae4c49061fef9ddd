"""A local stand-in for API Gateway HTTP APIs: routes -> Lambda proxy integration (payload 2.0).

URLs look like ``http://127.0.0.1:PORT/<stack>/<api logical id>/<stage>/<route path>``; the
provisioner writes that base into the stack's ApiUrl output, so clients find it the same way
they find a real API: from the stack outputs.

Routes with IAM authorization (``AWS_IAM``) answer an unsigned request 403, as API Gateway
does. Given ``credentials`` (the embedded stack's), the SigV4 signature is verified too and
a request signed with any other credentials is refused 403 as API Gateway refuses it;
without (the containers engine, whose LocalStack checks no signature), a client that forgets
to sign still fails here, not first on AWS.

Under load it answers the way API Gateway does, never with a reset: the listen backlog holds
a burst of connections (socketserver's default of 5 reset connections from 32 in flight), and
requests over the stage's throttle (a token bucket: steady rate and burst, as API Gateway's
route throttling) get 429 ``{"message":"Too Many Requests"}`` without running anything. A body
comes by Content-Length or ``Transfer-Encoding: chunked``. A request API Gateway would refuse
as malformed (a Content-Length that is not a non-negative integer, or two different ones; a
line ended by a bare LF; both Content-Length and Transfer-Encoding, a transfer coding other
than chunked, a malformed chunk) gets 400 and the connection closes.
A request whose function Lambda throttles (TooManyRequestsException) gets 500 ``{"message":
"Internal Server Error"}``, as API Gateway answers a failed Lambda integration (README,
"Lambda concurrency").
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from botocore.credentials import Credentials

from serverless_testbed.emulation import sigv4
from serverless_testbed.emulation.invoke import FunctionThrottled, Invoke

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's own request limit
MAX_CHUNK_LINE_BYTES = 4096  # a chunk's size line or a trailer line, at most
HEX_DIGITS = b"0123456789abcdefABCDEF"
ACCOUNT_ID = "123456789012"
LISTEN_BACKLOG = 1024  # connections the kernel queues before accept (capped by somaxconn)
# API Gateway's default account-level throttle per region: 10,000 requests/s, burst 5,000.
DEFAULT_RATE_LIMIT_PER_S = 10_000.0
DEFAULT_BURST_LIMIT = 5_000
TOO_MANY_REQUESTS = {"message": "Too Many Requests"}
BAD_REQUEST = {"message": "Bad Request"}


class Throttle:
    """A token bucket, as API Gateway's throttling: ``burst`` requests at once, refilled at
    ``rate_per_s``; a request that finds the bucket empty is refused (429), not queued."""

    def __init__(
        self,
        rate_per_s: float = DEFAULT_RATE_LIMIT_PER_S,
        burst: int = DEFAULT_BURST_LIMIT,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_s < 0 or burst < 0:
            raise ValueError(f"throttle limits must be >= 0 (rate {rate_per_s}, burst {burst})")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._monotonic = monotonic
        self._tokens = float(burst)
        self._refilled_at = monotonic()
        self._lock = threading.Lock()

    def admit(self) -> bool:
        with self._lock:
            now = self._monotonic()
            elapsed = now - self._refilled_at
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate_per_s)
            self._refilled_at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


class _Server(ThreadingHTTPServer):
    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True


@dataclass(frozen=True)
class MountedApi:
    base: str  # "/<stack>/<api logical id>"
    api_id: str
    stage: str  # "$default" has no path segment
    routes: dict[tuple[str, str], str]  # (METHOD, /path) -> function name
    signed_routes: frozenset[tuple[str, str]] = frozenset()  # (METHOD, /path) needing SigV4

    @classmethod
    def of(cls, stack_name: str, api: Any, physical_ids: dict[str, str]) -> MountedApi:
        """Mount a translated HTTP API (``provision.HttpApi``) of a deployed stack."""
        return cls(
            base=f"/{stack_name}/{api.logical_id}",
            api_id=api.logical_id,
            stage=api.stage,
            routes={(r.method, r.path): physical_ids[r.function_logical_id] for r in api.routes},
            signed_routes=frozenset((r.method, r.path) for r in api.routes if r.signed),
        )

    @property
    def prefix(self) -> str:
        return self.base if self.stage == "$default" else f"{self.base}/{self.stage}"


class LocalApiGateway:
    def __init__(
        self,
        invoke: Invoke,
        host: str = "127.0.0.1",
        port: int = 0,
        throttle: Throttle | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        self._invoke = invoke
        self._credentials = credentials
        self._apis: list[MountedApi] = []
        self._lock = threading.Lock()
        self.throttle = throttle or Throttle()
        self._server = _Server((host, port), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def mount(self, api: MountedApi) -> None:
        with self._lock:
            self._apis = [a for a in self._apis if a.base != api.base] + [api]

    def resolve(self, method: str, path: str) -> tuple[MountedApi, tuple[str, str], str] | None:
        """(api, route key (METHOD, /path), function name) for a request, or None."""
        with self._lock:
            apis = list(self._apis)
        for api in apis:
            if path == api.prefix or path.startswith(api.prefix + "/"):
                route_path = path[len(api.prefix) :] or "/"
                for key in ((method, route_path), ("ANY", route_path)):
                    if key in api.routes:
                        return api, key, api.routes[key]
        return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as API Gateway
            # An answer is written as its head, then its body: with Nagle's algorithm the
            # body waited for the client's delayed ACK of the head (~40 ms) on a kept-alive
            # connection.
            disable_nagle_algorithm = True
            server_version = "testbed-local-apigw"

            def log_message(self, format: str, *args: Any) -> None:  # quiet, like AWS
                return

            def parse_request(self) -> bool:
                lines = _LineEndings(self.rfile)
                self.rfile = lines  # type: ignore[assignment]  # headers are read through it
                try:
                    parsed = super().parse_request()
                finally:
                    self.rfile = lines.raw
                if not parsed:
                    return False
                request_line: bytes = getattr(self, "raw_requestline", b"")  # untyped in stubs
                if not request_line.endswith(b"\r\n") or lines.bare_lf:
                    _refuse_malformed(self)
                    return False
                return True

            def do_GET(self) -> None:
                gateway._serve(self)

            do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

        return Handler

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        path, _, query = request.path.partition("?")
        try:
            body = _request_body(request)
        except _Malformed:
            _refuse_malformed(request)
            return
        except _TooLarge:
            request.close_connection = True  # the rest of the body is not read
            _reply(request, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"message": "Request Too Long"})
            return
        found = self.resolve(request.command, path)
        if found is None:
            _reply(request, HTTPStatus.NOT_FOUND, {"message": "Not Found"})
            return
        api, route, function = found
        signed = route in api.signed_routes
        access_key = _sigv4_access_key(request.headers.get("Authorization", ""))
        if signed and access_key is None:
            _reply(request, HTTPStatus.FORBIDDEN, {"message": "Forbidden"})
            return
        if signed and self._credentials is not None:
            refusal = sigv4.check(
                request.command, request.path, request.headers.items(), body, self._credentials
            )
            if refusal is not None:
                _reply(request, HTTPStatus.FORBIDDEN, {"message": refusal.message})
                return
        if not self.throttle.admit():
            _reply(request, HTTPStatus.TOO_MANY_REQUESTS, TOO_MANY_REQUESTS)
            return
        event = _proxy_event(request, api, route[1], path, query, body)
        if signed:
            event["requestContext"]["authorizer"] = {
                "iam": {"accessKey": access_key, "accountId": ACCOUNT_ID}
            }
        try:
            outcome = self._invoke(function, json.dumps(event).encode())
        except FunctionThrottled:
            _reply(request, HTTPStatus.INTERNAL_SERVER_ERROR, {"message": "Internal Server Error"})
            return
        payload, function_error = outcome.payload, outcome.function_error
        if function_error:
            _reply(request, HTTPStatus.INTERNAL_SERVER_ERROR, {"message": "Internal Server Error"})
            return
        status, headers, response_body = _proxy_response(payload)
        _send(request, status, headers, response_body)


class _LineEndings:
    """Reads lines from a request's stream and notes a line ended by a bare LF."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.bare_lf = False

    def readline(self, limit: int = -1) -> bytes:
        line: bytes = self.raw.readline(limit)
        if line.endswith(b"\n") and not line.endswith(b"\r\n"):
            self.bare_lf = True
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


class _Malformed(Exception):
    """The request's framing is one API Gateway refuses (400)."""


class _TooLarge(Exception):
    """The request's body is over API Gateway's payload limit (413)."""


def _request_body(request: BaseHTTPRequestHandler) -> bytes:
    """The body as sent: by Content-Length, or decoded from ``Transfer-Encoding: chunked``
    (http.server reads neither itself). Both headers at once, another transfer coding, or a
    malformed chunk raise _Malformed; a body over MAX_PAYLOAD_BYTES raises _TooLarge (a
    chunked one as soon as a chunk's size says so, before reading it)."""
    codings = [
        coding.strip().lower()
        for value in request.headers.get_all("Transfer-Encoding") or []
        for coding in value.split(",")
    ]
    if codings:
        if codings != ["chunked"] or request.headers.get_all("Content-Length"):
            raise _Malformed
        return _read_chunked(request.rfile)
    length = _content_length(request)
    if length is None:
        raise _Malformed
    if length > MAX_PAYLOAD_BYTES:
        raise _TooLarge
    return request.rfile.read(length) if length else b""


def _read_chunked(stream: Any) -> bytes:
    """RFC 9112 7.1: chunks (size in hex, extensions ignored), the last of size 0, trailer
    lines (ignored) up to an empty line."""
    body = bytearray()
    while True:
        size_text = _chunk_line(stream).split(b";", 1)[0].strip()
        if not size_text or size_text.strip(HEX_DIGITS):
            raise _Malformed
        size = int(size_text, 16)
        if size == 0:
            break
        if len(body) + size > MAX_PAYLOAD_BYTES:
            raise _TooLarge
        chunk = stream.read(size)
        if len(chunk) != size or stream.read(2) != b"\r\n":
            raise _Malformed
        body += chunk
    while _chunk_line(stream):  # trailer fields, up to the empty line
        pass
    return bytes(body)


def _chunk_line(stream: Any) -> bytes:
    """One CRLF-ended line of the chunked framing, without its CRLF."""
    line: bytes = stream.readline(MAX_CHUNK_LINE_BYTES + 1)
    if len(line) > MAX_CHUNK_LINE_BYTES or not line.endswith(b"\r\n"):
        raise _Malformed
    return line[:-2]


def _content_length(request: BaseHTTPRequestHandler) -> int | None:
    """The body's length: 0 when absent, None when the header is not one non-negative integer
    (http.server would answer "abc" with a dropped connection and read "-1" until EOF)."""
    values = request.headers.get_all("Content-Length") or []
    if not values:
        return 0
    if len(set(values)) != 1 or not values[0].strip().isdigit() or not values[0].isascii():
        return None
    return int(values[0])


def _refuse_malformed(request: BaseHTTPRequestHandler) -> None:
    request.close_connection = True
    body = json.dumps(BAD_REQUEST).encode()
    request.send_response(HTTPStatus.BAD_REQUEST)
    request.send_header("content-type", "application/json")
    request.send_header("Content-Length", str(len(body)))
    request.send_header("Connection", "close")
    request.end_headers()
    request.wfile.write(body)


def _sigv4_access_key(authorization: str) -> str | None:
    """The access key of a SigV4 Authorization header, or None when it is not one."""
    scheme, _, fields = authorization.partition(" ")
    if scheme != "AWS4-HMAC-SHA256":
        return None
    for field in fields.split(","):
        name, _, value = field.strip().partition("=")
        if name == "Credential" and "/" in value:
            return value.split("/", 1)[0]
    return None


def _proxy_event(
    request: BaseHTTPRequestHandler,
    api: MountedApi,
    route_path: str,
    raw_path: str,
    query: str,
    body: bytes,
) -> dict[str, Any]:
    now = time.time()
    route_key = f"{request.command} {route_path}"
    headers = {name.lower(): value for name, value in request.headers.items()}
    try:
        text, encoded = body.decode(), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path[len(api.base) :],  # HTTP APIs keep a named stage in rawPath
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": api.api_id,
            "domainName": headers.get("host", ""),
            "http": {
                "method": request.command,
                "path": raw_path,
                "protocol": request.request_version,
                "sourceIp": request.client_address[0],
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": api.stage,
            "time": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": encoded,
    }
    if query:
        from urllib.parse import parse_qsl

        event["queryStringParameters"] = dict(parse_qsl(query))
    if body:
        event["body"] = text
    return event


def _proxy_response(payload: bytes) -> tuple[int, dict[str, str], bytes]:
    """Payload format 2.0: a dict with statusCode is a full response, anything else is JSON."""
    try:
        result = json.loads(payload)
    except ValueError:
        return 502, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}'
    if isinstance(result, dict) and "statusCode" in result:
        body = result.get("body") or ""
        raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        return int(result["statusCode"]), headers, raw
    return 200, {"content-type": "application/json"}, json.dumps(result).encode()


def _reply(request: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
    _send(request, status, {"content-type": "application/json"}, json.dumps(body).encode())


def _send(
    request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes
) -> None:
    request.send_response(status)
    for name, value in headers.items():
        if name.lower() != "content-length":
            request.send_header(name, value)
    request.send_header("Content-Length", str(len(body)))
    request.end_headers()
    request.wfile.write(body)
