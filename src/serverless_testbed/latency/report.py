"""The run's report: Markdown tables, message log lines, the result-file header, JSON."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from serverless_testbed.latency.stages import STAGE_NAMES, STAGES, Breakdown
from serverless_testbed.latency.summary import PERCENTILES, ROWS, row_value, summarize
from serverless_testbed.pipeline import contract


@dataclass(frozen=True)
class RunInfo:
    target: str
    stack: str
    region: str
    repeat: int
    concurrency: int
    date: str  # ISO 8601, UTC
    git_revision: str
    throughput_per_s: float | None = None  # succeeded per second, first send to last answer


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if round(value, 1) != 0 else "0.0"  # never "-0.0"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    separator = "|---|" + "|".join("---:" for _ in header[1:]) + "|"
    lines = ["| " + " | ".join(header) + " |", separator]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def breakdown_table(items: Sequence[Breakdown]) -> list[str]:
    header = ["iter", *STAGE_NAMES, "residual", "total", "status"]
    rows = []
    for item in items:
        cells = [ms(item.stages[name]) for name in STAGE_NAMES]
        status = "ok" if item.succeeded else f"failed ({item.status})"
        rows.append([str(item.iteration), *cells, ms(item.residual_ms), ms(item.total_ms), status])
    return ["## Latency Breakdown (ms)", "", *table(header, rows)]


def cold_start_table(items: Sequence[Breakdown]) -> list[str]:
    lines = ["## Cold Start (iter=1)", ""]
    first = next((item for item in items if item.iteration == 1), None)
    if first is None:
        return [*lines, "no iteration 1"]
    if not first.succeeded:
        return [*lines, f"iteration 1 failed ({first.status}): {first.error}"]
    rows = [[row, ms(row_value(first, row))] for row in ROWS]
    return [*lines, *table(["stage", "ms"], rows)]


def summary_table(title: str, items: Sequence[Breakdown]) -> list[str]:
    failed = sum(1 for item in items if not item.succeeded)
    succeeded = len(items) - failed
    lines = [f"## {title}", "", f"{succeeded} succeeded, {failed} failed (failed not included)", ""]
    if not succeeded:
        return lines[:-1]
    header = ["stage", "avg", "min", "max", *(f"p{p}" for p in PERCENTILES)]
    rows = []
    for row, st in summarize(items).items():
        if st is None:
            rows.append([row, *("-" for _ in header[1:])])
        else:
            rows.append(
                [
                    row,
                    ms(st.avg),
                    ms(st.min),
                    ms(st.max),
                    *(ms(st.percentiles[p]) for p in PERCENTILES),
                ]
            )
    return [*lines, *table(header, rows)]


def iso(epoch_ms: float | None) -> str:
    if epoch_ms is None:
        return "-"
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def message_log_lines(items: Sequence[Breakdown]) -> list[str]:
    """One line per SQS message: its send and receive timestamps and the queue's name."""
    lines = []
    for item in items:
        times = item.message_times
        lines.append(
            f"iter={item.iteration} queue={item.queue or '-'} message_id={item.message_id or '-'} "
            f"sent={iso(times.get(contract.MESSAGE_SENT))} "
            f"sqs_sent={iso(times.get(contract.SQS_SENT))} "
            f"received={iso(times.get(contract.SQS_FIRST_RECEIVE))} "
            f"worker_start={iso(times.get(contract.WORKER_START))} status={item.status}"
            + ("" if item.succeeded else f" error={item.error}")
        )
    return lines


def header_lines(info: RunInfo) -> list[str]:
    label = "sequential" if info.concurrency == 1 else f"concurrency={info.concurrency}"
    return [
        f"# Latency run: {info.target} / {info.stack}",
        "",
        f"- target: {info.target}",
        f"- stack: {info.stack}",
        f"- region: {info.region}",
        f"- date: {info.date}",
        f"- N: {info.repeat} ({label})",
        f"- git revision: {info.git_revision}",
        *(
            [f"- throughput: {info.throughput_per_s:.1f} executions/s (first send to last answer)"]
            if info.throughput_per_s is not None
            else []
        ),
    ]


def clock_note() -> str:
    crossing = ", ".join(stage.name for stage in STAGES if stage.crosses_hosts)
    return (
        "Stages whose two ends are stamped by different services (on AWS: different hosts' "
        f"clocks, so skew shows and a value may be negative): {crossing}."
    )


def render(info: RunInfo, items: Sequence[Breakdown]) -> str:
    """The whole block: header, tables, message log (what --result-file appends)."""
    warm = [item for item in items if item.iteration >= 2]
    n = max((item.iteration for item in items), default=0)
    sections = [
        header_lines(info),
        breakdown_table(items),
        cold_start_table(items),
        summary_table(f"Warm Summary (iter=2..{n})", warm)
        if n > 1
        else ["## Warm Summary", "", "no warm iteration (N=1)"],
        summary_table(f"All Summary (iter=1..{n})", items),
        ["## Messages", "", "```", *message_log_lines(items), "```"],
        [clock_note()],
    ]
    return "\n\n".join("\n".join(section) for section in sections) + "\n"


def to_json(info: RunInfo, items: Sequence[Breakdown]) -> dict[str, Any]:
    return {
        "target": info.target,
        "stack": info.stack,
        "region": info.region,
        "date": info.date,
        "concurrency": info.concurrency,
        "git_revision": info.git_revision,
        "throughput_per_s": info.throughput_per_s,
        "iterations": [
            {
                "iteration": item.iteration,
                "status": item.status,
                "total_ms": item.total_ms,
                "stages": item.stages,
                "residual_ms": item.residual_ms,
                "queue": item.queue,
                "execution_arn": item.execution_arn,
                "message_id": item.message_id,
                "error": item.error,
            }
            for item in items
        ],
    }


@dataclass(frozen=True)
class MarkdownTable:
    title: str  # the nearest "## " heading above it
    header: list[str]
    rows: list[list[str]]
    well_formed: bool  # a separator row, and every row as wide as the header


def read_tables(text: str) -> list[MarkdownTable]:
    """The Markdown tables of a report (e.g. a result.md), to check or collect them."""
    tables: list[MarkdownTable] = []
    title = ""
    block: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append(line)
            continue
        if block:
            tables.append(_table(title, block))
            block = []
        if line.startswith("## "):
            title = line[3:].strip()
    return tables


def _table(title: str, lines: list[str]) -> MarkdownTable:
    cells = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]
    header, rows = cells[0], cells[2:]
    separator_ok = len(cells) > 1 and all(set(c) <= set("-:") and c for c in cells[1])
    widths_ok = all(len(row) == len(header) for row in cells[1:])
    return MarkdownTable(title, header, rows, well_formed=separator_ok and widths_ok)
