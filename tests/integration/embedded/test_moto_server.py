"""moto's server as the embedded stack serves it: a burst of connections is queued and
answered, and a client's connection is kept alive between calls."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config

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


def test_a_client_keeps_its_connection_between_calls(server: MotoServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        request = b"GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        for _ in range(3):  # werkzeug's dev server closed after the first answer
            connection.sendall(request)
            head = connection.recv(65536)
            assert head.startswith(b"HTTP/1.1 200"), head[:100]
            assert b"connection: close" not in head.lower()
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


def test_a_taken_port_is_an_os_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            MotoServer(port=taken.getsockname()[1]).start()
