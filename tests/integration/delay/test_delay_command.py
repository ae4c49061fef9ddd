"""`testbed delay` as a user runs it: against a `testbed up --wait-scale 0.001` in another
process (attached through the file `testbed up --json` writes), and on bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.integration.embedded.test_up_command import READY_TIMEOUT_S, UpProcess, _start_up
from tests.integration.latency.cli import run_testbed

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def scaled_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[UpProcess, Path]]:
    described = tmp_path_factory.mktemp("up") / "stack.json"
    up = _start_up(
        "--aws-port", "0", "--api-port", "0", "--redis-port", "0", "--no-redis",
        "--wait-scale", "0.001", "--json", str(described),
    )  # fmt: skip
    try:
        up.read_until("ready", READY_TIMEOUT_S)
        yield up, described
    finally:
        if up.process.poll() is None:
            up.process.kill()
            up.process.wait()


def _sfn(described: Path) -> tuple[Any, str]:
    stack = json.loads(described.read_text())
    client = boto3.client(
        "stepfunctions",
        endpoint_url=stack["endpoints"]["aws"],
        region_name=stack["region"],
        aws_access_key_id=stack["credentials"]["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=stack["credentials"]["AWS_SECRET_ACCESS_KEY"],
    )
    return client, stack["outputs"]["DelayStateMachineArn"]


def _executions(described: Path) -> list[str]:
    sfn, machine = _sfn(described)
    return [e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]]


def _delay(*args: str) -> Any:
    return run_testbed("delay", *args, cwd=ROOT, timeout_s=120)


def test_up_prints_the_wait_scale(scaled_up: tuple[UpProcess, Path]) -> None:
    up, described = scaled_up
    assert "wait scale: 0.001 (a one-hour Wait state takes 3.6 s)" in up.seen
    assert json.loads(described.read_text())["wait_scale"] == 0.001


def test_start_list_and_cancel_across_invocations(
    scaled_up: tuple[UpProcess, Path], tmp_path: Path
) -> None:
    _, described = scaled_up
    started_json = tmp_path / "started.json"

    started = _delay(
        "--attach", str(described), "--after", "36000", "--payload", '{"order": 7}',
        "--json", str(started_json),
    )  # fmt: skip

    assert started.returncode == 0, started.stderr
    result = json.loads(started_json.read_text())
    (task,) = result["delays"]
    arn = task["execution_arn"]
    assert arn in started.stdout and task["fires_at"] in started.stdout
    assert task["status"] == "RUNNING" and task["payload"] == {"order": 7}
    assert task["fires_at_scaled"] is not None and result["wait_scale"] == 0.001

    listed = _delay("--attach", str(described), "--list")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if arn in line)
    assert "RUNNING" in row and task["fires_at"] in row and task["fires_at_scaled"] in row

    cancelled = _delay("--attach", str(described), "--cancel", arn)
    assert cancelled.returncode == 0, cancelled.stderr
    assert "ABORTED" in next(line for line in cancelled.stdout.splitlines() if arn in line)
    sfn, _ = _sfn(described)
    assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"
    after = _delay("--attach", str(described), "--list")
    assert arn not in after.stdout

    again = _delay("--attach", str(described), "--cancel", arn)
    assert again.returncode == 2
    assert "ABORTED, not pending" in again.stderr


def test_wait_shows_when_it_fired(scaled_up: tuple[UpProcess, Path]) -> None:
    _, described = scaled_up

    done = _delay("--attach", str(described), "--after", "3600", "--wait")

    assert done.returncode == 0, done.stderr
    assert "SUCCEEDED" in done.stdout and "fired at " in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--after", "-5"), "--after '-5' is out of range"),
        (("--after", "soon"), "--after 'soon' is not a number"),
        (("--after", "nan"), "--after 'nan' is out of range"),
        (("--after", "inf"), "--after 'inf' is out of range"),
        (("--after", "1.5"), "give whole seconds"),
        (("--after", "40000000"), "one year"),
        (("--at", "2020-01-01T00:00:00Z"), "is in the past"),
        (("--at", "tomorrow"), "is not an ISO 8601 time"),
        (("--at", "2099-01-01T00:00:00"), "has no time zone"),
        (("--after", "60", "--payload", "{oops"), "--payload is not valid JSON"),
        (("--after", "60", "--wait-scale", "0"), "--wait-scale '0' is not allowed"),
        (("--after", "60", "--wait-scale", "-1"), "--wait-scale '-1' is not allowed"),
        (("--after", "60", "--wait-scale", "nan"), "--wait-scale 'nan' is not allowed"),
        (("--after", "60", "--wait-scale", "x"), "--wait-scale 'x' is not a number"),
        (("--after", "60", "--wait-scale", "0.5"), "drop --wait-scale when attaching"),
        (("--list", "--payload", "{}"), "--payload applies only with --after or --at"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_starts_nothing(
    scaled_up: tuple[UpProcess, Path], args: tuple[str, ...], message: str
) -> None:
    _, described = scaled_up
    before = _executions(described)

    done = _delay("--attach", str(described), *args)

    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.startswith("testbed delay: error: ")
    assert message in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert done.stdout == ""
    assert _executions(described) == before, "nothing started"


def test_a_wait_scale_where_waits_cannot_scale_is_refused_before_anything_starts() -> None:
    done = _delay("--target", "containers", "--after", "60", "--wait-scale", "0.01")

    assert done.returncode == 2
    assert "localstack issue 13099" in done.stderr


@pytest.mark.parametrize("scale", ["0", "-0.5", "inf", "nan", "fast"])
def test_up_refuses_a_bad_wait_scale(scale: str) -> None:
    done = run_testbed("up", "--wait-scale", scale, cwd=ROOT, timeout_s=60)

    assert done.returncode == 2
    assert done.stderr.startswith(f"testbed up: error: --wait-scale {scale!r}")
    assert done.stderr.count("\n") == 1 and "ready" not in done.stdout


def test_attaching_to_a_stack_that_is_gone_is_a_one_line_error(tmp_path: Path) -> None:
    gone = tmp_path / "stack.json"
    gone.write_text(
        json.dumps(
            {"target": "embedded", "stack": "testbed", "region": "us-east-1",
             "endpoints": {"aws": "http://127.0.0.1:9"}, "outputs": {}}
        )
    )  # fmt: skip

    done = _delay("--attach", str(gone), "--list")

    assert done.returncode == 2
    assert "is `testbed up` still running?" in done.stderr
