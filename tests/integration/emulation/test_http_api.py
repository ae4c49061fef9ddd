"""The local HTTP API over a real socket: routes, IAM auth, payload format 2.0, errors.

A LocalApiGateway on an ephemeral port in front of a recording invoke callable (the one
invoke contract, ``emulation.invoke``), so every assertion is about what a client sees on
the wire and what event a function receives.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.credentials import Credentials

from serverless_testbed.emulation.http_api import LocalApiGateway, MountedApi
from serverless_testbed.emulation.invoke import Invoked, InvokeOutcome
from serverless_testbed.signed_http import signed_post

CREDENTIALS = Credentials("AKIDEXAMPLE", "secret")
BASE = "/stack/HttpApi"
PIPELINE_API = MountedApi(
    base=BASE,
    api_id="HttpApi",
    stage="dev",
    routes={("POST", "/run"): "run-fn", ("GET", "/items"): "items-fn", ("ANY", "/any"): "any-fn"},
    signed_routes=frozenset({("POST", "/run")}),
)


@dataclass
class Functions:
    """The invoke callable: answers by function name and records every event it gets."""

    answers: dict[str, Callable[[dict[str, Any]], Invoked]] = field(default_factory=dict)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, function: str, payload: bytes) -> InvokeOutcome:
        event = json.loads(payload)
        with self.lock:
            self.events.append((function, event))
        return self.answers[function](event)

    def names(self) -> list[str]:
        with self.lock:
            return [name for name, _ in self.events]


def returns(value: Any) -> Callable[[dict[str, Any]], Invoked]:
    return lambda event: Invoked(json.dumps(value).encode())


@pytest.fixture(scope="module")
def shared_functions() -> Functions:
    return Functions()


@pytest.fixture
def functions(shared_functions: Functions) -> Functions:
    """The module's gateway's functions, with no answers and no recorded events."""
    with shared_functions.lock:
        shared_functions.answers.clear()
        shared_functions.events.clear()
    return shared_functions


@pytest.fixture(scope="module")
def gateway(shared_functions: Functions) -> Iterator[LocalApiGateway]:
    """One gateway for the module (stopping one waits out serve_forever's 0.5 s poll)."""
    gateway = LocalApiGateway(shared_functions, port=0)
    gateway.mount(PIPELINE_API)
    gateway.start()
    yield gateway
    gateway.stop()


def request(
    gateway: LocalApiGateway,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(gateway.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def signed(gateway: LocalApiGateway, path: str, body: bytes) -> tuple[int, bytes]:
    url = f"{gateway.url}{path}"
    return signed_post(url, body, credentials=CREDENTIALS, region="us-east-1", timeout_s=10)


def test_a_route_invokes_its_function_and_returns_its_json(
    gateway: LocalApiGateway, functions: Functions
) -> None:
    functions.answers["items-fn"] = returns({"items": [1, 2]})

    status, headers, body = request(gateway, "GET", f"{BASE}/dev/items")

    assert (status, json.loads(body)) == (200, {"items": [1, 2]})
    assert headers["content-type"] == "application/json"
    assert functions.names() == ["items-fn"]


def test_an_any_route_takes_every_method(gateway: LocalApiGateway, functions: Functions) -> None:
    functions.answers["any-fn"] = lambda event: Invoked(
        json.dumps(event["requestContext"]["http"]["method"]).encode()
    )
    answers = [request(gateway, method, f"{BASE}/dev/any")[2] for method in ("GET", "DELETE")]
    assert answers == [b'"GET"', b'"DELETE"']


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{BASE}/dev/nowhere"),  # no such route
        ("POST", f"{BASE}/dev/items"),  # the route exists for GET only
        ("GET", f"{BASE}/prod/items"),  # another stage
        ("GET", "/other-stack/HttpApi/dev/items"),  # a stack that is not mounted
        ("GET", f"{BASE}/dev"),  # the stage itself
    ],
)
def test_an_unknown_route_is_404_and_invokes_nothing(
    gateway: LocalApiGateway, functions: Functions, method: str, path: str
) -> None:
    status, _, body = request(gateway, method, path)
    assert (status, json.loads(body)) == (404, {"message": "Not Found"})
    assert functions.names() == []


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer token", "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=abc"],
)
def test_an_iam_route_answers_an_unsigned_request_403_and_invokes_nothing(
    gateway: LocalApiGateway, functions: Functions, authorization: str | None
) -> None:
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    status, _, body = request(gateway, "POST", f"{BASE}/dev/run", b"{}", headers)
    assert (status, json.loads(body)) == (403, {"message": "Forbidden"})
    assert functions.names() == []


def test_a_signed_request_gets_a_payload_format_2_event(
    gateway: LocalApiGateway, functions: Functions
) -> None:
    functions.answers["run-fn"] = returns({"ok": True})

    status, body = signed(gateway, f"{BASE}/dev/run?b=2&a=1", b'{"n": 1}')

    assert (status, json.loads(body)) == (200, {"ok": True})
    ((function, event),) = functions.events
    assert function == "run-fn"
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /run"
    assert event["rawPath"] == "/dev/run"  # a named stage stays in rawPath
    assert event["rawQueryString"] == "b=2&a=1"
    assert event["queryStringParameters"] == {"a": "1", "b": "2"}
    assert event["headers"]["content-type"] == "application/json"
    assert event["headers"]["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert (event["body"], event["isBase64Encoded"]) == ('{"n": 1}', False)
    context = event["requestContext"]
    assert (context["apiId"], context["stage"], context["routeKey"]) == (
        "HttpApi",
        "dev",
        "POST /run",
    )
    assert context["http"]["method"] == "POST"
    assert context["http"]["path"] == f"{BASE}/dev/run"
    assert context["http"]["sourceIp"] == "127.0.0.1"
    assert context["authorizer"]["iam"]["accessKey"] == "AKIDEXAMPLE"
    assert isinstance(context["timeEpoch"], int) and context["requestId"]


def test_an_unsigned_route_has_no_authorizer_and_no_body_when_none_was_sent(
    gateway: LocalApiGateway, functions: Functions
) -> None:
    functions.answers["items-fn"] = returns(None)
    request(gateway, "GET", f"{BASE}/dev/items")
    ((_, event),) = functions.events
    assert "authorizer" not in event["requestContext"]
    assert "body" not in event and "queryStringParameters" not in event


def test_a_binary_body_arrives_base64_encoded(
    gateway: LocalApiGateway, functions: Functions
) -> None:
    functions.answers["any-fn"] = returns("stored")
    raw = bytes(range(256))
    request(gateway, "PUT", f"{BASE}/dev/any", raw, {"Content-Type": "application/octet-stream"})
    ((_, event),) = functions.events
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw


def test_a_full_response_sets_status_headers_and_a_base64_body(
    gateway: LocalApiGateway, functions: Functions
) -> None:
    raw = b"\x00\xffpng"
    functions.answers["items-fn"] = returns(
        {
            "statusCode": 201,
            "headers": {"content-type": "image/png", "x-extra": "1"},
            "body": base64.b64encode(raw).decode(),
            "isBase64Encoded": True,
        }
    )
    status, headers, body = request(gateway, "GET", f"{BASE}/dev/items")
    assert (status, body) == (201, raw)
    assert (headers["content-type"], headers["x-extra"]) == ("image/png", "1")
    assert headers["content-length"] == str(len(raw))


def test_a_function_error_is_an_internal_server_error_without_its_details(
    gateway: LocalApiGateway, functions: Functions
) -> None:
    error = {"errorMessage": "boom: secret detail", "errorType": "ValueError"}
    functions.answers["items-fn"] = lambda event: Invoked(json.dumps(error).encode(), "Unhandled")
    status, _, body = request(gateway, "GET", f"{BASE}/dev/items")
    assert status == 500
    assert json.loads(body) == {"message": "Internal Server Error"}


def test_a_response_that_is_not_json_is_a_bad_gateway(
    gateway: LocalApiGateway, functions: Functions
) -> None:
    functions.answers["items-fn"] = lambda event: Invoked(b"not json")
    status, _, body = request(gateway, "GET", f"{BASE}/dev/items")
    assert status == 502
    assert json.loads(body) == {"message": "Internal Server Error"}


def test_a_body_over_api_gateways_limit_is_refused_unread(
    gateway: LocalApiGateway, functions: Functions
) -> None:
    parts = urlsplit(gateway.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.putrequest("PUT", f"{BASE}/dev/any")
        connection.putheader("Content-Length", str(10 * 1024 * 1024 + 1))
        connection.endheaders()  # the body is never sent: the answer must not wait for it
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())) == (
            413,
            {"message": "Request Too Long"},
        )
    finally:
        connection.close()
    assert functions.names() == []


def test_a_default_stage_has_no_path_segment(functions: Functions) -> None:
    functions.answers["fn"] = returns("hello")
    gateway = LocalApiGateway(functions, port=0)
    api = MountedApi(base=BASE, api_id="HttpApi", stage="$default", routes={("GET", "/"): "fn"})
    gateway.mount(api)
    gateway.start()
    try:
        status, _, body = request(gateway, "GET", f"{BASE}/")
        assert (status, body) == (200, b'"hello"')
        ((_, event),) = functions.events
        assert (event["rawPath"], event["requestContext"]["stage"]) == ("/", "$default")
        assert request(gateway, "GET", f"{BASE}/dev/")[0] == 404
    finally:
        gateway.stop()


def test_mounting_a_stack_again_replaces_its_routes(functions: Functions) -> None:
    functions.answers["new-fn"] = returns("new")
    gateway = LocalApiGateway(functions, port=0)
    gateway.mount(PIPELINE_API)
    gateway.mount(
        MountedApi(base=BASE, api_id="HttpApi", stage="dev", routes={("GET", "/new"): "new-fn"})
    )
    gateway.start()
    try:
        assert request(gateway, "GET", f"{BASE}/dev/new")[:1] == (200,)
        assert request(gateway, "GET", f"{BASE}/dev/items")[0] == 404
    finally:
        gateway.stop()
