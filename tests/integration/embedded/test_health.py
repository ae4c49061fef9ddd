"""The embedded stack notices its own parts dying: `testbed up` as a child process, its parts
killed with SIGKILL from outside, as a crash or the OOM killer would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.embedded.test_up_command import READY_TIMEOUT_S, UpProcess, _start_up
from tests.integration.helpers import http_post, wait_until
from tests.integration.latency.cli import clean_environment

ROOT = Path(__file__).resolve().parents[3]
FREE_PORTS = ("--aws-port", "0", "--api-port", "0", "--redis-port", "0")


def children(pid: int) -> dict[int, str]:
    """Child process id -> its command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid:
            found[int(entry.name)] = cmdline
    return found


def child_running(up: UpProcess, word: str) -> int:
    matches = [pid for pid, cmd in children(up.process.pid).items() if word in cmd]
    assert len(matches) == 1, children(up.process.pid)
    return matches[0]


class Stderr:
    """testbed up's stderr, read as it comes."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._pump, args=(process,), daemon=True).start()

    def _pump(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        for line in process.stderr:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def saying(self, text: str) -> list[str]:
        with self._lock:
            return [line for line in self.lines if text in line]


def run_testbed_health(description: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "serverless_testbed.cli", "health", "--attach", str(description)],
        cwd=ROOT,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def up(tmp_path: Path) -> Iterator[tuple[UpProcess, Stderr, Path]]:
    description = tmp_path / "stack.json"
    process = _start_up(*FREE_PORTS, "--json", str(description))
    stderr = Stderr(process.process)
    try:
        process.read_until("ready", READY_TIMEOUT_S)
        yield process, stderr, description
    finally:
        if process.process.poll() is None:  # SIGTERM: the stack stops its Redis and runtime too
            process.process.terminate()
            try:
                process.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.process.kill()
                process.process.wait()


def test_a_killed_redis_stops_the_stack_with_a_line_naming_it(
    up: tuple[UpProcess, Stderr, Path],
) -> None:
    process, stderr, description = up
    healthy = run_testbed_health(description)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "| redis endpoint | running |" in healthy.stdout

    os.kill(child_running(process, "-server"), signal.SIGKILL)

    code = process.process.wait(timeout=60)
    assert code == 1
    failed = wait_until(
        lambda: stderr.saying("testbed up: failed: the redis died"), timeout_s=10, what="failed"
    )
    assert "killed by signal 9" in failed[0]
    assert stderr.saying("embedded stack: the redis died")  # logged when it happened
    gone = run_testbed_health(description)
    assert gone.returncode == 1
    assert "| process | dead |" in gone.stdout


def test_a_killed_lambda_zygote_is_restarted_and_the_pipeline_keeps_working(
    up: tuple[UpProcess, Stderr, Path],
) -> None:
    process, stderr, description = up
    described = json.loads(description.read_text())
    api = described["endpoints"]["api"]
    zygote = child_running(process, "lambda_runtime.zygote")

    os.kill(zygote, signal.SIGKILL)

    wait_until(
        lambda: stderr.saying("the lambda zygote died"), timeout_s=30, what="the zygote's death"
    )
    assert child_running(process, "lambda_runtime.zygote") != zygote
    status, output = http_post(
        f"{api}/run", {"payload": {"after": "zygote"}}, credentials=described["credentials"]
    )
    assert status == 200, output
    assert output["status"] == "SUCCEEDED"
    assert process.process.poll() is None
    assert run_testbed_health(description).returncode == 0
