"""The sweep's arithmetic and report, from the golden observations."""

from __future__ import annotations

import json
from dataclasses import replace

from serverless_testbed.latency import sweep
from serverless_testbed.latency.report import read_tables
from serverless_testbed.latency.stages import STAGE_NAMES, Observation, breakdown
from tests.unit.latency.golden_files import GOLDEN, RUN_INFO


def observations() -> list[Observation]:
    raw = json.loads((GOLDEN / "observations.json").read_text())
    return [Observation.from_json(item) for item in raw]


def test_throughput_counts_succeeded_executions_over_first_send_to_last_answer() -> None:
    seen = observations()
    items = [breakdown(o) for o in seen]
    window_s = (max(o.client_received for o in seen) - min(o.client_sent for o in seen)) / 1000
    succeeded = sum(1 for item in items if item.succeeded)
    assert sweep.throughput_per_s(seen, items) == succeeded / window_s


def test_failures_are_counted_by_kind() -> None:
    seen = observations()
    refused = replace(seen[0], http_status=429, body={"message": "Too Many Requests"})
    unanswered = replace(seen[1], http_status=None, body={}, error="POST failed: reset")
    items = [breakdown(o) for o in (refused, unanswered)]
    level = sweep.Level(4, items, 1.0)
    assert level.failures == {"ERROR": 1, "HTTP_429": 1}


def test_the_sweep_report_has_a_row_per_level_and_a_column_per_level_for_stages() -> None:
    items = [breakdown(o) for o in observations()]
    levels = [sweep.Level(1, items, 10.0), sweep.Level(4, items, 25.0)]
    info = replace(RUN_INFO, repeat=len(items))
    tables = read_tables(sweep.render(info, levels))
    assert [t.title for t in tables] == ["Concurrency Sweep", "Stages by Level"]
    assert all(t.well_formed for t in tables)
    assert [row[:3] for row in tables[0].rows] == [
        ["1", str(len(items)), "10.0"],
        ["4", str(len(items)), "25.0"],
    ]
    assert tables[1].header == ["stage (p50 ms)", "1 in flight", "4 in flight"]
    assert [row[0] for row in tables[1].rows] == [*STAGE_NAMES, "residual", "total"]
    document = sweep.to_json(info, levels)
    assert [level["concurrency"] for level in document["levels"]] == [1, 4]
    assert document["levels"][1]["throughput_per_s"] == 25.0
    assert len(document["levels"][0]["iterations"]) == len(items)
