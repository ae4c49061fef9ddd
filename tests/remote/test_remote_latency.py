"""The seed's remote test: REPEAT executions of the deployed pipeline, one after another,
each through POST {ApiUrl}/run, measured and split into stages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from serverless_testbed.deployment import Deployment
from serverless_testbed.latency import report, runner
from serverless_testbed.latency.stages import STAGE_NAMES, STAGES, Breakdown, breakdown

pytestmark = pytest.mark.remote


@pytest.fixture(scope="module")
def measured(remote_deployment: Deployment, repeat: int) -> list[Breakdown]:
    observations = runner.run(remote_deployment, repeat=repeat)
    return [breakdown(observation) for observation in observations]


@pytest.fixture(scope="module")
def rendered(remote_deployment: Deployment, repeat: int, measured: list[Breakdown]) -> str:
    info = report.RunInfo(
        target=remote_deployment.target,
        stack=remote_deployment.stack_name,
        region=remote_deployment.region,
        repeat=repeat,
        concurrency=1,
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        git_revision="remote-test",
    )
    text = report.render(info, measured)
    print(text)  # shown with `pytest -s` / `tox -e remote -- -s`
    return text


def test_every_execution_succeeds(measured: list[Breakdown], repeat: int) -> None:
    assert len(measured) == repeat
    failed = [f"iter={m.iteration} {m.status}: {m.error}" for m in measured if not m.succeeded]
    assert not failed, failed


def test_every_stage_is_measured_in_every_execution(measured: list[Breakdown]) -> None:
    missing = [
        f"iter={m.iteration} {name}"
        for m in measured
        for name, value in m.stages.items()
        if value is None
    ]
    assert not missing, f"stages without a timestamp: {missing}"


def test_stages_read_on_one_clock_are_not_negative(measured: list[Breakdown]) -> None:
    same_clock = [stage.name for stage in STAGES if not stage.crosses_hosts]
    negative = [
        f"iter={m.iteration} {name}={m.stages[name]:.3f}"
        for m in measured
        for name in same_clock
        if m.stages[name] is not None and m.stages[name] < 0
    ]
    assert not negative, negative


def test_each_message_is_logged_with_its_queue(
    measured: list[Breakdown], remote_deployment: Deployment
) -> None:
    lines = report.message_log_lines(measured)
    assert len(lines) == len(measured)
    for line in lines:
        assert f"queue={remote_deployment.queue_name} " in line
        assert "sent=-" not in line and "received=-" not in line


def test_report_tables_are_well_formed(rendered: str, repeat: int) -> None:
    tables = {table.title: table for table in report.read_tables(rendered)}
    assert (
        list(tables)
        == [
            "Latency Breakdown (ms)",
            "Cold Start (iter=1)",
            f"Warm Summary (iter=2..{repeat})",
            f"All Summary (iter=1..{repeat})",
        ][: len(tables)]
    )
    assert all(table.well_formed for table in tables.values())
    per_iteration = tables["Latency Breakdown (ms)"]
    assert per_iteration.header[1 : 1 + len(STAGE_NAMES)] == list(STAGE_NAMES)
    assert [row[0] for row in per_iteration.rows] == [str(i) for i in range(1, repeat + 1)]
    for row in per_iteration.rows:
        float(row[per_iteration.header.index("total")])
