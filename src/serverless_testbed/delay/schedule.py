"""Delayed tasks: what to start, when it fires, which are pending, how to cancel one.

A delayed task is one Standard execution of the delay state machine
(statemachine/delay.asl.json): ``{"delay_seconds": N, "payload": ...}`` waits N seconds
(SecondsPath), ``{"fire_at": "2026-12-01T09:00:00Z", "payload": ...}`` waits until then
(TimestampPath); then the delayed-task function records when it fired. Cancelling is
StopExecution. Every function here takes its clients; none knows which target it runs on.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from serverless_testbed.errors import UsageError

# A Standard workflow runs for at most one year (Step Functions service quotas).
MAX_DELAY_S = 365 * 24 * 3600
CANCEL_CAUSE = "cancelled with testbed delay --cancel"
STOP_SEEN_TIMEOUT_S = 10.0  # how long a cancel waits to see its stop (see _once_stopped)

Status = Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"]


@dataclass(frozen=True)
class DelayRequest:
    """Either ``delay_seconds`` or ``fire_at`` (UTC), and the payload handed to the task."""

    delay_seconds: int | None
    fire_at: datetime | None
    payload: Any

    def execution_input(self) -> dict[str, Any]:
        if self.delay_seconds is not None:
            return {"delay_seconds": self.delay_seconds, "payload": self.payload}
        assert self.fire_at is not None
        return {"fire_at": iso_utc(self.fire_at), "payload": self.payload}


@dataclass(frozen=True)
class DelayedTask:
    execution_arn: str
    status: str
    started_at: datetime
    fires_at: datetime | None  # as on AWS; None: the input names no delay
    wait_scale: float
    payload: Any

    @property
    def fires_at_scaled(self) -> datetime | None:
        """When it fires on this stack's clock (the Wait shrunk by the wait scale)."""
        if self.fires_at is None:
            return None
        return self.started_at + (self.fires_at - self.started_at) * self.wait_scale

    def to_json(self) -> dict[str, Any]:
        scaled = self.fires_at_scaled
        return {
            "execution_arn": self.execution_arn,
            "status": self.status,
            "started_at": iso_utc(self.started_at),
            "fires_at": iso_utc(self.fires_at) if self.fires_at else None,
            "wait_scale": self.wait_scale,
            "fires_at_scaled": iso_utc(scaled) if scaled and self.wait_scale != 1 else None,
            "payload": self.payload,
        }


# -- input ----------------------------------------------------------------------------------
def parse_after(text: str) -> int:
    """``--after``: whole seconds, 0 to one year (SecondsPath takes a non-negative integer)."""
    try:
        seconds = float(text)
    except ValueError:
        raise UsageError(
            f"--after {text!r} is not a number: give whole seconds from 0 to {MAX_DELAY_S}"
        ) from None
    if not math.isfinite(seconds) or seconds < 0 or seconds > MAX_DELAY_S:
        raise UsageError(
            f"--after {text!r} is out of range: give whole seconds from 0 to {MAX_DELAY_S} "
            "(a Standard execution lasts at most one year)"
        )
    if seconds != int(seconds):
        raise UsageError(
            f"--after {text!r}: give whole seconds (a Wait's SecondsPath is an integer)"
        )
    return int(seconds)


def parse_at(text: str, now: datetime) -> datetime:
    """``--at``: an ISO 8601 time with a zone, later than ``now``, within one year."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--at {text!r} is not an ISO 8601 time: give e.g. 2026-12-01T09:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise UsageError(f"--at {text!r} has no time zone: add Z (UTC) or an offset like +08:00")
    moment = moment.astimezone(UTC)
    if moment <= now:
        raise UsageError(f"--at {text!r} is in the past (now {iso_utc(now)}): give a later time")
    if moment - now > timedelta(seconds=MAX_DELAY_S):
        raise UsageError(
            f"--at {text!r} is more than one year ahead (a Standard execution's limit)"
        )
    return moment


def parse_payload(text: str | None) -> Any:
    if text is None:
        return {}
    try:
        return json.loads(text)
    except ValueError as error:
        raise UsageError(f"--payload is not valid JSON: {error}") from None


def iso_utc(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, the form a Wait's TimestampPath takes (milliseconds kept)."""
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z").replace(".000Z", "Z")


# -- the execution's view -----------------------------------------------------------------
def nominal_fire_time(execution_input: Any, started_at: datetime) -> datetime | None:
    """When the task fires without any wait scale: start + delay_seconds, or fire_at."""
    if not isinstance(execution_input, dict):
        return None
    seconds = execution_input.get("delay_seconds")
    if isinstance(seconds, int | float) and not isinstance(seconds, bool):
        return started_at + timedelta(seconds=seconds)
    fire_at = execution_input.get("fire_at")
    if isinstance(fire_at, str):
        try:
            return datetime.fromisoformat(fire_at).astimezone(UTC)
        except ValueError:
            return None
    return None


def _task_of(described: dict[str, Any], wait_scale: float) -> DelayedTask:
    started_at = described["startDate"].astimezone(UTC)
    try:
        execution_input = json.loads(described.get("input") or "null")
    except ValueError:
        execution_input = None
    payload = execution_input.get("payload") if isinstance(execution_input, dict) else None
    return DelayedTask(
        execution_arn=described["executionArn"],
        status=described["status"],
        started_at=started_at,
        fires_at=nominal_fire_time(execution_input, started_at),
        wait_scale=wait_scale,
        payload=payload,
    )


# -- operations -----------------------------------------------------------------------------
def start(
    sfn: Any, state_machine_arn: str, request: DelayRequest, wait_scale: float
) -> DelayedTask:
    # A name of its own, as AWS would generate one (moto names an unnamed execution "None").
    started = sfn.start_execution(
        stateMachineArn=state_machine_arn,
        name=str(uuid.uuid4()),
        input=json.dumps(request.execution_input()),
    )
    return _task_of(sfn.describe_execution(executionArn=started["executionArn"]), wait_scale)


def pending(sfn: Any, state_machine_arn: str, wait_scale: float) -> list[DelayedTask]:
    """The delayed tasks still waiting (RUNNING executions), soonest first."""
    arns = [
        execution["executionArn"]
        for page in sfn.get_paginator("list_executions").paginate(
            stateMachineArn=state_machine_arn, statusFilter="RUNNING"
        )
        for execution in page["executions"]
    ]
    tasks = [_task_of(sfn.describe_execution(executionArn=arn), wait_scale) for arn in arns]
    tasks = [task for task in tasks if task.status == "RUNNING"]  # ended since the listing
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(tasks, key=lambda task: (task.fires_at_scaled or far, task.execution_arn))


def describe(
    sfn: Any, state_machine_arn: str, execution_arn: str, wait_scale: float
) -> DelayedTask:
    """One delayed task of this state machine, or a one-line UsageError."""
    try:
        described = sfn.describe_execution(executionArn=execution_arn)
    except (sfn.exceptions.ExecutionDoesNotExist, sfn.exceptions.InvalidArn):
        raise UsageError(
            f"no execution {execution_arn!r}: give an ARN from testbed delay --list"
        ) from None
    if described.get("stateMachineArn") != state_machine_arn:
        raise UsageError(
            f"{execution_arn!r} is not a delayed task (it runs {described.get('stateMachineArn')})"
        )
    return _task_of(described, wait_scale)


def cancel(sfn: Any, state_machine_arn: str, execution_arn: str, wait_scale: float) -> DelayedTask:
    """StopExecution on a pending delayed task; one that already ended is a UsageError."""
    task = describe(sfn, state_machine_arn, execution_arn, wait_scale)
    if task.status != "RUNNING":
        raise UsageError(f"{execution_arn!r} is {task.status}, not pending: nothing to cancel")
    sfn.stop_execution(executionArn=execution_arn, cause=CANCEL_CAUSE)
    return _once_stopped(sfn, state_machine_arn, execution_arn, wait_scale)


def _once_stopped(
    sfn: Any, state_machine_arn: str, execution_arn: str, wait_scale: float
) -> DelayedTask:
    """The task as described once the stop shows. StopExecution can answer before every
    reader sees ABORTED (moto sets the status on the execution's own thread; Step Functions'
    reads are eventually consistent), so poll for a short while; still RUNNING after
    STOP_SEEN_TIMEOUT_S is returned as it is."""
    deadline = time.monotonic() + STOP_SEEN_TIMEOUT_S
    delay = 0.01
    while True:
        task = describe(sfn, state_machine_arn, execution_arn, wait_scale)
        if task.status != "RUNNING" or time.monotonic() > deadline:
            return task
        time.sleep(delay)  # polling a status with a deadline
        delay = min(delay * 2, 0.5)


def wait_until_done(
    sfn: Any,
    state_machine_arn: str,
    task: DelayedTask,
    timeout_s: float,
    on_poll: Callable[[], None] = lambda: None,
) -> tuple[DelayedTask, Any]:
    """Poll until the execution ends (its scaled fire time plus ``timeout_s`` at most);
    return it and its output (the delayed-task function's record), None if it has none."""
    fires_at = task.fires_at_scaled or task.started_at
    remaining = max((fires_at - datetime.now(UTC)).total_seconds(), 0.0)
    deadline = time.monotonic() + remaining + timeout_s
    delay = 0.02
    while True:
        described = sfn.describe_execution(executionArn=task.execution_arn)
        if described["status"] != "RUNNING":
            output = json.loads(described["output"]) if described.get("output") else None
            return _task_of(described, task.wait_scale), output
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{task.execution_arn} still RUNNING {timeout_s:g} s after its fire time"
            )
        on_poll()
        time.sleep(delay)  # polling a status with a deadline
        delay = min(delay * 2, 1.0)


def firing_record(dynamodb: Any, table_name: str, execution_arn: str) -> dict[str, str] | None:
    """The delayed-task function's record of this execution, None if it never fired."""
    item = dynamodb.get_item(
        TableName=table_name, Key={"pk": {"S": execution_arn}}, ConsistentRead=True
    ).get("Item")
    if item is None:
        return None
    return {key: next(iter(value.values())) for key, value in item.items()}
