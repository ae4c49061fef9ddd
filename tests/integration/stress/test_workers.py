"""`testbed publish` + `testbed worker` processes on a real Redis-protocol server (and moto)."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import redis

from serverless_testbed.embedded.redis_server import RedisServer
from serverless_testbed.stress.protocol import sign_control
from serverless_testbed.stress.work.backends.redis import RedisBackend
from serverless_testbed.stress.work.expand import Expander
from tests.integration.helpers import wait_until
from tests.integration.stress.worker_helpers import (
    SECRET,
    Workers,
    log_says,
    publish,
    specs,
    summed_totals,
)

DATA = {"request_": {"r": 4, "len": 32}, "blob": 64, "note": "this is text"}


def test_two_workers_execute_every_operation_exactly_and_store_the_expanded_items(
    server: RedisServer, client: redis.Redis, workers: Workers, tmp_path: Path
) -> None:
    for _ in range(2):
        workers.start("--db", "redis", "--db-redis", f"{server.url}/1")
    config = {"table_name": "items", "region": "us-east-1", "threads": 2}
    traffic = [
        {"action": "updateItem", "seed": 5, "qps": 2000, "times": 3000, "data": DATA},
        [
            {"action": "putItem", "seed": 6, "qps": 1000, "times": 500, "data": DATA, "samples": 3},
            {"action": "getItem", "seed": 5, "seeds": [1, 3], "qps": 1000, "times": 700},
        ],
    ]
    summary = publish(server, tmp_path, config, traffic)

    assert summary["complete"] is True
    totals = summed_totals(client)
    for row in summary["tasks"]:
        assert row["executed"] == row["scheduled"] > 0, row
        assert row["failed"] == 0
        assert totals[f"{row['task']}:executed"] == row["scheduled"]
    assert {row["scheduled"] for row in summary["tasks"]} == {3000, 500, 700}
    items = RedisBackend(redis.Redis.from_url(f"{server.url}/1"), "items")
    for spec in specs(client).values():
        if spec.action == "getItem":
            continue
        for operation in Expander(spec).operations(0, spec.total):
            stored = items.client.hgetall(items.item_key(operation.key))
            expected = {"pk": operation.key, **(operation.item or {})}
            assert stored == {
                k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in expected.items()
            }
    assert items.client.dbsize() == 3500
    assert workers.stop_all() == [0, 0]


def test_a_worker_killed_mid_run_loses_nothing(
    server: RedisServer, client: redis.Redis, workers: Workers, tmp_path: Path
) -> None:
    options = ("--db", "redis", "--db-redis", f"{server.url}/1", "--dead-after", "1")
    victim, _ = workers.start(*options, "--worker-id", "victim")
    _, survivor_log = workers.start(*options, "--worker-id", "survivor")
    config = {"table_name": "items", "region": "us-east-1", "threads": 2}
    traffic = [{"action": "updateItem", "seed": 9, "qps": 2000, "duration": 4, "data": {"a": 8}}]

    stranded: list[int] = []

    def in_flight_of_victim() -> int:
        return sum(client.llen(key) for key in client.keys("dst_inflight:victim:*"))

    def kill_while_it_holds_work() -> None:
        wait_until(in_flight_of_victim, timeout_s=60, what="the victim to hold a descriptor")
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        stranded.append(in_flight_of_victim())

    killer = threading.Thread(target=kill_while_it_holds_work)
    killer.start()
    summary = publish(server, tmp_path, config, traffic, "--drain-timeout", "60")
    killer.join()

    assert victim.wait(timeout=10) == -signal.SIGKILL
    (row,) = summary["tasks"]
    assert summary["complete"] is True
    assert row["scheduled"] == 8000
    assert row["executed"] + row["failed"] == row["scheduled"]
    assert row["unaccounted"] == 0
    assert summed_totals(client)[f"{row['task']}:executed"] == row["executed"]
    assert stranded[0] > 0  # the kill did leave work in flight...
    assert log_says(survivor_log, "reclaimed")  # ...which the survivor took back
    assert not any(client.llen(key) for key in client.keys("dst_inflight:*"))


def test_forged_and_replayed_control_messages_are_rejected_and_remote_exec_refused(
    server: RedisServer, client: redis.Redis, workers: Workers, tmp_path: Path
) -> None:
    client.set("dst_cfg", json.dumps({"table_name": "t", "region": "us-east-1", "threads": 1}))
    _, log = workers.start("--db", "redis", "--db-redis", f"{server.url}/1")
    wait_until(lambda: log_says(log, "threads on"), timeout_s=30, what="the worker to start")
    marker = tmp_path / "remote-exec-ran"

    client.publish("dst_notify", sign_control("update_config", {}, "not-the-secret"))
    genuine = sign_control("update_config", {}, SECRET)
    client.publish("dst_notify", genuine)
    client.publish("dst_notify", genuine)
    client.publish(
        "dst_notify", sign_control("execute_bash", {"script": f"touch {marker}"}, SECRET)
    )

    wait_until(lambda: log_says(log, "refused"), timeout_s=30, what="the refusal")
    text = log.read_text()
    assert "bad signature" in text
    assert "replayed" in text
    assert text.count("config updated") == 1
    assert not marker.exists()
    assert SECRET not in text


def test_a_signed_execute_bash_runs_when_remote_exec_is_allowed(
    server: RedisServer, client: redis.Redis, workers: Workers, tmp_path: Path
) -> None:
    client.set("dst_cfg", json.dumps({"table_name": "t", "region": "us-east-1", "threads": 1}))
    _, log = workers.start("--db", "redis", "--allow-remote-exec")
    wait_until(lambda: log_says(log, "threads on"), timeout_s=30, what="the worker to start")
    marker = tmp_path / "remote-exec-ran"
    client.publish(
        "dst_notify", sign_control("execute_bash", {"script": f"touch {marker}"}, SECRET)
    )
    wait_until(marker.exists, timeout_s=30, what="the script to run")
    wait_until(lambda: log_says(log, "exit code 0"), timeout_s=30, what="the exit code logged")


def test_update_config_changes_the_number_of_consumers(
    server: RedisServer, client: redis.Redis, workers: Workers
) -> None:
    client.set("dst_cfg", json.dumps({"table_name": "t", "region": "us-east-1", "threads": 1}))
    _, log = workers.start("--db", "redis", "--db-redis", f"{server.url}/1")
    wait_until(lambda: log_says(log, "threads on"), timeout_s=30, what="the worker to start")
    listener = client.pubsub()
    listener.subscribe("dst_stats")
    client.set("dst_cfg", json.dumps({"table_name": "t", "region": "us-east-1", "threads": 3}))
    client.publish("dst_notify", sign_control("update_config", {}, SECRET))

    def three_queues() -> bool:
        message = listener.get_message(timeout=1)
        if not message or message["type"] != "message":
            return False
        snapshot = json.loads(message["data"])
        return snapshot["threads"] == 3 and set(snapshot["queues"]) == {"q0", "q1", "q2"}

    wait_until(three_queues, timeout_s=30, what="a stats snapshot with three consumers")
    listener.close()


def test_a_captured_message_replayed_to_a_worker_started_since_is_refused(
    server: RedisServer, client: redis.Redis, workers: Workers
) -> None:
    client.set("dst_cfg", json.dumps({"table_name": "t", "region": "us-east-1", "threads": 1}))
    _, first_log = workers.start("--db", "redis")
    wait_until(lambda: log_says(first_log, "threads on"), timeout_s=30, what="worker 1 to start")
    captured = sign_control("update_config", {}, SECRET)
    client.publish("dst_notify", captured)
    wait_until(lambda: log_says(first_log, "config updated"), timeout_s=30, what="the update")

    _, second_log = workers.start("--db", "redis")  # well within the freshness window
    wait_until(lambda: log_says(second_log, "threads on"), timeout_s=30, what="worker 2 to start")
    client.publish("dst_notify", captured)

    wait_until(lambda: log_says(second_log, "replayed"), timeout_s=30, what="the refusal")
    assert not log_says(second_log, "config updated")
    fresh = sign_control("update_config", {}, SECRET)
    client.publish("dst_notify", fresh)  # a genuine message still reaches both workers
    wait_until(lambda: log_says(second_log, "config updated"), timeout_s=30, what="worker 2")
    wait_until(
        lambda: first_log.read_text().count("config updated") == 2, timeout_s=30, what="worker 1"
    )
