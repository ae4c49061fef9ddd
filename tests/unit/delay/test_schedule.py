"""Input checks and fire-time arithmetic of `testbed delay` (pure logic, no stack)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from serverless_testbed.delay import schedule
from serverless_testbed.delay.commands import render
from serverless_testbed.errors import UsageError

NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "seconds"), [("0", 0), ("3600", 3600), ("7200.0", 7200)])
def test_after_takes_whole_seconds(text: str, seconds: int) -> None:
    assert schedule.parse_after(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-1", "out of range"),
        ("nan", "out of range"),
        ("inf", "out of range"),
        ("-inf", "out of range"),
        ("31536001", "at most one year"),
        ("1.5", "whole seconds"),
        ("soon", "not a number"),
        ("", "not a number"),
    ],
)
def test_after_refuses_what_a_wait_cannot_take(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as raised:
        schedule.parse_after(text)
    assert repr(text) in str(raised.value) and "\n" not in str(raised.value)


def test_at_is_converted_to_utc() -> None:
    moment = schedule.parse_at("2026-11-30T21:00:00+08:00", NOW)
    assert moment == NOW + timedelta(hours=1)
    assert schedule.iso_utc(moment) == "2026-11-30T13:00:00Z"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-11-30T11:59:59Z", "in the past"),
        ("2026-11-30T12:00:00Z", "in the past"),
        ("2026-11-30T13:00:00", "no time zone"),
        ("next tuesday", "not an ISO 8601 time"),
        ("2027-12-01T00:00:00Z", "more than one year ahead"),
    ],
)
def test_at_refuses_past_zoneless_unparsable_and_too_far(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        schedule.parse_at(text, NOW)


def test_the_execution_input_names_one_wait() -> None:
    assert schedule.DelayRequest(60, None, {"a": 1}).execution_input() == {
        "delay_seconds": 60,
        "payload": {"a": 1},
    }
    at = NOW + timedelta(hours=2, milliseconds=250)
    assert schedule.DelayRequest(None, at, None).execution_input() == {
        "fire_at": "2026-11-30T14:00:00.250Z",
        "payload": None,
    }


def test_fire_times_nominal_and_scaled() -> None:
    assert schedule.nominal_fire_time({"delay_seconds": 3600}, NOW) == NOW + timedelta(hours=1)
    assert schedule.nominal_fire_time({"fire_at": "2026-11-30T14:00:00Z"}, NOW) == NOW + (
        timedelta(hours=2)
    )
    assert schedule.nominal_fire_time({"payload": 1}, NOW) is None
    assert schedule.nominal_fire_time({"delay_seconds": True}, NOW) is None
    task = schedule.DelayedTask("arn", "RUNNING", NOW, NOW + timedelta(hours=1), 0.001, {})
    assert task.fires_at_scaled == NOW + timedelta(seconds=3.6)
    assert task.to_json()["fires_at_scaled"] == "2026-11-30T12:00:03.600Z"
    real_time = schedule.DelayedTask("arn", "RUNNING", NOW, NOW + timedelta(hours=1), 1.0, {})
    assert real_time.to_json()["fires_at_scaled"] is None


def test_payload_must_be_json() -> None:
    assert schedule.parse_payload(None) == {}
    assert schedule.parse_payload('{"k": [1]}') == {"k": [1]}
    with pytest.raises(UsageError, match="--payload is not valid JSON"):
        schedule.parse_payload("{k")


def test_render_shows_the_scaled_fire_time_only_when_scaled() -> None:
    task = schedule.DelayedTask("arn:x", "RUNNING", NOW, NOW + timedelta(hours=1), 0.001, {})
    result = {
        "action": "list",
        "target": "embedded",
        "stack": "testbed",
        "state_machine_arn": "arn:sm",
        "wait_scale": 0.001,
        "delays": [task.to_json()],
    }
    text = render(result)
    assert "| arn:x | RUNNING | 2026-11-30T12:00:00Z | 2026-11-30T13:00:00Z | " in text
    assert "fires at (x0.001)" in text and "2026-11-30T12:00:03.600Z" in text
    plain = render(result | {"wait_scale": 1.0, "delays": []})
    assert "(x" not in plain and "(none)" in plain
