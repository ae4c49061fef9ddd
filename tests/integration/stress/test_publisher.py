"""`testbed publish` alone against a real Redis-protocol server started by the test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import redis

from serverless_testbed.embedded.redis_server import RedisServer
from serverless_testbed.stress.protocol import (
    Descriptor,
    totals_key,
    verify_control,
    workers_key,
)
from serverless_testbed.stress.traffic import Config, TaskSpec
from tests.integration.helpers import wait_until

SECRET = "integration-secret"
CONFIG = {"table_name": "stress-test", "region": "us-east-1", "threads": 3, "sample_data": [{}]}
TRAFFIC = [
    {"action": "putItem", "seed": 9, "qps": 2000, "duration": 2},
    [
        {"action": "query", "qps": 500, "times": 150},
        {"action": "getItem", "qps": 1000, "duration": 0.2},
    ],
]
TOTALS = {"0": 4000, "1.0": 150, "1.1": 200}


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    config, traffic = tmp_path / "config.json", tmp_path / "traffic.json"
    config.write_text(json.dumps(CONFIG))
    traffic.write_text(json.dumps(TRAFFIC))
    return config, traffic


def publish(
    server: RedisServer, files: tuple[Path, Path], *extra: str, address: str = ""
) -> subprocess.CompletedProcess[str]:
    config, traffic = files
    command = [sys.executable, "-m", "serverless_testbed.cli", "publish"]
    command += ["--redis", address or server.url]
    command += ["--prefix", "dst", "--config", str(config), "--traffic", str(traffic), *extra]
    env = {**os.environ, "TESTBED_CONTROL_SECRET": SECRET}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def queued(client: redis.Redis) -> list[Descriptor]:
    return [Descriptor.decode(raw) for n in range(3) for raw in client.lrange(f"dst_q{n}", 0, -1)]


def test_a_run_syncs_the_config_and_publishes_every_operation_exactly_once(
    server: RedisServer, client: redis.Redis, files: tuple[Path, Path]
) -> None:
    listener = client.pubsub()
    listener.subscribe("dst_notify")
    wait_until(lambda: listener.get_message(timeout=0.1), timeout_s=5, what="subscription")

    result = publish(server, files)

    assert result.returncode == 0, result.stderr
    assert "dst_cfg updated; update_config sent to 1 subscriber(s)" in result.stderr
    assert client.get("dst_cfg") == Config.model_validate(CONFIG).canonical().encode()
    message = wait_until(lambda: listener.get_message(timeout=0.1), timeout_s=5, what="notify")
    assert verify_control(message["data"], SECRET, set())[0] == "update_config"

    specs = {
        k.decode(): TaskSpec.model_validate_json(v) for k, v in client.hgetall("dst_tasks").items()
    }
    assert {spec.key: spec.total for spec in specs.values()} == TOTALS
    assert {spec.key: spec.seed_drawn for spec in specs.values()} == {
        "0": False,
        "1.0": True,
        "1.1": True,
    }
    descriptors = queued(client)
    for task_id, spec in specs.items():
        indices = sorted(
            i for d in descriptors if d.task == task_id for i in range(d.first, d.first + d.count)
        )
        assert indices == list(range(spec.total)), spec.key
        assert min(d.at_ms for d in descriptors if d.task == task_id) == spec.start_ms
    for n in range(3):
        times = [Descriptor.decode(raw).at_ms for raw in client.lrange(f"dst_q{n}", 0, -1)]
        assert times == sorted(times)
    assert len({d.at_ms for d in descriptors if d.task.endswith("-0")}) == 200  # 2 s of slots


def test_an_unchanged_config_is_not_announced_again(
    server: RedisServer, client: redis.Redis, files: tuple[Path, Path]
) -> None:
    assert publish(server, files).returncode == 0
    second = publish(server, files)
    assert second.returncode == 0, second.stderr
    assert "dst_cfg already matches the config file" in second.stderr


def test_a_bad_traffic_file_touches_nothing_in_redis(
    server: RedisServer, client: redis.Redis, files: tuple[Path, Path]
) -> None:
    traffic = files[1]
    traffic.write_text(json.dumps([*TRAFFIC, {"action": "query", "qps": 5}]))
    result = publish(server, files)
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        "traffic.json[2]: needs 'times' or 'duration' (or both: whichever comes first)"
    )
    assert client.dbsize() == 0


def test_the_summary_waits_for_the_workers_totals(
    server: RedisServer, client: redis.Redis, files: tuple[Path, Path], tmp_path: Path
) -> None:
    stop = threading.Event()
    consumer = threading.Thread(target=account_for_queues, args=(server.url, stop), daemon=True)
    consumer.start()
    summary_file = tmp_path / "summary.json"
    try:
        result = publish(server, files, "--summary-json", str(summary_file), "--stats")
    finally:
        stop.set()
        consumer.join()
    assert result.returncode == 0, result.stderr
    summary: dict[str, Any] = json.loads(summary_file.read_text())
    assert summary["complete"] is True
    rows = {row["key"]: row for row in summary["tasks"]}
    for key, total in TOTALS.items():
        row = rows[key]
        assert (row["scheduled"], row["published"]) == (total, total)
        assert (row["failed"], row["skipped_late"]) == ((total + 9) // 10, 0)
        assert row["executed"] + row["failed"] + row["skipped_late"] == total
    assert "[STATS] putItem | Pub:" in result.stdout
    assert "workers' totals complete" in result.stdout


def account_for_queues(url: str, stop: threading.Event) -> None:
    """A stand-in for the worker side: takes descriptors and counts them in its totals hash
    (every tenth operation as failed), as the protocol says a worker does."""
    connection = redis.Redis.from_url(url)
    connection.hset(workers_key("dst"), "test-consumer", 1)
    queues = [f"dst_q{n}" for n in range(3)]
    while not stop.is_set():
        popped = connection.blpop(queues, timeout=0.1)
        if popped is None:
            continue
        descriptor = Descriptor.decode(popped[1])
        failed = sum(
            1 for i in range(descriptor.first, descriptor.first + descriptor.count) if i % 10 == 0
        )
        key = totals_key("dst", "test-consumer")
        connection.hincrby(key, f"{descriptor.task}:executed", descriptor.count - failed)
        connection.hincrby(key, f"{descriptor.task}:failed", failed)
    connection.close()


def test_a_password_protected_server_is_reached_with_the_password_from_the_environment(
    files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    password = "integration-redis-password"
    with RedisServer(password=password) as protected:
        monkeypatch.setenv("STRESS_REDIS_PASSWORD", password)
        result = publish(protected, files, "--redis-password-env", "STRESS_REDIS_PASSWORD")
        assert result.returncode == 0, result.stderr
        assert password not in result.stdout + result.stderr
        authenticated = redis.Redis.from_url(protected.url, password=password)
        assert authenticated.hlen("dst_tasks") == len(TOTALS)
        authenticated.close()

        monkeypatch.delenv("STRESS_REDIS_PASSWORD")
        refused = publish(protected, files, "--redis-password-env", "STRESS_REDIS_PASSWORD")
        assert refused.returncode == 1
        assert "testbed publish: failed: Redis at redis://127.0.0.1:" in refused.stderr


def test_tls_is_used_with_the_tls_flag_and_a_ca_file(files: tuple[Path, Path]) -> None:
    with RedisServer(tls=True) as secured:
        tls_port = secured.tls_url.rsplit(":", 1)[1]
        address = f"127.0.0.1:{tls_port}"
        ca_file = str(secured.ca_file)
        result = publish(secured, files, "--tls", "--tls-ca-file", ca_file, address=address)
        assert result.returncode == 0, result.stderr
        assert f"to rediss://127.0.0.1:{tls_port}" in result.stderr
        plain = redis.Redis.from_url(secured.url)
        assert plain.hlen("dst_tasks") == len(TOTALS)
        plain.close()

        untrusted = publish(secured, files, "--tls", address=address)
        assert untrusted.returncode == 1
        assert "certificate verify failed" in untrusted.stderr
