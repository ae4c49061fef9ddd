"""A delayed task firing: record, once per execution, when its Wait ended.

The delay state machine (statemachine/delay.asl.json) invokes the delayed-task function with
``{"execution": ARN, "started_at": ISO, "task": <the execution input>}`` once its Wait is
over. The record (one DynamoDB item keyed by the execution ARN) is what tells a caller that a
delay fired and when; a retried invoke of the same execution writes nothing new.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from serverless_testbed.pipeline.clock import Clock

FiringOutcome = Literal["recorded", "duplicate"]


class MalformedFiring(ValueError):
    """The invoke's event is not what the delay state machine sends."""


@dataclass(frozen=True)
class Firing:
    execution: str
    started_at: str
    fired_at_ms: int
    task: dict[str, Any]

    @property
    def fired_at(self) -> str:
        return iso_utc_ms(self.fired_at_ms)

    def item(self) -> dict[str, Any]:
        """The DynamoDB item (low-level attribute values)."""
        return {
            "pk": {"S": self.execution},
            "started_at": {"S": self.started_at},
            "fired_at": {"S": self.fired_at},
            "fired_at_ms": {"N": str(self.fired_at_ms)},
            "task": {"S": json.dumps(self.task, sort_keys=True)},
        }


def iso_utc_ms(epoch_ms: float) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def firing_from_event(event: Any, clock: Clock) -> Firing:
    if not isinstance(event, dict):
        raise MalformedFiring(f"expected an object, got {type(event).__name__}")
    execution = event.get("execution")
    if not isinstance(execution, str) or not execution:
        raise MalformedFiring("no 'execution' (the execution ARN) in the event")
    task = event.get("task")
    if not isinstance(task, dict):
        raise MalformedFiring("no 'task' object (the execution input) in the event")
    return Firing(
        execution=execution,
        started_at=str(event.get("started_at", "")),
        fired_at_ms=int(clock.now_ms()),
        task=task,
    )


def record_firing(
    event: Any, *, dynamodb: Any, table_name: str, clock: Clock
) -> tuple[FiringOutcome, Firing]:
    """Put the firing's item unless this execution already fired (a retried invoke)."""
    firing = firing_from_event(event, clock)
    try:
        dynamodb.put_item(
            TableName=table_name,
            Item=firing.item(),
            ConditionExpression="attribute_not_exists(pk)",
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return "duplicate", firing
    return "recorded", firing
