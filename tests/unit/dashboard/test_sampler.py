"""The sampler's snapshot: rates over the time between looks, totals since the first look,
one line per source that could not be read, and the Markdown of `--once`."""

from __future__ import annotations

from typing import Any

from serverless_testbed.dashboard.executions import ExecutionWatch
from serverless_testbed.dashboard.report import markdown
from serverless_testbed.dashboard.sampler import Sampler, Watches, percentiles

from .test_execution_watch import ARN, StepFunctionsStandIn


class BrokenQueues:
    def sample(self) -> dict[str, Any]:
        raise RuntimeError("ThrottlingException: Rate exceeded\nsecond line")


def test_percentiles_of_nothing_one_value_and_many() -> None:
    assert percentiles([]) == {}
    assert percentiles([7.0]) == {"p50": 7.0, "p90": 7.0, "p99": 7.0, "max": 7.0}
    spread = percentiles([float(n) for n in range(1, 101)])
    assert (spread["p50"], spread["p90"], spread["max"]) == (50.5, 90.1, 100.0)


def test_rates_are_per_second_of_the_time_between_looks_and_totals_add_up() -> None:
    sfn = StepFunctionsStandIn()
    now = [1000.0]
    sampler = Sampler(
        Watches(state_machines={"pipeline": ExecutionWatch(sfn, ARN)}, queues=BrokenQueues()),  # type: ignore[arg-type]
        interval_s=2.0,
        about={"stack": "s", "target": "embedded", "region": "r"},
        clock=lambda: now[0],
    )
    sampler.sample_now()
    for n in range(4):
        sfn.end(sfn.start(f"e{n}", n), n + 0.1)
    sfn.end(sfn.start("bad", 5), 5.2, status="FAILED", error="E", cause="C")
    now[0] += 2.0
    second = sampler.sample_now()
    pipeline = second["state_machines"]["pipeline"]
    assert pipeline["ended_per_s"] == {"SUCCEEDED": 2.0, "FAILED": 0.5}
    assert pipeline["totals"] == {"started": 5, "SUCCEEDED": 4, "FAILED": 1}
    assert pipeline["recent_failures"][0]["error"] == "E"
    assert second["errors"] == {
        "queues": "RuntimeError: ThrottlingException: Rate exceeded second line"
    }
    assert sampler.wait_for_next(second["sequence"] - 1, timeout=0) == second
    text = markdown(second)
    assert "| pipeline | 0 | 2.5 | FAILED 0.5, SUCCEEDED 2.0 | 100.0 |" in text
    assert "- queues could not be read: RuntimeError" in text


def test_on_aws_a_look_every_default_interval_stays_within_half_of_list_executions_refill() -> None:
    """2/s is ListExecutions' refill outside us-east-1, us-west-2 and eu-west-1, per account."""
    from serverless_testbed.dashboard.commands import default_interval

    state_machines, listings_per_look = 2, 2
    calls_per_s = state_machines * listings_per_look / default_interval("aws")
    assert calls_per_s <= 2 / 2
    assert default_interval("embedded") == default_interval("containers") == 1.0
