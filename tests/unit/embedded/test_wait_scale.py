"""The wait-scale patch of moto's Step Functions Wait: the value checks, a loud failure when
moto moved the method, and a scaled wait that still ends when the execution stops."""

from __future__ import annotations

import math
import threading
import time
import types
from typing import Any

import pytest

from serverless_testbed.embedded.moto import wait_scale
from serverless_testbed.errors import UsageError


@pytest.mark.parametrize("value", [0, -1, "0", math.inf, math.nan, "nan", "fast", None])
def test_a_scale_must_be_a_finite_number_above_zero(value: Any) -> None:
    with pytest.raises(UsageError, match="wait scale") as raised:
        wait_scale.checked_wait_scale(value)
    assert repr(value) in str(raised.value)


def test_a_missing_moto_method_is_a_loud_error_not_a_silent_no_op(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    empty = types.ModuleType("empty")
    monkeypatch.setattr(wait_scale, "_original", None)
    monkeypatch.setattr(wait_scale.importlib, "import_module", lambda name: empty)

    with pytest.raises(wait_scale.WaitScalePatchDoesNotFit, match="_wait_interval not found"):
        wait_scale.set_wait_scale(0.5)
    assert wait_scale.wait_scale() == 1.0


class _Env:
    """What the patched method reads of moto's Environment."""

    def __init__(self) -> None:
        self.program_state_event = threading.Event()
        self.running = True

    def is_running(self) -> bool:
        return self.running


@pytest.fixture
def scaled() -> Any:
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
        WaitFunction,
    )

    wait_scale.set_wait_scale(0.001)
    yield WaitFunction
    wait_scale.set_wait_scale(1.0)


def test_a_scaled_wait_takes_the_scaled_time(scaled: Any) -> None:
    began = time.monotonic()
    scaled._wait_interval(object(), _Env(), 200)  # 200 s scaled: 0.2 s
    assert time.monotonic() - began >= 0.2


def test_a_stopped_execution_ends_a_scaled_wait(scaled: Any) -> None:
    env = _Env()

    def stop() -> None:
        env.running = False
        env.program_state_event.set()

    threading.Timer(0.05, stop).start()
    done = threading.Event()
    threading.Thread(
        target=lambda: (scaled._wait_interval(object(), env, 3_600_000), done.set()), daemon=True
    ).start()  # an hour scaled is 3600 s: only the stop can end it
    assert done.wait(timeout=10), "the wait ended when the execution stopped"


def test_a_timestamp_wait_counts_from_utc_whatever_the_host_time_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import UTC, datetime, timedelta

    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp import (
        Timestamp,
    )

    from serverless_testbed.embedded.moto import timestamp_wait

    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        timestamp_wait.install()
        in_an_hour = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        env = types.SimpleNamespace(stack=[])
        expression = types.SimpleNamespace(eval=lambda env: env.stack.append(in_an_hour))
        wait = Timestamp.__new__(Timestamp)
        object.__setattr__(wait, "string", expression)

        seconds = wait._get_wait_seconds(env)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()

    assert 3590 <= seconds <= 3600  # moto's own counted from local time: about -7 hours here
