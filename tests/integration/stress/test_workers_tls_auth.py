"""`testbed worker` over TLS (rediss://) to a server that requires AUTH, as ElastiCache does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import redis

from serverless_testbed.embedded.redis_server import RedisServer
from serverless_testbed.stress.protocol import Descriptor, queue_key, tasks_key
from serverless_testbed.stress.traffic import TaskSpec
from tests.integration.helpers import wait_until

PASSWORD = "s3cret-redis-pass"


def test_a_worker_authenticates_over_tls_without_printing_the_password(tmp_path: Path) -> None:
    with RedisServer(password=PASSWORD, tls=True) as server:
        client = redis.Redis.from_url(
            server.tls_url, password=PASSWORD, ssl_ca_certs=str(server.ca_file)
        )
        config = {"table_name": "t", "region": "us-east-1", "threads": 1, "sample_data": []}
        client.set("dst_cfg", json.dumps(config))
        spec = TaskSpec(
            action="putItem",
            seed=3,
            qps=100,
            times=20,
            data={"a": "b"},
            id="tls-0",
            run="tls",
            key="0",
            seed_drawn=False,
            table_name="t",
            total=20,
            start_ms=0,
            slot_ms=10,
        )
        client.hset(tasks_key("dst"), spec.id, spec.encode())
        client.rpush(queue_key("dst", 0), Descriptor(spec.id, 0, 20, at_ms=0).encode())
        log = tmp_path / "worker.log"
        command = [sys.executable, "-m", "serverless_testbed.cli", "worker", "--redis"]
        command += [server.tls_url, "--tls-ca-file", str(server.ca_file), "--db", "redis"]
        with log.open("wb") as sink:
            worker = subprocess.Popen(
                command, env={**os.environ, "REDIS_PASSWORD": PASSWORD}, stderr=sink, stdout=sink
            )
        try:
            wait_until(
                lambda: any(
                    client.hget(key, "tls-0:executed") == b"20"
                    for key in client.keys("dst_totals:*")
                ),
                timeout_s=60,
                what="the 20 operations executed",
            )
        finally:
            worker.terminate()
            assert worker.wait(timeout=30) == 0
        assert len(client.keys("t:*")) == 20
        text = log.read_text()
        assert "rediss://:***@127.0.0.1" in text  # redacted
        assert PASSWORD not in text
        client.close()
