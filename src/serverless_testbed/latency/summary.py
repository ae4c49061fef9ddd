"""Summary statistics of stage durations: avg/min/max and nearest-rank percentiles.

Stage values may be negative (clock skew between hosts), which HDR histograms cannot hold, and
a run has tens of samples, so exact nearest-rank percentiles over the values are used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from serverless_testbed.latency.stages import STAGE_NAMES, Breakdown

PERCENTILES = (50, 90, 99)
RESIDUAL = "residual"
TOTAL = "total"
ROWS = (*STAGE_NAMES, RESIDUAL, TOTAL)


@dataclass(frozen=True)
class Stats:
    count: int
    avg: float
    min: float
    max: float
    percentiles: dict[int, float]


def nearest_rank(sorted_values: Sequence[float], percentile: float) -> float:
    rank = max(1, math.ceil(percentile / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def stats(values: Sequence[float]) -> Stats | None:
    if not values:
        return None
    ordered = sorted(values)
    return Stats(
        count=len(ordered),
        avg=sum(ordered) / len(ordered),
        min=ordered[0],
        max=ordered[-1],
        percentiles={p: nearest_rank(ordered, p) for p in PERCENTILES},
    )


def row_value(item: Breakdown, row: str) -> float | None:
    if row == TOTAL:
        return item.total_ms
    if row == RESIDUAL:
        return item.residual_ms
    return item.stages[row]


def summarize(items: Sequence[Breakdown]) -> dict[str, Stats | None]:
    """Per row (stage, residual, total): stats over the succeeded items only."""
    succeeded = [item for item in items if item.succeeded]
    return {
        row: stats([v for item in succeeded if (v := row_value(item, row)) is not None])
        for row in ROWS
    }
