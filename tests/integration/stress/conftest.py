"""Fixtures of the stress integration tests: a real Redis-protocol server, clean per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from serverless_testbed.embedded.redis_server import RedisServer
from tests.integration.stress.worker_helpers import Workers


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer() as running:
        yield running


@pytest.fixture
def client(server: RedisServer) -> Iterator[redis.Redis]:
    """A client of db 0 (queues, totals); db 1 (the Redis backend's items) is emptied too."""
    connection = redis.Redis.from_url(server.url)
    connection.flushall()
    items = redis.Redis.from_url(f"{server.url}/1")
    items.flushdb()
    items.close()
    yield connection
    connection.close()


@pytest.fixture
def workers(server: RedisServer, tmp_path: Path) -> Iterator[Workers]:
    started = Workers(server, tmp_path)
    yield started
    started.stop_all()
