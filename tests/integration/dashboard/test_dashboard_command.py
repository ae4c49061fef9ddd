"""`testbed dashboard` as a user runs it: one look printed, the page served until Ctrl-C,
and bad input refused in one line with exit code 2 before anything starts."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.embedded.test_up_command import ready_up
from tests.integration.latency.cli import clean_environment, run_testbed

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def running_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    described = tmp_path_factory.mktemp("up") / "stack.json"
    with ready_up("--aws-port", "0", "--api-port", "0", "--no-redis", "--json", str(described)):
        yield described


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_once_prints_the_markdown_and_writes_the_json(running_up: Path, tmp_path: Path) -> None:
    data = tmp_path / "look.json"
    ran = run_testbed(
        "dashboard", "--attach", str(running_up), "--once", "--interval", "0.5",
        "--json", str(data), cwd=ROOT,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("## Dashboard: stack testbed (embedded, us-east-1), over 0.")
    assert "| pipeline | 0 | 0.0 | - |" in ran.stdout
    assert "| dead_letters | 0 | 0 | 0 |" in ran.stdout
    look = json.loads(data.read_text())
    assert set(look["state_machines"]) == {"pipeline", "delay"}
    assert set(look["queues"]) == {"requests", "dead_letters"}
    assert look["stress"] is None and look["errors"] == {}
    assert "credentials" not in data.read_text().lower()


def test_the_page_is_served_until_ctrl_c(running_up: Path) -> None:
    command = [sys.executable, "-m", "serverless_testbed.cli", "dashboard"]
    command += ["--attach", str(running_up), "--port", "0"]
    process = subprocess.Popen(
        command, cwd=ROOT, env=clean_environment(), stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("dashboard: http://127.0.0.1:"), first
        url = first.split()[1]
        with urllib.request.urlopen(f"{url}api/snapshot", timeout=10) as answer:
            assert json.load(answer)["about"]["stack"] == "testbed"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--interval", "0"], "argument --interval: must be at least 0.2 s: '0'"),
        (["--port", "70000"], "argument --port: port out of range 0-65535: 70000"),
        (["--json", "look.json"], "--json goes with --once"),
        (["--once", "--json", "no/such/dir/look.json"], "its directory does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    arguments: list[str], says: str, tmp_path: Path
) -> None:
    ran = run_testbed("dashboard", *arguments, cwd=tmp_path)
    assert ran.returncode == 2
    assert says in one_line(ran.stderr.splitlines()[-1])


def test_a_taken_port_is_refused_before_any_stack_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ran = run_testbed("dashboard", "--port", str(port), cwd=tmp_path, timeout_s=60)
    assert ran.returncode == 2
    assert one_line(ran.stderr) == (
        f"testbed dashboard: error: the dashboard port {port} is already in use "
        "(choose another --port, or 0 for a free one)"
    )
