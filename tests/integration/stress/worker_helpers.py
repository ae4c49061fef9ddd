"""Starting `testbed worker` / `testbed publish` processes and reading what they left in Redis."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import redis

from serverless_testbed.embedded.redis_server import RedisServer
from serverless_testbed.stress.traffic import TaskSpec

SECRET = "integration-worker-secret"


class Workers:
    """Worker processes started by a test; all stopped (SIGTERM, then SIGKILL) at the end."""

    def __init__(self, server: RedisServer, tmp_path: Path) -> None:
        self.server = server
        self.tmp_path = tmp_path
        self.processes: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, *extra: str, env: dict[str, str] | None = None) -> tuple[Any, Path]:
        log = self.tmp_path / f"worker{len(self.processes)}.log"
        command = [sys.executable, "-m", "serverless_testbed.cli", "worker"]
        command += ["--redis", self.server.url, "--prefix", "dst", *extra]
        environment = {**os.environ, "TESTBED_CONTROL_SECRET": SECRET, **(env or {})}
        with log.open("wb") as sink:
            process = subprocess.Popen(command, env=environment, stderr=sink, stdout=sink)
        self.processes.append((process, log))
        return process, log

    def stop_all(self) -> list[int]:
        codes = []
        for process, _ in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process, _ in self.processes:
            try:
                codes.append(process.wait(timeout=30))
            except subprocess.TimeoutExpired:
                process.kill()
                codes.append(process.wait())
        return codes


def publish(
    server: RedisServer, tmp_path: Path, config: dict, traffic: list, *extra: str
) -> dict[str, Any]:
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "traffic.json").write_text(json.dumps(traffic))
    summary = tmp_path / "summary.json"
    command = [sys.executable, "-m", "serverless_testbed.cli", "publish", "--redis", server.url]
    command += ["--prefix", "dst", "--config", str(tmp_path / "config.json")]
    command += ["--traffic", str(tmp_path / "traffic.json"), "--summary-json", str(summary)]
    env = {**os.environ, "TESTBED_CONTROL_SECRET": SECRET}
    done = subprocess.run([*command, *extra], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return json.loads(summary.read_text())


def summed_totals(client: redis.Redis) -> dict[str, int]:
    totals: dict[str, int] = {}
    for worker in client.hkeys("dst_workers"):
        for name, value in client.hgetall(b"dst_totals:" + worker).items():
            totals[name.decode()] = totals.get(name.decode(), 0) + int(float(value))
    return totals


def specs(client: redis.Redis) -> dict[str, TaskSpec]:
    return {
        key.decode(): TaskSpec.model_validate_json(raw)
        for key, raw in client.hgetall("dst_tasks").items()
    }


def log_says(log: Path, text: str) -> bool:
    return text in log.read_text(errors="replace")
