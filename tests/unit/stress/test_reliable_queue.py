"""The reliable queue's Redis scripts (a real Redis-protocol server: fakeredis here has no Lua)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from serverless_testbed.embedded.redis_server import RedisServer
from serverless_testbed.stress.work.reliable_queue import ReliableQueue, consumer_inflight_key


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer() as running:
        yield running


@pytest.fixture
def client(server: RedisServer) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(server.url)
    connection.flushall()
    yield connection
    connection.close()


def test_take_keeps_the_descriptor_in_flight_until_its_ack(client: redis.Redis) -> None:
    queue = ReliableQueue(client, "dst", "w1")
    client.rpush("dst_q0", b"d1")
    assert queue.take(0, 0.1) == b"d1"
    assert client.lrange(consumer_inflight_key("dst", "w1", 0), 0, -1) == [b"d1"]
    assert queue.ack(0, b"d1", {"t:executed": 5, "t:failed": 0, "t:consumed_capacity": 2.5})
    assert client.llen(consumer_inflight_key("dst", "w1", 0)) == 0
    assert client.hgetall("dst_totals:w1") == {
        b"t:executed": b"5",
        b"t:failed": b"0",
        b"t:consumed_capacity": b"2.5",
    }


def test_an_ack_after_a_reclaim_adds_nothing(client: redis.Redis) -> None:
    dead, alive = ReliableQueue(client, "dst", "dead"), ReliableQueue(client, "dst", "alive")
    client.hset("dst_workers", "dead", 0)  # last heartbeat at the epoch: long dead
    client.rpush("dst_q1", b"d1", b"d2")
    assert dead.take(1, 0.1) == b"d1"
    now = alive.heartbeat()
    assert alive.reclaim_dead(5000, threads=2, now_ms=now) == 1
    assert client.lrange("dst_q1", 0, -1) == [b"d1", b"d2"]  # back at the front, in order
    assert not dead.ack(1, b"d1", {"t:executed": 1})
    assert client.hgetall("dst_totals:dead") == {}


def test_a_live_worker_is_not_reclaimed(client: redis.Redis) -> None:
    busy, other = ReliableQueue(client, "dst", "busy"), ReliableQueue(client, "dst", "other")
    busy.heartbeat()
    client.rpush("dst_q0", b"d1")
    busy.take(0, 0.1)
    assert other.reclaim_dead(5000, threads=1, now_ms=other.heartbeat()) == 0
    assert client.llen(consumer_inflight_key("dst", "busy", 0)) == 1


def test_reclaimed_work_of_a_queue_beyond_the_thread_count_goes_to_a_live_queue(
    client: redis.Redis,
) -> None:
    client.hset("dst_workers", "gone", 0)
    client.rpush(consumer_inflight_key("dst", "gone", 5), b"d9")
    queue = ReliableQueue(client, "dst", "me")
    assert queue.reclaim_dead(5000, threads=2, now_ms=queue.heartbeat()) == 1
    assert client.lrange("dst_q1", 0, -1) == [b"d9"]


def test_release_returns_own_in_flight_work(client: redis.Redis) -> None:
    queue = ReliableQueue(client, "dst", "w")
    client.rpush("dst_q0", b"a", b"b")
    queue.take(0, 0.1)
    queue.take(0, 0.1)
    assert queue.release(0, threads=1) == 2
    assert client.lrange("dst_q0", 0, -1) == [b"a", b"b"]
