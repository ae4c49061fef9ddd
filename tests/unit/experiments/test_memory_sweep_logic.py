"""Pure logic of the memory sweep: sizes, cost arithmetic, marks."""

from __future__ import annotations

import pytest

from serverless_testbed.errors import UsageError
from serverless_testbed.experiments.memory_sweep import (
    PRICES,
    SizeResult,
    SweepResult,
    parse_memory_sizes,
)


def test_sizes_are_whole_mb_in_lambdas_range() -> None:
    assert parse_memory_sizes("128, 512,10240") == [128, 512, 10240]
    for bad in ("127", "10241", "1e3", "", "512,,1024", "-128"):
        with pytest.raises(UsageError, match="memory sizes are whole MB between 128 and 10240"):
            parse_memory_sizes(bad)


def size(memory_mb: int, billed: float, duration: float) -> SizeResult:
    result = SizeResult(memory_mb)
    result.invocations.append(
        {
            "error": None,
            "duration_ms": duration,
            "billed_duration_ms": billed,
            "init_duration_ms": 100.0,
            "max_memory_used_mb": 40,
        }
    )
    return result


def test_cost_is_billed_gb_seconds_plus_the_request_and_the_marks_go_to_the_best() -> None:
    sweep = SweepResult("f", "x86_64", 128, True, [size(128, 1000, 999.2), size(1024, 150, 149.5)])

    slow, fast = sweep.summaries()

    price = PRICES["x86_64"]
    assert slow["cost_per_invocation_usd"] == pytest.approx(
        1.0 * 0.125 * price.per_gb_second + price.per_request
    )
    assert fast["cost_per_invocation_usd"] == pytest.approx(
        0.15 * 1.0 * price.per_gb_second + price.per_request
    )
    # 0.125 GB-s at 128 MB costs less than 0.15 GB-s at 1,024 MB, which is faster.
    assert (slow["cheapest"], slow["fastest"]) == (True, False)
    assert (fast["cheapest"], fast["fastest"]) == (False, True)


def test_where_cpu_is_not_scaled_no_size_is_marked_fastest() -> None:
    unscaled = size(512, 10, 9.5)
    unscaled.cpu_not_scaled = True

    (row,) = SweepResult("f", "arm64", 128, True, [unscaled]).summaries()

    assert row["fastest"] is False and row["cheapest"] is True
