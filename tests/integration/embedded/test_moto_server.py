"""moto's server as the embedded stack serves it: a burst of connections is queued and
answered, and a client's connection is kept alive between calls."""

from __future__ import annotations

import contextlib
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from serverless_testbed.embedded.moto.server import MotoServer

BURST = 256


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


def _sqs(server: MotoServer, pool: int = 10) -> object:
    return boto3.client(
        "sqs",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(max_pool_connections=pool, retries={"max_attempts": 1}),
    )


def test_a_burst_of_connections_is_answered(server: MotoServer) -> None:
    sqs = _sqs(server, pool=BURST)
    with ThreadPoolExecutor(max_workers=BURST) as pool:
        answers = list(pool.map(lambda _: sqs.list_queues(), range(BURST)))  # type: ignore[attr-defined]
    assert [a["ResponseMetadata"]["HTTPStatusCode"] for a in answers] == [200] * BURST


def _get_on(connection: socket.socket) -> bytes:
    """GET /moto-api/ on an open connection; the answer's head, its body read to the end."""
    connection.sendall(b"GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head = connection.recv(65536)
    assert head.startswith(b"HTTP/1.1 200"), head[:100]
    length = int(
        next(
            line.split(b":")[1]
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
    )
    body = head.partition(b"\r\n\r\n")[2]
    while len(body) < length:
        body += connection.recv(65536)
    return head.partition(b"\r\n\r\n")[0]


def test_a_client_keeps_its_connection_between_calls(server: MotoServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        for _ in range(3):  # werkzeug's dev server closed after the first answer
            assert b"connection: close" not in _get_on(connection).lower()


def test_many_clients_each_keep_their_connection(server: MotoServer) -> None:
    # A Lambda container per function and per request in flight each holds one; cheroot
    # on its own keeps 10 open between requests and closes the others after each answer.
    clients = 40
    connections = [
        socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(clients)
    ]
    try:
        for _ in range(2):
            heads = [_get_on(connection).lower() for connection in connections]
            assert [b"connection: close" in head for head in heads] == [False] * clients
    finally:
        for connection in connections:
            connection.close()


def test_a_taken_port_is_an_os_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            MotoServer(port=taken.getsockname()[1]).start()


STACK_CREDENTIALS = Credentials("AKIASTACK00000000001", "the-stacks-secret")


@pytest.fixture(scope="module")
def signed_server() -> Iterator[MotoServer]:
    server = MotoServer(credentials=STACK_CREDENTIALS).start()
    yield server
    server.stop()


def _client(server: MotoServer, service: str, key: str, secret: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


@pytest.mark.parametrize("service", ["sqs", "lambda", "iam", "stepfunctions", "dynamodb"])
def test_with_credentials_a_request_signed_with_them_passes(
    signed_server: MotoServer, service: str
) -> None:
    client = _client(signed_server, service, STACK_CREDENTIALS.access_key, "the-stacks-secret")
    calls = {
        "sqs": "list_queues",
        "lambda": "list_functions",
        "iam": "list_roles",
        "stepfunctions": "list_state_machines",
        "dynamodb": "list_tables",
    }
    answer = getattr(client, calls[service])()
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200


@pytest.mark.parametrize(
    ("service", "key", "secret", "code"),
    [
        ("lambda", "testing", "testing", "UnrecognizedClientException"),
        ("sqs", "testing", "testing", "UnrecognizedClientException"),
        ("iam", "testing", "testing", "UnrecognizedClientException"),
        ("lambda", STACK_CREDENTIALS.access_key, "guessed", "InvalidSignatureException"),
        ("dynamodb", STACK_CREDENTIALS.access_key, "guessed", "InvalidSignatureException"),
    ],
)
def test_with_credentials_other_signatures_are_refused_403(
    signed_server: MotoServer, service: str, key: str, secret: str, code: str
) -> None:
    client = _client(signed_server, service, key, secret)
    call = {"lambda": "list_functions", "sqs": "list_queues", "iam": "list_roles"}
    with pytest.raises(ClientError) as refused:
        getattr(client, call.get(service, "list_tables"))()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert refused.value.response["Error"]["Code"] == code


@pytest.mark.parametrize("path", ["/moto-api/", "/moto-api/reset", "/2015-03-31/functions/"])
def test_with_credentials_unsigned_requests_are_refused_even_moto_api(
    signed_server: MotoServer, path: str
) -> None:
    method = "POST" if path.endswith("reset") else "GET"
    request = urllib.request.Request(f"{signed_server.url}{path}", method=method)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    assert refused.value.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


def test_a_request_that_never_returns_does_not_keep_the_server_from_stopping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from moto.sqs.models import SQSBackend

    from serverless_testbed.embedded.moto import server as server_module

    monkeypatch.setattr(server_module, "STOP_WAIT_S", 1.0)
    entered, release = threading.Event(), threading.Event()
    list_queues = SQSBackend.list_queues

    def stuck(self: Any, *args: Any, **kwargs: Any) -> Any:  # as a handler a deadlock holds
        entered.set()
        release.wait(120)
        return list_queues(self, *args, **kwargs)

    monkeypatch.setattr(SQSBackend, "list_queues", stuck)
    stopped = MotoServer().start()

    def call() -> None:
        with contextlib.suppress(Exception):  # its connection is closed under it
            _sqs(stopped).list_queues()  # type: ignore[attr-defined]

    caller = threading.Thread(target=call, daemon=True)
    try:
        caller.start()
        assert entered.wait(30), "the request never reached the handler"
        stopping = threading.Thread(target=stopped.stop, daemon=True)
        stopping.start()
        stopping.join(60)

        assert not stopping.is_alive()  # stop() returned with the request still running
        assert not release.is_set()
        workers = [t for t in threading.enumerate() if t.name.startswith("moto-server")]
        assert workers and all(t.daemon for t in workers)  # nor do they hold the process
    finally:
        release.set()
