"""Stage arithmetic: the chain of timestamps, telescoping stages, the explicit residual."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from serverless_testbed.latency.stages import (
    CHAIN,
    STAGE_NAMES,
    STAGES,
    Observation,
    breakdown,
)
from serverless_testbed.pipeline import contract

T0 = 1_800_000_000_000.0
HISTORY = ("ExecutionStarted", "TaskScheduled", "TaskSucceeded", "ExecutionSucceeded")


def observation(
    points: dict[str, float], *, elapsed_ms: float | None = None, status: int = 200, **body
) -> Observation:
    """An observation holding ``points`` (chain name -> epoch ms) where the pipeline puts them."""
    api = {
        key: points[name]
        for key, name in (("received", "api_received"), ("execution_done", "api_execution_done"))
        if name in points
    }
    timestamps = {name: points[name] for name in contract.STAGE_TIMESTAMPS if name in points}
    return Observation(
        iteration=1,
        client_sent=points["client_sent"],
        client_received=points["client_received"],
        elapsed_ms=(
            elapsed_ms
            if elapsed_ms is not None
            else points["client_received"] - points["client_sent"]
        ),
        http_status=status,
        body={
            "status": "SUCCEEDED",
            "execution_arn": "arn:x",
            "output": {"queue": "q", "message_id": "m", "timestamps": timestamps},
            "api": api,
            **body,
        },
        history=[{"type": n, "timestamp_ms": points[n]} for n in HISTORY if n in points],
    )


def evenly_spaced(step_ms: float = 10.0) -> dict[str, float]:
    return {name: T0 + i * step_ms for i, (name, _) in enumerate(CHAIN)}


def test_the_chain_has_one_stage_per_gap_and_covers_every_worker_timestamp() -> None:
    assert len(STAGES) == len(CHAIN) - 1 == len(STAGE_NAMES)
    assert all(a.end == b.start for a, b in itertools.pairwise(STAGES))
    chain_names = [name for name, _ in CHAIN]
    assert set(contract.STAGE_TIMESTAMPS) <= set(chain_names)


def test_each_stage_is_the_gap_between_its_two_timestamps() -> None:
    result = breakdown(observation(evenly_spaced(10.0)))
    assert result.stages == dict.fromkeys(STAGE_NAMES, 10.0)
    assert result.residual_ms == 0.0
    assert result.succeeded


@given(st.lists(st.floats(-50, 500, allow_nan=False), min_size=len(STAGES), max_size=len(STAGES)))
def test_stages_plus_residual_always_add_up_to_the_total(gaps: list[float]) -> None:
    points, t = {}, T0
    for (name, _), gap in zip(CHAIN, [0.0, *gaps], strict=True):
        t += gap
        points[name] = t
    result = breakdown(observation(points, elapsed_ms=1234.5))
    total = sum(v for v in result.stages.values() if v is not None) + result.residual_ms
    assert total == pytest.approx(1234.5)


def test_a_missing_timestamp_leaves_its_two_stages_empty_and_its_time_in_the_residual() -> None:
    points = evenly_spaced(10.0)
    del points["api_received"]
    result = breakdown(observation(points))
    assert result.stages["api_ingress"] is None
    assert result.stages["start_execution"] is None
    assert result.residual_ms == pytest.approx(20.0)


def test_clock_skew_shows_as_a_negative_stage_and_is_not_clipped() -> None:
    points = evenly_spaced(10.0)
    for name in (contract.WORKER_START, contract.DYNAMODB_DONE, contract.CALLBACK_SENT):
        points[name] -= 25.0  # the worker's clock runs 25 ms behind
    result = breakdown(observation(points))
    assert result.stages["worker_trigger"] == pytest.approx(-15.0)
    assert result.stages["task_callback"] == pytest.approx(35.0)
    assert result.residual_ms == pytest.approx(0.0)


def test_only_stages_between_different_services_cross_hosts() -> None:
    crossing = {stage.name for stage in STAGES if stage.crosses_hosts}
    assert "dynamodb_update" not in crossing and "sqs_wait" not in crossing
    assert "sfn_schedule_task" not in crossing and "sfn_complete" not in crossing
    assert {"api_ingress", "sqs_send", "worker_trigger", "task_callback"} <= crossing


def test_only_the_first_history_event_of_a_type_counts() -> None:
    points = evenly_spaced(10.0)
    obs = observation(points)
    later = {"type": "TaskScheduled", "timestamp_ms": points["TaskScheduled"] + 500}
    result = breakdown(Observation(**{**obs.to_json(), "history": [*obs.history, later]}))
    assert result.stages["sfn_schedule_task"] == 10.0


@pytest.mark.parametrize(
    ("status", "body", "error", "expected_status", "expected_error"),
    [
        (502, {"status": "FAILED", "error": "InjectedFault", "cause": "boom"}, None, "FAILED",
         "InjectedFault: boom"),
        (504, {"status": "RUNNING", "error": "ExecutionDeadlineExceeded"}, None, "TIMED_OUT",
         "ExecutionDeadlineExceeded"),
        (400, {"error": "InvalidRequest", "message": "bad"}, None, "HTTP_400", "InvalidRequest"),
        (None, {}, "POST x failed: refused", "ERROR", "POST x failed: refused"),
        (500, {"status": "SUCCEEDED"}, None, "HTTP_500", "HTTP 500"),
    ],
)  # fmt: skip
def test_anything_but_a_200_with_a_succeeded_execution_is_a_failed_iteration(
    status: int | None, body: dict, error: str | None, expected_status: str, expected_error: str
) -> None:
    obs = Observation(
        iteration=3,
        client_sent=T0,
        client_received=T0 + 5,
        elapsed_ms=5.0,
        http_status=status,
        body=body,
        error=error,
    )
    result = breakdown(obs)
    assert (result.status, result.error) == (expected_status, expected_error)
    assert not result.succeeded


def test_an_observation_survives_a_json_round_trip() -> None:
    obs = observation(evenly_spaced())
    assert Observation.from_json(obs.to_json()) == obs
