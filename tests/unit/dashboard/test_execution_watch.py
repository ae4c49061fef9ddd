"""ExecutionWatch over a Step Functions stand-in that lists and describes as the service
does (newest first, pages of maxResults with a nextToken), so each sample's counts can be
checked against executions started and ended between the looks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from serverless_testbed.dashboard.executions import ExecutionWatch

T0 = datetime(2026, 12, 1, tzinfo=UTC)
ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:sm"


class ExecutionDoesNotExist(Exception):
    pass


class StepFunctionsStandIn:
    class exceptions:
        ExecutionDoesNotExist = ExecutionDoesNotExist

    def __init__(self) -> None:
        self.executions: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.page_sizes: list[int] = []  # maxResults of each unfiltered listing

    def start(self, name: str, at_s: float) -> str:
        arn = f"{ARN.replace(':stateMachine:', ':execution:')}:{name}"
        start = T0 + timedelta(seconds=at_s)
        self.executions[arn] = {
            "executionArn": arn,
            "name": name,
            "status": "RUNNING",
            "startDate": start,
        }
        return arn

    def end(self, arn: str, at_s: float, status: str = "SUCCEEDED", **error: str) -> None:
        self.executions[arn].update(status=status, stopDate=T0 + timedelta(seconds=at_s))
        self.executions[arn]["_error"] = error

    def list_executions(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append("list")
        if "statusFilter" not in kwargs:
            self.page_sizes.append(kwargs["maxResults"])
        items = sorted(self.executions.values(), key=lambda e: e["startDate"], reverse=True)
        if "statusFilter" in kwargs:
            items = [e for e in items if e["status"] == kwargs["statusFilter"]]
        first = int(kwargs.get("nextToken", 0))
        page = items[first : first + kwargs["maxResults"]]
        answer: dict[str, Any] = {
            "executions": [{k: v for k, v in e.items() if not k.startswith("_")} for e in page]
        }
        if first + kwargs["maxResults"] < len(items):
            answer["nextToken"] = str(first + kwargs["maxResults"])
        return answer

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        self.calls.append("describe")
        if executionArn not in self.executions:
            raise ExecutionDoesNotExist(executionArn)
        execution = self.executions[executionArn]
        shown = {k: v for k, v in execution.items() if not k.startswith("_")}
        return {**shown, "input": "{}", **execution.get("_error", {})}


def watch_of(sfn: StepFunctionsStandIn, **options: Any) -> ExecutionWatch:
    return ExecutionWatch(sfn, ARN, **options)


def test_the_first_look_counts_what_runs_and_nothing_that_ended_before_it() -> None:
    sfn = StepFunctionsStandIn()
    sfn.end(sfn.start("old", 0), 1)
    sfn.start("long", 2)
    sample = watch_of(sfn).sample()
    assert (sample.running, sample.started, sum(sample.ended.values())) == (1, 0, 0)


def test_executions_started_and_ended_between_looks_count_once_each() -> None:
    sfn = StepFunctionsStandIn()
    watch = watch_of(sfn)
    watch.sample()
    for n in range(5):
        sfn.end(sfn.start(f"e{n}", 10 + n), 10.25 + n)
    still_running = sfn.start("running", 20)
    second = watch.sample()
    assert (second.started, second.ended["SUCCEEDED"], second.running) == (6, 5, 1)
    assert sorted(second.durations_ms) == [250.0] * 5
    sfn.end(still_running, 21.5)
    third = watch.sample()
    assert (third.started, third.ended["SUCCEEDED"], third.running) == (0, 1, 0)
    assert third.durations_ms == [1500.0]
    fourth = watch.sample()
    assert (fourth.started, sum(fourth.ended.values())) == (0, 0)


def test_a_long_run_that_ends_beyond_the_listing_cap_is_described_and_counted() -> None:
    sfn = StepFunctionsStandIn()
    long_run = sfn.start("long", 0)
    watch = watch_of(sfn, page_size=2, max_pages=1)
    watch.sample()
    for n in range(4):  # newer than the long run: the one page listed holds none of it
        sfn.end(sfn.start(f"short{n}", 5 + n), 5.1 + n)
    sfn.end(long_run, 9, status="FAILED", error="Boom", cause="it broke")
    sample = watch.sample()
    assert sample.ended == {"SUCCEEDED": 2, "FAILED": 1}  # the cap hid two short ones
    assert sample.truncated
    assert [(f.name, f.error, f.cause) for f in watch.failures] == [("long", "Boom", "it broke")]


def test_failures_keep_their_error_and_cause_newest_first_within_the_describe_budget() -> None:
    sfn = StepFunctionsStandIn()
    watch = watch_of(sfn, describe_budget=2)
    watch.sample()
    for n in range(3):
        sfn.end(sfn.start(f"f{n}", 1 + n), 1.5 + n, status="FAILED", error=f"E{n}", cause="c")
    watch.sample()
    assert [(f.name, f.error) for f in watch.failures] == [("f0", None), ("f1", "E1"), ("f2", "E2")]
    assert sfn.calls.count("describe") == 2
    watch.sample()
    assert (watch.failures[0].name, watch.failures[0].error) == ("f0", "E0")


def test_an_execution_forgotten_by_the_service_is_not_counted() -> None:
    sfn = StepFunctionsStandIn()
    arn = sfn.start("forgotten", 0)
    watch = watch_of(sfn, page_size=1, max_pages=1)
    watch.sample()
    sfn.start("newer", 1)
    del sfn.executions[arn]  # ended and dropped by retention between the looks
    sample = watch.sample()
    assert (sum(sample.ended.values()), sample.running) == (0, 1)


def test_a_look_asks_for_a_first_page_the_size_of_what_changed_last_time() -> None:
    sfn = StepFunctionsStandIn()
    watch = watch_of(sfn)
    watch.sample()
    for n in range(300):
        sfn.end(sfn.start(f"e{n}", n / 100), n / 100 + 0.05)
    sfn.page_sizes.clear()
    assert watch.sample().ended["SUCCEEDED"] == 300
    watch.sample()  # nothing new: the next look asks for twice the 300 it listed
    watch.sample()  # nothing new again: back to the smallest page
    assert sfn.page_sizes == [20, 1000, 600, 20]


def test_a_run_missing_from_a_lagging_running_listing_is_counted_when_it_really_ends() -> None:
    sfn = StepFunctionsStandIn()
    arn = sfn.start("slow", 0)
    watch = watch_of(sfn)
    watch.sample()
    listed = sfn.list_executions

    def lagging(**kwargs: Any) -> dict[str, Any]:  # the RUNNING listing misses it once
        answer = listed(**kwargs)
        if kwargs.get("statusFilter") == "RUNNING":
            answer["executions"] = [e for e in answer["executions"] if e["executionArn"] != arn]
        return answer

    sfn.list_executions = lagging  # type: ignore[method-assign]
    assert sum(watch.sample().ended.values()) == 0
    sfn.list_executions = listed  # type: ignore[method-assign]
    sfn.end(arn, 30)
    assert watch.sample().ended == {"SUCCEEDED": 1}


def test_a_look_that_fails_part_way_leaves_its_counts_to_the_next_look() -> None:
    sfn = StepFunctionsStandIn()
    watch = watch_of(sfn)
    watch.sample()
    for n in range(3):
        sfn.end(sfn.start(f"f{n}", n), n + 0.5, status="FAILED", error="E", cause="c")
    described = sfn.describe_execution

    def throttled(**kwargs: Any) -> dict[str, Any]:
        raise RuntimeError("ThrottlingException: Rate exceeded")

    sfn.describe_execution = throttled  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        watch.sample()  # counted the three, then failed describing them
    sfn.describe_execution = described  # type: ignore[method-assign]
    sample = watch.sample()
    assert sample.ended == {"FAILED": 3}
    assert [(f.name, f.error) for f in watch.failures] == [("f0", "E"), ("f1", "E"), ("f2", "E")]


@pytest.mark.parametrize("looks_before", [0, 1])
def test_a_run_that_starts_between_the_two_listings_is_counted_when_it_ends(
    looks_before: int,
) -> None:
    """On the first look (which only learns what runs) as on a later one."""
    sfn = StepFunctionsStandIn()
    watch = watch_of(sfn)
    for _ in range(looks_before):
        watch.sample()
    listed = sfn.list_executions
    started: list[str] = []

    def start_after_the_running_listing(**kwargs: Any) -> dict[str, Any]:
        answer = listed(**kwargs)
        if kwargs.get("statusFilter") == "RUNNING" and not started:
            started.append(sfn.start("between", 5))
        return answer

    sfn.list_executions = start_after_the_running_listing  # type: ignore[method-assign]
    first = watch.sample()
    assert (first.started, first.running) == (looks_before, 0)
    sfn.list_executions = listed  # type: ignore[method-assign]
    sfn.end(started[0], 6)
    assert watch.sample().ended == {"SUCCEEDED": 1}
