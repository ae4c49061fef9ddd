"""Stage arithmetic: one execution's timestamps -> stage durations that add up to its total.

The timestamps form one chain, in the order they happen: the client's send, the api handler,
Step Functions' history events, the dispatcher, SQS, the worker, Step Functions again, the api
handler, the client's receive. Each stage is the gap between two neighbours in the chain, so
the stages telescope to ``client_received - client_sent``. The total is the client's own
monotonic measurement; the residual (total minus the stages present) is shown, never hidden:
it holds whatever a missing timestamp left unaccounted for, plus the difference between the
client's wall clock and its monotonic clock.

A stage between two hosts' clocks can be negative (clock skew): it is reported as measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from serverless_testbed.pipeline import contract

# Points of the chain (name, who stamps it). History points come from GetExecutionHistory.
CLIENT = "client"
API = "api Lambda"
STEP_FUNCTIONS = "Step Functions"
DISPATCHER = "dispatcher Lambda"
SQS = "SQS"
WORKER = "worker Lambda"

CHAIN: tuple[tuple[str, str], ...] = (
    ("client_sent", CLIENT),
    ("api_received", API),
    ("ExecutionStarted", STEP_FUNCTIONS),
    ("TaskScheduled", STEP_FUNCTIONS),
    (contract.DISPATCHER_START, DISPATCHER),
    (contract.MESSAGE_SENT, DISPATCHER),
    (contract.SQS_SENT, SQS),
    (contract.SQS_FIRST_RECEIVE, SQS),
    (contract.WORKER_START, WORKER),
    (contract.DYNAMODB_DONE, WORKER),
    (contract.CALLBACK_SENT, WORKER),
    ("TaskSucceeded", STEP_FUNCTIONS),
    ("ExecutionSucceeded", STEP_FUNCTIONS),
    ("api_execution_done", API),
    ("client_received", CLIENT),
)

# Stage name for each gap of the chain (between CHAIN[i] and CHAIN[i + 1]).
STAGE_NAMES: tuple[str, ...] = (
    "api_ingress",
    "start_execution",
    "sfn_schedule_task",
    "dispatcher_invoke",
    "dispatcher_handler",
    "sqs_send",
    "sqs_wait",
    "worker_trigger",
    "dynamodb_update",
    "worker_finish",
    "task_callback",
    "sfn_complete",
    "api_poll",
    "api_egress",
)
HISTORY_EVENTS = ("ExecutionStarted", "TaskScheduled", "TaskSucceeded", "ExecutionSucceeded")
SUCCEEDED = "SUCCEEDED"


@dataclass(frozen=True)
class Stage:
    name: str
    start: str
    end: str
    start_clock: str
    end_clock: str

    @property
    def crosses_hosts(self) -> bool:
        """True when the two ends are read from different hosts' clocks."""
        return self.start_clock != self.end_clock


STAGES: tuple[Stage, ...] = tuple(
    Stage(name, start, end, start_clock, end_clock)
    for name, (start, start_clock), (end, end_clock) in zip(
        STAGE_NAMES, CHAIN[:-1], CHAIN[1:], strict=True
    )
)


@dataclass(frozen=True)
class Observation:
    """What the runner saw of one execution (raw, wall-clock epoch ms), before any arithmetic."""

    iteration: int
    client_sent: float
    client_received: float
    elapsed_ms: float  # the client's monotonic measurement of the whole request
    http_status: int | None
    body: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)  # {"type", "timestamp_ms"}
    error: str | None = None  # the request itself failed (no HTTP answer)

    def to_json(self) -> dict[str, Any]:
        return {
            "iteration": self.iteration,
            "client_sent": self.client_sent,
            "client_received": self.client_received,
            "elapsed_ms": self.elapsed_ms,
            "http_status": self.http_status,
            "body": self.body,
            "history": self.history,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Observation:
        return cls(**data)


@dataclass(frozen=True)
class Breakdown:
    iteration: int
    status: str
    total_ms: float
    stages: dict[str, float | None]  # every STAGE_NAMES key; None = a timestamp was missing
    residual_ms: float
    queue: str | None
    execution_arn: str | None
    message_id: str | None
    error: str | None
    message_times: dict[str, float]  # send/receive timestamps of the SQS message (for the log)

    @property
    def succeeded(self) -> bool:
        return self.status == SUCCEEDED


def worker_output(body: dict[str, Any]) -> dict[str, Any]:
    output = body.get("output")
    return output if isinstance(output, dict) else {}


def chain_points(observation: Observation) -> dict[str, float]:
    """Every chain timestamp the observation holds (missing ones are left out)."""
    body = observation.body
    api = body.get("api") or {}
    output = worker_output(body)
    points: dict[str, float] = {
        "client_sent": observation.client_sent,
        "client_received": observation.client_received,
    }
    for key, name in (("received", "api_received"), ("execution_done", "api_execution_done")):
        if isinstance(api.get(key), int | float):
            points[name] = float(api[key])
    for name, value in (output.get("timestamps") or {}).items():
        if isinstance(value, int | float):
            points[name] = float(value)
    for event in observation.history:
        if event["type"] in HISTORY_EVENTS:
            points.setdefault(event["type"], float(event["timestamp_ms"]))
    return points


def status_of(observation: Observation) -> tuple[str, str | None]:
    """(status, error): SUCCEEDED only for a 200 whose execution succeeded."""
    if observation.error is not None:
        return "ERROR", observation.error
    body = observation.body
    status = str(body.get("status") or f"HTTP_{observation.http_status}")
    if observation.http_status == 200 and status == SUCCEEDED:
        return SUCCEEDED, None
    if observation.http_status == 504:
        status = "TIMED_OUT"
    error = body.get("error") or body.get("message") or f"HTTP {observation.http_status}"
    cause = body.get("cause")
    return (status if status != SUCCEEDED else f"HTTP_{observation.http_status}"), (
        f"{error}: {cause}" if cause else str(error)
    )


def breakdown(observation: Observation) -> Breakdown:
    points = chain_points(observation)
    stages: dict[str, float | None] = {
        stage.name: (
            points[stage.end] - points[stage.start]
            if stage.start in points and stage.end in points
            else None
        )
        for stage in STAGES
    }
    present = sum(value for value in stages.values() if value is not None)
    status, error = status_of(observation)
    output = worker_output(observation.body)
    message_keys = (
        contract.MESSAGE_SENT,
        contract.SQS_SENT,
        contract.SQS_FIRST_RECEIVE,
        contract.WORKER_START,
    )
    return Breakdown(
        iteration=observation.iteration,
        status=status,
        total_ms=observation.elapsed_ms,
        stages=stages,
        residual_ms=observation.elapsed_ms - present,
        queue=output.get("queue"),
        execution_arn=observation.body.get("execution_arn"),
        message_id=output.get("message_id"),
        error=error,
        message_times={key: points[key] for key in message_keys if key in points},
    )
