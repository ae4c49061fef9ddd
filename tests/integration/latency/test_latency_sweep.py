"""`testbed latency --concurrency 1,4`: a sweep on the embedded stack, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

from serverless_testbed.latency.report import read_tables
from serverless_testbed.latency.stages import STAGE_NAMES

from .cli import run_testbed


def test_a_sweep_prints_one_row_per_level_and_writes_json_and_a_plot(tmp_path: Path) -> None:
    completed = run_testbed(
        "latency", "--concurrency", "1,4", "--repeat", "4",
        "--json", str(tmp_path / "sweep.json"), "--plot", str(tmp_path / "sweep.png"),
        cwd=tmp_path,
    )  # fmt: skip

    assert completed.returncode == 0, completed.stderr
    tables = read_tables(completed.stdout)
    assert [t.title for t in tables] == ["Concurrency Sweep", "Stages by Level"]
    assert all(t.well_formed for t in tables)
    sweep, stages = tables
    assert [row[0] for row in sweep.rows] == ["1", "4"]
    assert all(row[1] == "4" and float(row[2]) > 0 and row[-1] == "0" for row in sweep.rows)
    assert [row[0] for row in stages.rows] == [*STAGE_NAMES, "residual", "total"]
    document = json.loads((tmp_path / "sweep.json").read_text())
    assert [level["concurrency"] for level in document["levels"]] == [1, 4]
    for level in document["levels"]:
        assert level["failures"] == {}
        assert level["throughput_per_s"] > 0
        assert [i["status"] for i in level["iterations"]] == ["SUCCEEDED"] * 4
        assert set(level["stages_p50_ms"]) == set(STAGE_NAMES)
    assert (tmp_path / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_single_level_keeps_its_report_and_adds_a_throughput_line(tmp_path: Path) -> None:
    completed = run_testbed("latency", "--repeat", "2", cwd=tmp_path)

    assert completed.returncode == 0, completed.stderr
    assert "- N: 2 (sequential)" in completed.stdout
    assert "executions/s (first send to last answer)" in completed.stdout


def test_a_level_below_1_or_not_a_number_is_a_usage_error(tmp_path: Path) -> None:
    for levels in ("1,0", "1,x"):
        completed = run_testbed("latency", "--concurrency", levels, cwd=tmp_path)
        assert completed.returncode == 2, completed.stderr
        assert "--concurrency" in completed.stderr
