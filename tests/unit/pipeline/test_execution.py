"""Start-and-wait (pipeline/execution.py) against Step Functions in moto, executing for real."""

from __future__ import annotations

import json
from typing import Any

import pytest

from serverless_testbed.pipeline.clock import SYSTEM_CLOCK
from serverless_testbed.pipeline.execution import (
    ExecutionConflict,
    execution_arn_of,
    start_and_wait,
)
from serverless_testbed.pipeline.polling import FIRST_POLL_S, MAX_POLL_S, RecentDurations
from serverless_testbed.pipeline.request import RunRequest
from tests.unit.pipeline.conftest import Aws, stop_once_waiting
from tests.unit.pipeline.support import FakeClock


def _machine(aws: Aws, name: str, state: dict[str, Any]) -> str:
    definition = {"StartAt": "Only", "States": {"Only": {**state, "End": True}}}
    if state["Type"] == "Fail":
        definition["States"]["Only"].pop("End")
    return aws.sfn.create_state_machine(
        name=name, definition=json.dumps(definition), roleArn=aws.role_arn
    )["stateMachineArn"]


@pytest.fixture
def succeeding_machine(aws: Aws) -> str:
    return _machine(aws, "succeeds", {"Type": "Pass", "Result": {"answer": 42}})


def test_a_succeeded_execution_returns_its_output(aws: Aws, succeeding_machine: str) -> None:
    request = RunRequest("run-1", {"n": 1})

    result = start_and_wait(aws.sfn, succeeding_machine, request, deadline_s=10, clock=SYSTEM_CLOCK)

    assert result.succeeded
    assert result.output == {"answer": 42}
    assert result.execution_arn == execution_arn_of(succeeding_machine, "run-1")
    assert result.started_ms <= result.done_ms
    assert not result.deadline_passed


def test_the_execution_is_named_after_the_request_and_gets_it_as_input(
    aws: Aws, succeeding_machine: str
) -> None:
    request = RunRequest("named-run", {"k": "v"}, fail_at="worker")

    result = start_and_wait(aws.sfn, succeeding_machine, request, deadline_s=10, clock=SYSTEM_CLOCK)

    described = aws.sfn.describe_execution(executionArn=result.execution_arn)
    assert described["name"] == "named-run"
    assert json.loads(described["input"]) == {
        "request_id": "named-run",
        "payload": {"k": "v"},
        "fail_at": "worker",
    }


def test_a_failed_execution_returns_its_error_and_cause(aws: Aws) -> None:
    machine = _machine(aws, "fails", {"Type": "Fail", "Error": "Boom", "Cause": "it broke"})

    result = start_and_wait(aws.sfn, machine, RunRequest("bad"), deadline_s=10, clock=SYSTEM_CLOCK)

    assert result.status == "FAILED"
    assert (result.error, result.cause) == ("Boom", "it broke")
    assert result.output is None


def test_the_deadline_gives_up_on_a_running_execution_after_polling_fast_then_slower(
    aws: Aws, pipeline_machine: str, clock: FakeClock
) -> None:
    # The pipeline's Dispatch task waits for a task token that no worker sends here.
    result = start_and_wait(
        aws.sfn, pipeline_machine, RunRequest("slow"), deadline_s=25, clock=clock
    )

    assert result.deadline_passed
    assert result.status == "RUNNING"
    assert clock.sleeps[0] == FIRST_POLL_S
    assert max(clock.sleeps) == MAX_POLL_S
    assert clock.sleeps == sorted(clock.sleeps[:-1]) + clock.sleeps[-1:], "backs off, then caps"
    assert sum(clock.sleeps) == pytest.approx(25)
    # Step Functions refills DescribeExecution at 15/s per account (us-east-1): a run waiting
    # for its whole deadline asks ~1/s, after a dozen quick polls at the start.
    assert len(clock.sleeps) <= 12 + 25
    assert sum(1 for s in clock.sleeps if s >= MAX_POLL_S) >= 20
    stop_once_waiting(aws, result.execution_arn)


def test_reusing_a_request_id_with_another_input_is_a_conflict(
    aws: Aws, succeeding_machine: str
) -> None:
    start_and_wait(
        aws.sfn, succeeding_machine, RunRequest("once", {"a": 1}), deadline_s=10, clock=SYSTEM_CLOCK
    )

    with pytest.raises(ExecutionConflict) as conflict:
        start_and_wait(
            aws.sfn,
            succeeding_machine,
            RunRequest("once", {"a": 2}),
            deadline_s=10,
            clock=SYSTEM_CLOCK,
        )

    assert "once" in str(conflict.value)
    assert conflict.value.execution_arn == execution_arn_of(succeeding_machine, "once")


def test_retrying_the_same_request_returns_the_first_execution_result(
    aws: Aws, succeeding_machine: str
) -> None:
    request = RunRequest("retried", {"a": 1})
    first = start_and_wait(aws.sfn, succeeding_machine, request, deadline_s=10, clock=SYSTEM_CLOCK)

    again = start_and_wait(aws.sfn, succeeding_machine, request, deadline_s=10, clock=SYSTEM_CLOCK)

    assert (again.execution_arn, again.status, again.output) == (
        first.execution_arn,
        "SUCCEEDED",
        {"answer": 42},
    )
    listed = aws.sfn.list_executions(stateMachineArn=succeeding_machine)["executions"]
    assert len(listed) == 1


def test_the_execution_arn_is_derived_from_the_state_machine_arn() -> None:
    machine = "arn:aws:states:eu-west-1:111122223333:stateMachine:Pipeline-AbC"

    assert execution_arn_of(machine, "r1") == (
        "arn:aws:states:eu-west-1:111122223333:execution:Pipeline-AbC:r1"
    )


def test_a_run_joins_the_durations_with_the_time_the_service_says_it_ran(
    aws: Aws, succeeding_machine: str
) -> None:
    durations = RecentDurations()
    for n in range(3):
        start_and_wait(
            aws.sfn,
            succeeding_machine,
            RunRequest(f"timed-{n}"),
            deadline_s=10,
            clock=SYSTEM_CLOCK,
            durations=durations,
        )

    typical = durations.typical()
    described = aws.sfn.describe_execution(
        executionArn=execution_arn_of(succeeding_machine, "timed-2")
    )
    assert typical is not None
    assert 0 <= typical <= (described["stopDate"] - described["startDate"]).total_seconds() + 1


def test_once_runs_were_seen_the_first_poll_waits_for_most_of_a_typical_run(
    aws: Aws, pipeline_machine: str, clock: FakeClock
) -> None:
    durations = RecentDurations()
    for seconds in (0.2, 0.3, 0.4):
        durations.record(seconds)

    result = start_and_wait(
        aws.sfn,
        pipeline_machine,
        RunRequest("learned"),
        deadline_s=5,
        clock=clock,
        durations=durations,
    )

    assert result.deadline_passed
    assert clock.sleeps[0] == pytest.approx(0.8 * 0.3)
    assert clock.sleeps[1] == pytest.approx(0.03)
    assert len(clock.sleeps) < 20, "a long run still backs off to one poll a second"
    stop_once_waiting(aws, result.execution_arn)
