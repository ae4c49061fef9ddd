"""Delayed tasks on the embedded stack (real moto, real local Lambda runtime): the Wait state
of the delay state machine, scaled so that hours take seconds, fires the task in the order
of the fire times; a cancelled task never fires.

Nothing here sleeps: each test waits on a condition (a firing record, an execution status)
with a deadline.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from serverless_testbed.delay import schedule
from tests.integration.helpers import wait_until

SCALE = 0.001  # one hour -> 3.6 s
MARGIN_S = 30.0  # generous: shared CI machines; speed is the benchmarks' business


@pytest.fixture
def scaled(embedded_stack: Any, set_wait_scale: Callable[[float], None]) -> Any:
    set_wait_scale(SCALE)
    return embedded_stack


def _start(deployment: Any, request: schedule.DelayRequest) -> schedule.DelayedTask:
    sfn = deployment.client("stepfunctions")
    return schedule.start(sfn, deployment.delay_state_machine_arn, request, SCALE)


def _record(deployment: Any, task: schedule.DelayedTask) -> dict[str, str] | None:
    return schedule.firing_record(
        deployment.client("dynamodb"), deployment.delayed_task_table, task.execution_arn
    )


def _wait_succeeded(deployment: Any, task: schedule.DelayedTask) -> None:
    """The record is written inside the task; the execution ends just after it."""
    sfn = deployment.client("stepfunctions")

    def ended() -> str | None:
        status = sfn.describe_execution(executionArn=task.execution_arn)["status"]
        return None if status == "RUNNING" else str(status)

    assert wait_until(ended, timeout_s=MARGIN_S, what=f"{task.execution_arn} to end") == (
        "SUCCEEDED"
    )


def _fired_ms(record: dict[str, str]) -> int:
    return int(record["fired_at_ms"])


def test_scaled_delays_of_one_and_two_hours_fire_in_that_order(scaled: Any) -> None:
    deployment = scaled.deployment
    now = datetime.now(UTC)
    # Started longest first, so that firing in start order would be the wrong order; the
    # one-hour delay goes through TimestampPath, the others through SecondsPath.
    two_hours = _start(deployment, schedule.DelayRequest(7200, None, {"n": 2}))
    ninety_minutes = _start(deployment, schedule.DelayRequest(5400, None, {"n": 1.5}))
    one_hour = _start(deployment, schedule.DelayRequest(None, now + timedelta(hours=1), {"n": 1}))
    tasks = [one_hour, ninety_minutes, two_hours]

    def all_fired() -> list[dict[str, str]] | None:
        records = [_record(deployment, task) for task in tasks]
        return [r for r in records if r is not None] if all(records) else None

    records = wait_until(all_fired, timeout_s=7.2 + MARGIN_S, what="all three delays to fire")

    fired = [_fired_ms(record) for record in records]
    assert fired == sorted(fired), "fired in the order of their fire times"
    for task, record in zip(tasks, records, strict=True):
        assert task.fires_at is not None and task.fires_at_scaled is not None
        assert task.fires_at - task.started_at >= timedelta(minutes=59, seconds=59)
        assert record["pk"] == task.execution_arn
        # Never before its scaled fire time (TimestampPath counts whole seconds of the
        # remaining hour, so its Wait may be up to 1 ms x 1000 = 1 s x SCALE shorter).
        earliest_ms = task.fires_at_scaled.timestamp() * 1000 - 1000 * SCALE - 5
        assert _fired_ms(record) >= earliest_ms, (task, record)
    for task in tasks:
        _wait_succeeded(deployment, task)


def test_a_cancelled_delay_is_aborted_and_never_fires(scaled: Any) -> None:
    deployment = scaled.deployment
    sfn = deployment.client("stepfunctions")
    cancelled = _start(deployment, schedule.DelayRequest(3600, None, {"cancel": True}))
    # Fires after the cancelled one would have: once it has, so would the cancelled one.
    witness = _start(deployment, schedule.DelayRequest(3600 + 1200, None, {"witness": True}))

    stopped = schedule.cancel(
        sfn, deployment.delay_state_machine_arn, cancelled.execution_arn, SCALE
    )

    assert stopped.status == "ABORTED"
    wait_until(
        lambda: _record(deployment, witness),
        timeout_s=4.8 + MARGIN_S,
        what="the witness delay (due after the cancelled one) to fire",
    )
    assert _record(deployment, cancelled) is None, "the cancelled delay never fired"
    described = sfn.describe_execution(executionArn=cancelled.execution_arn)
    assert described["status"] == "ABORTED"
    history = sfn.get_execution_history(executionArn=cancelled.execution_arn)["events"]
    types = [event["type"] for event in history]
    assert "WaitStateEntered" in types
    assert not any(t.startswith("Task") or t.startswith("LambdaFunction") for t in types), types
    with pytest.raises(Exception, match="ABORTED, not pending"):
        schedule.cancel(sfn, deployment.delay_state_machine_arn, cancelled.execution_arn, SCALE)


def test_pending_lists_only_running_delays_soonest_first(scaled: Any) -> None:
    deployment = scaled.deployment
    sfn = deployment.client("stepfunctions")
    machine = deployment.delay_state_machine_arn
    later = _start(deployment, schedule.DelayRequest(20 * 3600, None, {}))
    sooner = _start(deployment, schedule.DelayRequest(10 * 3600, None, {}))
    try:
        listed = schedule.pending(sfn, machine, SCALE)
        arns = [task.execution_arn for task in listed]
        assert arns.index(sooner.execution_arn) < arns.index(later.execution_arn)
        assert all(task.status == "RUNNING" for task in listed)
        shown = {task.execution_arn: task for task in listed}[sooner.execution_arn]
        assert shown.fires_at == sooner.started_at + timedelta(hours=10)
        assert shown.fires_at_scaled == sooner.started_at + timedelta(seconds=36)
    finally:
        for task in (later, sooner):
            schedule.cancel(sfn, machine, task.execution_arn, SCALE)
    remaining = {task.execution_arn for task in schedule.pending(sfn, machine, SCALE)}
    assert not {later.execution_arn, sooner.execution_arn} & remaining


def test_a_stack_deployed_through_cloudformation_runs_scaled_delays_too(scaled: Any) -> None:
    """EmbeddedStack.deploy goes through moto's CloudFormation (the remote path, offline):
    the second state machine, its definition file and its outputs come through it as well."""
    deployment = scaled.deploy("delay-through-cloudformation")
    described = deployment.client("cloudformation").describe_stacks(
        StackName="delay-through-cloudformation"
    )["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    assert outputs["DelayStateMachineArn"] == deployment.delay_state_machine_arn
    assert deployment.delay_state_machine_arn != scaled.deployment.delay_state_machine_arn

    task = _start(deployment, schedule.DelayRequest(3600, None, {"via": "cloudformation"}))

    record = wait_until(
        lambda: _record(deployment, task), timeout_s=3.6 + MARGIN_S, what="the delay to fire"
    )
    assert record["pk"] == task.execution_arn
    assert json.loads(record["task"]) == {
        "delay_seconds": 3600,
        "payload": {"via": "cloudformation"},
    }
    _wait_succeeded(deployment, task)
