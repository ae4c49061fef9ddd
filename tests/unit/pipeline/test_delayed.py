"""The delayed-task function's domain code: one record per execution, with its firing time."""

from __future__ import annotations

import json
from typing import Any

import pytest

from serverless_testbed.handlers.delayed_task import DelayedTaskSettings, handle
from serverless_testbed.pipeline.delayed import MalformedFiring, iso_utc_ms, record_firing
from tests.unit.pipeline.conftest import Aws
from tests.unit.pipeline.support import FakeClock

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:delay:abc"
EVENT = {
    "execution": EXECUTION,
    "started_at": "2026-11-30T12:00:00Z",
    "task": {"delay_seconds": 3600, "payload": {"order": 7}},
}


def _item(aws: Aws, table: str) -> dict[str, Any]:
    return aws.dynamodb.get_item(TableName=table, Key={"pk": {"S": EXECUTION}})["Item"]


def test_a_firing_is_recorded_with_its_time_and_task(aws: Aws, table: str) -> None:
    clock = FakeClock(now_ms=1_780_000_000_000.0)

    outcome, firing = record_firing(EVENT, dynamodb=aws.dynamodb, table_name=table, clock=clock)

    assert outcome == "recorded"
    item = _item(aws, table)
    assert item["fired_at_ms"] == {"N": str(firing.fired_at_ms)}
    assert item["fired_at"] == {"S": iso_utc_ms(firing.fired_at_ms)}
    assert item["started_at"] == {"S": "2026-11-30T12:00:00Z"}
    assert json.loads(item["task"]["S"]) == EVENT["task"]


def test_a_retried_invoke_records_nothing_new(aws: Aws, table: str) -> None:
    clock = FakeClock()
    record_firing(EVENT, dynamodb=aws.dynamodb, table_name=table, clock=clock)
    first = _item(aws, table)

    outcome, _ = record_firing(EVENT, dynamodb=aws.dynamodb, table_name=table, clock=clock)

    assert outcome == "duplicate"
    assert _item(aws, table) == first


@pytest.mark.parametrize(
    "event", [None, [], {}, {"execution": ""}, {"execution": EXECUTION, "task": "x"}]
)
def test_an_event_the_state_machine_does_not_send_is_refused(
    aws: Aws, table: str, event: Any
) -> None:
    with pytest.raises(MalformedFiring):
        record_firing(event, dynamodb=aws.dynamodb, table_name=table, clock=FakeClock())


def test_the_handler_returns_the_record_as_the_execution_output(aws: Aws, table: str) -> None:
    settings = DelayedTaskSettings(dynamodb=aws.dynamodb, table_name=table, clock=FakeClock())

    result = handle(EVENT, settings)

    assert result["outcome"] == "recorded" and result["execution"] == EXECUTION
    assert result["fired_at"] == _item(aws, table)["fired_at"]["S"]


def test_iso_utc_ms_is_a_z_time_with_milliseconds() -> None:
    assert iso_utc_ms(1_780_000_000_123) == "2026-05-28T20:26:40.123Z"
