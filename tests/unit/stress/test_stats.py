"""Per-task counters and histograms: merging adds exactly."""

from __future__ import annotations

from serverless_testbed.stress.work.stats import (
    Counters,
    Outcome,
    TaskStats,
    decode_histogram,
    encode_histogram,
    merge,
    summary,
)


def stats_of(outcomes: list[Outcome], latency_us: int) -> TaskStats:
    stats = TaskStats()
    for outcome in outcomes:
        stats.record(outcome, latency_us, latency_us * 2)
    return stats


def test_counters_count_successes_failures_by_kind_throttles_retries_and_capacity() -> None:
    counters = Counters()
    counters.record(Outcome(ok=True, retries=1, throttles=1, capacity=0.5))
    counters.record(Outcome(ok=False, error="ThrottlingException", throttles=3, retries=2))
    counters.record(Outcome(ok=False, error="ConnectionError"))
    assert counters.totals_fields("r-0") == {
        "r-0:executed": 1,
        "r-0:failed": 2,
        "r-0:throttles": 4,
        "r-0:retries": 3,
        "r-0:consumed_capacity": 0.5,
        "r-0:error_ThrottlingException": 1,
        "r-0:error_ConnectionError": 1,
    }


def test_merging_stats_of_several_consumers_adds_counts_and_histograms() -> None:
    a = {"t1": stats_of([Outcome(ok=True)] * 3, 1000), "t2": stats_of([Outcome(ok=True)], 10)}
    b = {"t1": stats_of([Outcome(ok=False, error="E")] * 2, 5000)}
    merged = merge([a, b])
    assert merged["t1"].counters.executed == 3
    assert merged["t1"].counters.failed == 2
    assert merged["t1"].counters.errors == {"E": 2}
    assert merged["t1"].service.get_total_count() == 5
    assert merged["t1"].intended.get_max_value() >= 9990  # 2 x 5000 us, 3 significant digits
    assert merged["t2"].counters.executed == 1
    assert a["t1"].counters.executed == 3  # inputs untouched


def test_the_totals_fields_never_contain_a_colon_after_the_task() -> None:
    counters = Counters()
    counters.record(Outcome(ok=False, error="botocore:weird kind"))
    for name in counters.totals_fields("abc-1.0"):
        assert name.count(":") == 1


def test_histograms_survive_their_text_encoding() -> None:
    stats = stats_of([Outcome(ok=True)] * 10, 2500)
    decoded = decode_histogram(encode_histogram(stats.service))
    assert decoded.get_total_count() == 10
    assert summary(decoded)["p50"] == summary(stats.service)["p50"]
    assert summary(TaskStats().service) == {}
