"""The local HTTP API on the wire (routing and events are test_http_api.py's): chunked bodies
are decoded, malformed requests get API Gateway's 400 and a chunk over the limit its 413, a
burst of connections waits in the listen queue instead of being reset, requests over the
throttle get API Gateway's 429, and with the stack's credentials only requests signed with
them reach the function. The function behind the route is a plain callable that records
calls."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.credentials import Credentials

from serverless_testbed.emulation.http_api import LocalApiGateway, MountedApi, Throttle
from serverless_testbed.emulation.invoke import Invoked
from tests.integration.helpers import http_post

ROUTE = ("POST", "/run")
SIGNED_HEADER = (
    "Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/execute-api/"
    "aws4_request, SignedHeaders=host, Signature=00\r\n"
)
BURST = 128


class Recorder:
    def __init__(self) -> None:
        self.calls: list[bytes] = []
        self._lock = threading.Lock()

    def __call__(self, function: str, payload: bytes) -> Invoked:
        with self._lock:
            self.calls.append(payload)
        return Invoked(payload=json.dumps({"statusCode": 200, "body": "ok"}).encode())


def _gateway(throttle: Throttle | None = None) -> tuple[LocalApiGateway, Recorder]:
    recorder = Recorder()
    gateway = LocalApiGateway(recorder, throttle=throttle)
    gateway.mount(MountedApi(base="/s/Api", api_id="Api", stage="$default", routes={ROUTE: "fn"}))
    return gateway, recorder


@pytest.fixture
def gateway() -> Iterator[tuple[LocalApiGateway, Recorder]]:
    gateway, recorder = _gateway()
    gateway.start()
    yield gateway, recorder
    gateway.stop()


def _raw_exchange(gateway: LocalApiGateway, request: bytes) -> bytes:
    """Send bytes as they are (no half-close) and read until the server closes or 5 s pass."""
    host, port = gateway.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(request)
        received = b""
        try:
            while chunk := connection.recv(65536):
                received += chunk
        except TimeoutError:
            pass  # a server that waits for more bytes: what came so far is the answer
    return received


def _request(content_length: str, separator: str = "\r\n") -> bytes:
    lines = [
        "POST /s/Api/run HTTP/1.1",
        "Host: localhost",
        "Connection: close",
        SIGNED_HEADER.rstrip("\r\n"),
        f"Content-Length: {content_length}",
    ]
    return (separator.join(lines) + "\r\n\r\n" + "{}").encode()


def _chunked_request(*body_lines: str, extra_header: str = "") -> bytes:
    lines = [
        "POST /s/Api/run HTTP/1.1",
        "Host: localhost",
        "Connection: close",
        SIGNED_HEADER.rstrip("\r\n"),
        "Transfer-Encoding: chunked",
        *([extra_header] if extra_header else []),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + "".join(body_lines)).encode()


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(_request("abc"), id="content-length-not-a-number"),
        pytest.param(_request("-1"), id="content-length-negative"),
        pytest.param(_request("+2"), id="content-length-with-sign"),
        pytest.param(
            _request("2").replace(b"Content-Length: 2", b"Content-Length: 2\r\nContent-Length: 3"),
            id="two-different-content-lengths",
        ),
        pytest.param(_request("2", separator="\n"), id="headers-ended-by-bare-lf"),
        pytest.param(
            _request("2").replace(b"Host: localhost\r\n", b"Host: local\nhost\r\n"),
            id="bare-lf-inside-a-header",
        ),
        pytest.param(_chunked_request("z\r\n{}\r\n0\r\n\r\n"), id="size-not-hex"),
        pytest.param(_chunked_request("2\r\n{}XX0\r\n\r\n"), id="no-crlf-after-a-chunk"),
        pytest.param(_chunked_request("2\n{}\r\n0\r\n\r\n"), id="size-line-ended-by-lf"),
        pytest.param(
            _chunked_request("2\r\n{}\r\n0\r\n\r\n", extra_header="Content-Length: 2"),
            id="chunked-and-content-length",
        ),
        pytest.param(
            _chunked_request("2\r\n{}\r\n0\r\n\r\n").replace(
                b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip, chunked"
            ),
            id="another-transfer-coding",
        ),
    ],
)
def test_a_malformed_request_gets_400_and_runs_nothing(
    gateway: tuple[LocalApiGateway, Recorder], request_bytes: bytes
) -> None:
    server, recorder = gateway
    answer = _raw_exchange(server, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert json.loads(body) == {"message": "Bad Request"}
    assert recorder.calls == []


def test_a_well_formed_raw_request_is_served(gateway: tuple[LocalApiGateway, Recorder]) -> None:
    server, recorder = gateway
    answer = _raw_exchange(server, _request("2"))
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert recorder.calls and json.loads(json.loads(recorder.calls[0])["body"]) == {}


def test_a_chunked_body_reaches_the_function_decoded(
    gateway: tuple[LocalApiGateway, Recorder],
) -> None:
    server, recorder = gateway
    answer = _raw_exchange(
        server,
        _chunked_request(
            '5\r\n{"a":\r\n',
            'a;name=value\r\n "chunked"\r\n',
            "1\r\n}\r\n",
            "0\r\n",
            "Trailer-Field: ignored\r\n",
            "\r\n",
        ),
    )
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert json.loads(json.loads(recorder.calls[0])["body"]) == {"a": "chunked"}


def test_a_chunk_over_the_payload_limit_gets_413_before_it_is_sent(
    gateway: tuple[LocalApiGateway, Recorder],
) -> None:
    server, recorder = gateway
    over_the_limit = f"{10 * 1024 * 1024 + 1:x}\r\n"  # the size line only: no data follows
    answer = _raw_exchange(server, _chunked_request(over_the_limit))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert json.loads(body) == {"message": "Request Too Long"}
    assert recorder.calls == []


def test_a_burst_of_connections_waits_in_the_listen_queue() -> None:
    """BURST connections made before the server accepts any: each one is queued, then served
    (a backlog of 5 left the rest unanswered)."""
    server, recorder = _gateway()
    host, port = server.url.removeprefix("http://").split(":")
    connections = [socket.create_connection((host, int(port)), timeout=2) for _ in range(BURST)]
    try:
        server.start()
        request = _request("2")
        for connection in connections:
            connection.settimeout(30)
            connection.sendall(request)
        answers = [connection.recv(12) for connection in connections]
    finally:
        for connection in connections:
            connection.close()
        server.stop()
    assert answers == [b"HTTP/1.1 200"] * BURST
    assert len(recorder.calls) == BURST


def test_requests_over_the_throttle_get_api_gateways_429() -> None:
    server, recorder = _gateway(Throttle(rate_per_s=0, burst=3))
    server.start()
    try:
        url = f"{server.url}/s/Api/run"
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(lambda _: http_post(url, {}), range(8)))
    finally:
        server.stop()
    assert sorted(status for status, _ in answers) == [200] * 3 + [429] * 5
    assert [body for status, body in answers if status == 429] == [
        {"message": "Too Many Requests"}
    ] * 5
    assert len(recorder.calls) == 3


def test_with_credentials_only_requests_signed_with_them_reach_the_function() -> None:
    stack_credentials = Credentials("AKIASTACK00000000001", "the-stacks-secret")
    recorder = Recorder()
    gateway = LocalApiGateway(recorder, credentials=stack_credentials)
    gateway.mount(
        MountedApi(
            base="/s/Api",
            api_id="Api",
            stage="$default",
            routes={ROUTE: "fn"},
            signed_routes=frozenset({ROUTE}),
        )
    )
    gateway.start()
    url = f"{gateway.url}/s/Api/run"
    try:
        unsigned = http_post(url, {"n": 1}, signed=False)
        dummy = http_post(url, {"n": 2})  # signed with "testing", as anyone can
        wrong_secret = http_post(
            url, {"n": 3}, credentials=Credentials(stack_credentials.access_key, "guessed")
        )
        right = http_post(url, {"n": 4}, credentials=stack_credentials)
    finally:
        gateway.stop()
    assert unsigned == (403, {"message": "Forbidden"})
    assert dummy == (403, {"message": "The security token included in the request is invalid."})
    assert wrong_secret[0] == 403 and "signature" in wrong_secret[1]["message"]
    assert right[0] == 200, right
    assert [json.loads(call)["body"] for call in recorder.calls] == ['{"n": 4}']
