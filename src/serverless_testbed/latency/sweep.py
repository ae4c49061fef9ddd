"""A concurrency sweep: the same run at several levels of executions in flight.

Per level: throughput (succeeded executions per second, from the first request sent to the
last answer received), p50/p90/p99 end to end, failures by kind, and each stage's p50, so the
stage that grows first as the level rises (the one that saturates) stands out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from serverless_testbed.latency.report import RunInfo, header_lines, ms, table
from serverless_testbed.latency.stages import STAGE_NAMES, Breakdown, Observation
from serverless_testbed.latency.summary import PERCENTILES, TOTAL, Stats, summarize


def throughput_per_s(observations: Sequence[Observation], items: Sequence[Breakdown]) -> float:
    """Succeeded executions per second of wall time, first send to last answer."""
    if not observations:
        return 0.0
    first_sent = min(o.client_sent for o in observations)
    last_answer = max(o.client_received for o in observations)
    succeeded = sum(1 for item in items if item.succeeded)
    return succeeded / max((last_answer - first_sent) / 1000, 1e-9)


@dataclass(frozen=True)
class Level:
    concurrency: int
    items: list[Breakdown]
    throughput_per_s: float

    @property
    def failures(self) -> dict[str, int]:
        """Failed executions by kind (TIMED_OUT, HTTP_429, ERROR for no answer, ...)."""
        return dict(sorted(Counter(i.status for i in self.items if not i.succeeded).items()))

    def stats(self) -> dict[str, Stats | None]:
        return summarize(self.items)


def render(info: RunInfo, levels: Sequence[Level]) -> str:
    header = [line for line in header_lines(info) if not line.startswith("- N:")]
    levels_text = ", ".join(str(level.concurrency) for level in levels)
    header.append(f"- N: {info.repeat} per level (concurrency {levels_text})")
    sections = [header, _levels_table(levels), _stages_table(levels)]
    return "\n\n".join("\n".join(section) for section in sections) + "\n"


def _levels_table(levels: Sequence[Level]) -> list[str]:
    head = ["in flight", "N", "executions/s", *(f"p{p} ms" for p in PERCENTILES), "failed"]
    rows = []
    for level in levels:
        total = level.stats()[TOTAL]
        failures = ", ".join(f"{kind} {n}" for kind, n in level.failures.items()) or "0"
        rows.append(
            [
                str(level.concurrency),
                str(len(level.items)),
                f"{level.throughput_per_s:.1f}",
                *(ms(total.percentiles[p] if total else None) for p in PERCENTILES),
                failures,
            ]
        )
    return ["## Concurrency Sweep", "", *table(head, rows)]


def _stages_table(levels: Sequence[Level]) -> list[str]:
    head = ["stage (p50 ms)", *(f"{level.concurrency} in flight" for level in levels)]
    per_level = [level.stats() for level in levels]
    rows = []
    for name in (*STAGE_NAMES, "residual", TOTAL):
        cells = []
        for stats in per_level:
            st = stats[name]
            cells.append(ms(st.percentiles[50] if st else None))
        rows.append([name, *cells])
    note = "Succeeded executions only; the stage whose p50 grows first saturates first."
    return ["## Stages by Level", "", note, "", *table(head, rows)]


def to_json(info: RunInfo, levels: Sequence[Level]) -> dict[str, Any]:
    from serverless_testbed.latency.report import to_json as run_json

    result: dict[str, Any] = {
        "target": info.target,
        "stack": info.stack,
        "region": info.region,
        "date": info.date,
        "git_revision": info.git_revision,
        "repeat_per_level": info.repeat,
        "levels": [],
    }
    for level in levels:
        stats = level.stats()
        total = stats[TOTAL]
        result["levels"].append(
            {
                "concurrency": level.concurrency,
                "executions": len(level.items),
                "throughput_per_s": level.throughput_per_s,
                "total_ms": {f"p{p}": total.percentiles[p] for p in PERCENTILES} if total else None,
                "failures": level.failures,
                "stages_p50_ms": {
                    name: (st.percentiles[50] if (st := stats[name]) else None)
                    for name in STAGE_NAMES
                },
                "iterations": run_json(info, level.items)["iterations"],
            }
        )
    return result
