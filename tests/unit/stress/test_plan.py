"""`testbed publish --plan`: the schedule's own numbers, without Redis, validated like a run."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from serverless_testbed.cli import main
from serverless_testbed.stress.publish.plan import plan_rows, render_plan
from serverless_testbed.stress.publish.schedule import build_schedule
from serverless_testbed.stress.traffic import load_files, load_traffic

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "stress"
UNREACHABLE_REDIS = "127.0.0.1:1"  # nothing listens there: --plan must not try


def test_the_plan_lists_each_task_with_start_end_and_total() -> None:
    schedule = build_schedule(load_traffic(EXAMPLES / "traffic.json"), start_second=13 * 3600)
    rows = plan_rows(schedule)
    assert [(r.key, r.action, r.start_s, r.end_s, r.total) for r in rows] == [
        ("0", "putItem", 0, 5, 10_000),
        ("1.0", "updateItem", 5, 15, 10_000),
        ("1.1", "query", 5, 15, 5_000),
        ("2", "getItem", 15, 20, 5_000),
    ]
    assert rows[2].seed == "random (drawn at start)" and rows[0].seed == "1"


def test_a_profile_is_planned_hour_by_hour_from_the_start_hour() -> None:
    schedule = build_schedule(load_traffic(EXAMPLES / "traffic-24h.json"), start_second=48600)
    (row,) = plan_rows(schedule)
    hours = row.hours
    assert [h.clock for h in hours[:3]] == ["13:00", "14:00", "15:00"]
    assert len(hours) == 25 and hours[-1].clock == "13:00"  # 13:30 to 13:30 the next day
    assert hours[0].end_s - hours[0].start_s == 1800
    assert hours[0].count == 988_740  # 1000 qps x 0.5493 x 1800 s
    assert hours[1].count == 1_571_760  # 1000 x 0.4366 x 3600
    assert sum(h.count for h in hours) == row.total
    zero_hour = next(h for h in hours if h.clock == "01:00")  # 0 in the file: smoothed
    assert zero_hour.count == 3600 * (7042 + (7746 - 7042) // 4) // 10  # 1/4 of the way


def test_the_markdown_plan_shows_the_tables(tmp_path: Path) -> None:
    config, traffic = load_files(EXAMPLES / "config.json", EXAMPLES / "traffic-24h.json")
    text = render_plan(
        build_schedule(traffic, start_second=Fraction(0)), config, traffic_name="t", prefix="dst"
    )
    assert "| 0 | " in text and "24:00:00.00" in text
    assert "## Task 0 (query): operations per hour of the profile" in text
    assert "| 10:00 | +10:00:00.00 | +11:00:00.00 | 3,600,000 | 1,000.0 |" in text


def test_plan_runs_without_redis_and_can_write_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_file = tmp_path / "plan.json"
    code = main(
        [
            "publish",
            "--redis",
            UNREACHABLE_REDIS,
            "--config",
            str(EXAMPLES / "config.json"),
            "--traffic",
            str(EXAMPLES / "traffic.json"),
            "--plan-json",
            str(plan_file),
            "--start-hour",
            "6",
        ]
    )
    assert code == 0
    assert "30,000 operations in all" in capsys.readouterr().out
    plan = json.loads(plan_file.read_text())
    assert (plan["total"], plan["start_second_of_day"], plan["queues"]) == (30_000, 21600.0, 4)
    assert [(t["key"], t["start_s"], t["end_s"]) for t in plan["tasks"]][1] == ("1.0", 5.0, 15.0)


def test_plan_rejects_a_bad_file_exactly_like_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    traffic = tmp_path / "traffic.json"
    traffic.write_text(json.dumps([{"action": "query", "qps": 1, "qpss": [0] * 24, "times": 1}]))
    args = ["publish", "--config", str(EXAMPLES / "config.json"), "--traffic", str(traffic)]
    for extra in (["--plan"], ["--redis", UNREACHABLE_REDIS]):
        assert main([*args, *extra]) == 2
        error = capsys.readouterr().err.strip()
        assert error == (
            f"testbed publish: error: {traffic}[0].qpss: all 24 hourly factors are 0: "
            "at least one hour must be non-zero"
        )


def test_a_run_without_redis_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--config", str(EXAMPLES / "config.json"), "--traffic", str(EXAMPLES / "traffic.json")]
    assert main(["publish", *args]) == 2
    assert "--redis is required" in capsys.readouterr().err


def test_a_profile_longer_than_a_week_sums_the_rest_in_one_row(tmp_path: Path) -> None:
    path = tmp_path / "traffic.json"
    path.write_text(
        json.dumps([{"action": "query", "qps": 10, "qpss": [1.0] * 24, "duration": 10 * 86400}])
    )
    (row,) = plan_rows(build_schedule(load_traffic(path)))
    assert len(row.hours) == 7 * 24 + 1
    assert row.hours[-1].clock == "later" and row.hours[-1].count == 3 * 86400 * 10
    assert sum(h.count for h in row.hours) == row.total == 10 * 86400 * 10
