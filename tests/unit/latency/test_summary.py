"""Summaries: nearest-rank percentiles, failed iterations left out, negative values kept."""

from __future__ import annotations

from serverless_testbed.latency.stages import STAGE_NAMES, Breakdown
from serverless_testbed.latency.summary import nearest_rank, stats, summarize


def item(iteration: int, total: float, status: str = "SUCCEEDED", skew: float = 0.0) -> Breakdown:
    stages: dict[str, float | None] = dict.fromkeys(STAGE_NAMES, 1.0)
    stages["worker_trigger"] = skew
    return Breakdown(
        iteration=iteration,
        status=status,
        total_ms=total,
        stages=stages,
        residual_ms=0.5,
        queue="q",
        execution_arn="arn",
        message_id="m",
        error=None if status == "SUCCEEDED" else "E",
        message_times={},
    )


def test_nearest_rank_percentiles_pick_real_samples() -> None:
    values = list(range(1, 11))
    assert nearest_rank(values, 50) == 5
    assert nearest_rank(values, 90) == 9
    assert nearest_rank(values, 99) == 10
    assert nearest_rank([7.0], 50) == 7.0


def test_stats_of_nothing_is_none() -> None:
    assert stats([]) is None


def test_failed_iterations_never_enter_a_summary() -> None:
    summary = summarize([item(1, 100.0), item(2, 10_000.0, status="FAILED"), item(3, 300.0)])
    assert summary["total"].count == 2
    assert summary["total"].max == 300.0
    assert summary["total"].avg == 200.0


def test_negative_stage_values_are_summarized_as_they_are() -> None:
    summary = summarize([item(1, 10.0, skew=-4.0), item(2, 10.0, skew=2.0)])
    assert summary["worker_trigger"].min == -4.0
    assert summary["worker_trigger"].avg == -1.0
    assert summary["residual"].avg == 0.5
