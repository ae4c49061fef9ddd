"""`testbed invoke` and `testbed coldstart` against a `testbed up` running in another process:
the function is found by its logical id through the file `testbed up --json` writes, and its
containers stay warm from one command to the next, as the seed's runs one after another did."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.embedded.test_up_command import ready_up
from tests.integration.latency.cli import run_testbed

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def running_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    described = tmp_path_factory.mktemp("up") / "stack.json"
    ports = ("--aws-port", "0", "--api-port", "0", "--redis-port", "0")
    with ready_up(*ports, "--no-redis", "--json", str(described)):
        yield described


def test_up_json_names_the_probe_among_the_stacks_resources(running_up: Path) -> None:
    resources = json.loads(running_up.read_text())["resources"]

    assert resources["ProbeFunction"].startswith("testbed-ProbeFunction-")


def test_a_second_coldstart_run_finds_the_first_runs_containers_warm(
    running_up: Path, tmp_path: Path
) -> None:
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    arguments = ["coldstart", "--attach", str(running_up), "--workers", "2", "--iterations", "6"]

    ran_first = run_testbed(*arguments, "--sleep-ms", "200", "--json", str(first), cwd=ROOT)
    ran_second = run_testbed(*arguments, "--json", str(second), cwd=ROOT)

    assert ran_first.returncode == 0, ran_first.stderr
    assert ran_second.returncode == 0, ran_second.stderr
    warm = {c["id"] for c in json.loads(first.read_text())["containers"]}
    again = json.loads(second.read_text())
    assert again["summary"]["cold_starts"] == 0
    assert {c["id"] for c in again["containers"]} <= warm


def test_invoke_attached_reports_a_warm_start_after_coldstart(running_up: Path) -> None:
    run_testbed("invoke", "ProbeFunction", "--attach", str(running_up), cwd=ROOT)

    warm = run_testbed("invoke", "ProbeFunction", "--attach", str(running_up), cwd=ROOT)

    assert warm.returncode == 0, warm.stderr
    assert json.loads(warm.stdout)["invocations"] > 1
    report = next(line for line in warm.stderr.splitlines() if line.startswith("REPORT"))
    assert "Init Duration" not in report
