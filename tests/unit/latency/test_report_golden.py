"""The report, rendered from fixed observations, is exactly the golden files."""

from __future__ import annotations

from serverless_testbed.latency.report import read_tables, render
from tests.unit.latency.golden_files import (
    GOLDEN,
    RUN_INFO,
    golden_breakdowns,
    rendered_json,
    rendered_markdown,
)


def test_the_markdown_report_matches_the_golden_file() -> None:
    assert rendered_markdown() == (GOLDEN / "report.md").read_text()


def test_the_json_report_matches_the_golden_file() -> None:
    assert rendered_json() == (GOLDEN / "report.json").read_text()


def test_every_table_of_the_golden_report_is_well_formed() -> None:
    tables = read_tables((GOLDEN / "report.md").read_text())
    assert [t.title for t in tables] == [
        "Latency Breakdown (ms)",
        "Cold Start (iter=1)",
        "Warm Summary (iter=2..8)",
        "All Summary (iter=1..8)",
    ]
    assert all(t.well_formed for t in tables)


def test_a_table_with_a_short_row_is_not_well_formed() -> None:
    text = "## T\n\n| a | b |\n|---|---:|\n| 1 |\n"
    assert not read_tables(text)[0].well_formed


def test_a_single_iteration_has_a_cold_start_and_no_warm_summary() -> None:
    first = golden_breakdowns()[:1]
    tables = read_tables(render(RUN_INFO, first))
    assert [t.title for t in tables] == [
        "Latency Breakdown (ms)",
        "Cold Start (iter=1)",
        "All Summary (iter=1..1)",
    ]
    assert "no warm iteration (N=1)" in render(RUN_INFO, first)
