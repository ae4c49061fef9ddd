"""`testbed invoke` and `testbed coldstart` as a user runs them (a child process each, with
its own embedded stack)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from serverless_testbed.cli import main
from serverless_testbed.errors import UsageError
from serverless_testbed.experiments.functions import resolve_function
from tests.integration.latency.cli import clean_environment, run_testbed

if TYPE_CHECKING:
    from serverless_testbed.embedded.stack import EmbeddedStack

ROOT = Path(__file__).resolve().parents[3]


def test_invoke_prints_the_result_and_lambdas_log_lines(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"sleep_ms": 5}))
    outcome_file = tmp_path / "outcome.json"

    completed = run_testbed(
        "invoke", "ProbeFunction", "--event", str(event), "--json", str(outcome_file), cwd=ROOT
    )

    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["invocations"] == 1 and result["sleep_ms"] == 5
    log = completed.stderr.splitlines()
    start = next(line for line in log if line.startswith("START RequestId: "))
    request_id = start.split()[2]
    assert start == f"START RequestId: {request_id} Version: $LATEST"
    assert f"END RequestId: {request_id}" in log
    report = next(line for line in log if line.startswith("REPORT RequestId: "))
    assert "\tBilled Duration: " in report and "\tMemory Size: 128 MB\t" in report
    assert "\tMax Memory Used: " in report and "\tInit Duration: " in report
    outcome = json.loads(outcome_file.read_text())
    assert outcome["payload"] == result
    assert outcome["report"]["request_id"] == request_id
    assert outcome["report"]["init_duration_ms"] > 0


def test_invoke_reads_the_event_from_stdin_and_a_function_error_exits_1() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "serverless_testbed.cli", "invoke", "ProbeFunction", "--event", "-"],
        cwd=ROOT,
        env=clean_environment(),
        input='{"sleep_ms": -5}',
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert completed.returncode == 1, completed.stderr
    error = json.loads(completed.stdout)
    assert error["errorType"] == "ValueError"
    assert "sleep_ms must be a number between 0 and 900000" in error["errorMessage"]
    assert "REPORT RequestId: " in completed.stderr


def test_a_function_is_found_by_logical_id_or_deployed_name_and_nothing_else(
    embedded_stack: EmbeddedStack,
) -> None:
    ids = embedded_stack.resource_ids()
    client = embedded_stack.client("lambda")
    deployed = ids["ProbeFunction"]

    assert resolve_function(client, ids, "ProbeFunction", "testbed") == deployed
    assert resolve_function(client, ids, deployed, "testbed") == deployed
    with pytest.raises(UsageError, match="unknown function 'RequestQueue'"):
        resolve_function(client, ids, "RequestQueue", "testbed")


def test_an_unknown_function_is_one_line_and_exit_2() -> None:
    completed = run_testbed("invoke", "NoSuchFunction", cwd=ROOT)

    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [
        "testbed invoke: error: unknown function 'NoSuchFunction': neither a logical id of "
        "stack 'testbed' nor a deployed function name"
    ]


def test_coldstart_prints_a_table_per_container_and_writes_json(tmp_path: Path) -> None:
    json_file = tmp_path / "coldstart.json"

    completed = run_testbed(
        "coldstart", "--workers", "2", "--iterations", "6", "--json", str(json_file), cwd=ROOT
    )

    assert completed.returncode == 0, completed.stderr
    assert "| container | invocations | first use (s) | last use (s) | Init Duration (ms) |" in (
        completed.stdout
    )
    data = json.loads(json_file.read_text())
    assert sum(c["invocations"] for c in data["containers"]) == 6
    assert data["summary"]["cold_starts"] == len(data["containers"])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--workers", "0"], "--workers must be at least 1 (got 0)"),
        (["--iterations", "0"], "--iterations must be at least 1 (got 0)"),
        (["--sleep-ms", "-1"], "--sleep-ms must be between 0 and 900000 (got -1.0)"),
    ],
)
def test_coldstart_bad_input_is_exit_2_before_anything_starts(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # In this process: a started stack would fail here (one embedded stack per process is
    # taken by the session's), so exit 2 also shows that nothing was started.
    assert main(["coldstart", *arguments]) == 2
    assert capsys.readouterr().err.strip() == f"testbed coldstart: error: {message}"


def test_embedded_invoke_returns_the_log_tail_in_x_amz_log_result(
    embedded_stack: EmbeddedStack,
) -> None:
    name = embedded_stack.resource_ids()["ProbeFunction"]
    lambda_client = embedded_stack.client("lambda")
    lambda_client.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"TEST_RUN": uuid.uuid4().hex}}
    )

    cold = lambda_client.invoke(FunctionName=name, LogType="Tail", Payload=b"{}")
    warm = lambda_client.invoke(FunctionName=name, LogType="Tail", Payload=b"{}")
    untailed = lambda_client.invoke(FunctionName=name, Payload=b"{}")

    cold_log = base64.b64decode(cold["LogResult"]).decode()
    warm_log = base64.b64decode(warm["LogResult"]).decode()
    assert "Init Duration: " in cold_log.splitlines()[-1]
    assert warm_log.splitlines()[-1].startswith("REPORT RequestId: ")
    assert "Init Duration" not in warm_log
    assert "LogResult" not in untailed
