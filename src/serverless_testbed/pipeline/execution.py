"""Start one execution of the pipeline's state machine and wait for its end, with a deadline."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from serverless_testbed.pipeline.clock import Clock
from serverless_testbed.pipeline.polling import RecentDurations, poll_delays
from serverless_testbed.pipeline.request import RunRequest

TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


class ExecutionConflict(Exception):
    """The request_id (the execution name) was already used with a different input."""

    def __init__(self, request_id: str, execution_arn: str) -> None:
        super().__init__(
            f"request_id {request_id!r} was already used for another request "
            f"(execution {execution_arn}): choose a new request_id"
        )
        self.request_id = request_id
        self.execution_arn = execution_arn


@dataclass(frozen=True)
class ExecutionResult:
    request_id: str
    execution_arn: str
    status: str  # an execution status; still "RUNNING" when the deadline passed
    started_ms: float  # StartExecution returned
    done_ms: float  # the end (or the deadline) was seen
    output: Any = None  # SUCCEEDED: the execution output, parsed (the worker output)
    error: str | None = None  # FAILED / TIMED_OUT / ABORTED
    cause: str | None = None
    deadline_passed: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


def start_and_wait(
    sfn: Any,
    state_machine_arn: str,
    request: RunRequest,
    *,
    deadline_s: float,
    clock: Clock,
    durations: RecentDurations | None = None,
) -> ExecutionResult:
    """StartExecution named after the request_id, then DescribeExecution until it ends, on
    the schedule of pipeline/polling.py (learned from ``durations``, which this run joins).

    Starting again with the same request_id and the same input waits for (or returns) that
    execution, so a client may retry a POST; a different input raises ExecutionConflict."""
    give_up_at = clock.monotonic() + deadline_s
    execution_input = request.to_input()
    try:
        execution_arn = sfn.start_execution(
            stateMachineArn=state_machine_arn,
            name=request.request_id,
            input=json.dumps(execution_input),
        )["executionArn"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
            raise
        execution_arn = execution_arn_of(state_machine_arn, request.request_id)
        existing = sfn.describe_execution(executionArn=execution_arn)
        if json.loads(existing.get("input") or "null") != execution_input:
            raise ExecutionConflict(request.request_id, execution_arn) from None
    started_ms = clock.now_ms()
    delays = poll_delays(durations.typical() if durations is not None else None)
    while True:
        remaining = give_up_at - clock.monotonic()
        if remaining <= 0:
            return ExecutionResult(
                request.request_id,
                execution_arn,
                status="RUNNING",
                started_ms=started_ms,
                done_ms=clock.now_ms(),
                deadline_passed=True,
            )
        clock.sleep(min(next(delays), remaining))
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] in TERMINAL_STATUSES:
            if durations is not None:
                durations.record(_run_time_s(described, started_ms, clock))
            return _finished(request.request_id, execution_arn, described, started_ms, clock)


def _run_time_s(described: dict[str, Any], started_ms: float, clock: Clock) -> float:
    """How long the execution ran by the service's clock (so polling late does not count),
    else as seen from here."""
    start, stop = described.get("startDate"), described.get("stopDate")
    if isinstance(start, datetime) and isinstance(stop, datetime):
        return (stop - start).total_seconds()
    return (clock.now_ms() - started_ms) / 1000


def execution_arn_of(state_machine_arn: str, execution_name: str) -> str:
    """arn:...:stateMachine:NAME -> arn:...:execution:NAME:EXECUTION_NAME"""
    prefix, _, machine_name = state_machine_arn.rpartition(":stateMachine:")
    return f"{prefix}:execution:{machine_name}:{execution_name}"


def _finished(
    request_id: str,
    execution_arn: str,
    described: dict[str, Any],
    started_ms: float,
    clock: Clock,
) -> ExecutionResult:
    output = described.get("output")
    return ExecutionResult(
        request_id,
        execution_arn,
        status=described["status"],
        started_ms=started_ms,
        done_ms=clock.now_ms(),
        output=_parsed(output) if output is not None else None,
        error=described.get("error"),
        cause=described.get("cause"),
    )


def _parsed(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
