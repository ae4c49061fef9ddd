"""What a worker counts per task: exact counters and two latency histograms.

Latency is recorded twice (microseconds, HdrHistogram): ``service`` from the moment the request
was sent, ``intended`` from the moment the schedule meant it to be sent (slot start + its place
in the slot). A stalled backend delays the sends after it; only ``intended`` shows that wait
(no coordinated omission).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS = 1, 3_600_000_000, 3
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


@dataclass(slots=True)
class Outcome:
    """The result of one backend operation."""

    ok: bool
    error: str | None = None  # error kind (exception class or AWS error code) when not ok
    throttles: int = 0  # throttled attempts, retried or not
    retries: int = 0
    capacity: float = 0.0  # consumed capacity units (DynamoDB)


@dataclass(slots=True)
class Counters:
    """Exact per-task counters; ``totals_fields`` names them as {prefix}_totals:{worker} does."""

    executed: int = 0
    failed: int = 0
    throttles: int = 0
    retries: int = 0
    capacity: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)

    def record(self, outcome: Outcome) -> None:
        if outcome.ok:
            self.executed += 1
        else:
            self.failed += 1
            self.errors[outcome.error or "unknown"] += 1
        self.throttles += outcome.throttles
        self.retries += outcome.retries
        self.capacity += outcome.capacity

    def add(self, other: Counters) -> None:
        self.executed += other.executed
        self.failed += other.failed
        self.throttles += other.throttles
        self.retries += other.retries
        self.capacity += other.capacity
        self.errors.update(other.errors)

    def totals_fields(self, task: str) -> dict[str, int | float]:
        """Fields to add to {prefix}_totals:{worker}: executed/failed always, the rest if > 0."""
        fields: dict[str, int | float] = {
            f"{task}:executed": self.executed,
            f"{task}:failed": self.failed,
        }
        for name, value in (
            ("throttles", self.throttles),
            ("retries", self.retries),
            ("consumed_capacity", self.capacity),
        ):
            if value:
                fields[f"{task}:{name}"] = value
        for kind, count in self.errors.items():
            fields[f"{task}:error_{_field_safe(kind)}"] = count
        return fields

    def as_dict(self) -> dict[str, Any]:
        return {
            "executed": self.executed,
            "failed": self.failed,
            "throttles": self.throttles,
            "retries": self.retries,
            "consumed_capacity": round(self.capacity, 3),
            "errors": dict(self.errors),
        }


@dataclass(slots=True)
class TaskStats:
    counters: Counters = field(default_factory=Counters)
    service: HdrHistogram = field(default_factory=new_histogram)
    intended: HdrHistogram = field(default_factory=new_histogram)

    def record(self, outcome: Outcome, service_us: float, intended_us: float) -> None:
        self.counters.record(outcome)
        self.service.record_value(max(LOWEST_US, min(HIGHEST_US, int(service_us))))
        self.intended.record_value(max(LOWEST_US, min(HIGHEST_US, int(intended_us))))

    def add(self, other: TaskStats) -> None:
        self.counters.add(other.counters)
        self.service.add(other.service)
        self.intended.add(other.intended)


def merge(parts: list[dict[str, TaskStats]]) -> dict[str, TaskStats]:
    """Sum per-task stats from several consumers (or workers): counts add, histograms add."""
    merged: dict[str, TaskStats] = {}
    for part in parts:
        for task, stats in part.items():
            merged.setdefault(task, TaskStats()).add(stats)
    return merged


def summary(histogram: HdrHistogram) -> dict[str, float]:
    """Percentiles in milliseconds."""
    if histogram.get_total_count() == 0:
        return {}
    values = histogram.get_percentile_to_value_dict(list(PERCENTILES))
    result = {f"p{p:g}": values[p] / 1000 for p in PERCENTILES}
    result["max"] = histogram.get_max_value() / 1000
    return result


def encode_histogram(histogram: HdrHistogram) -> str:
    """HdrHistogram's compressed form (base64 text), mergeable by any HdrHistogram library."""
    encoded = histogram.encode()
    return encoded.decode() if isinstance(encoded, bytes) else str(encoded)


def decode_histogram(text: str) -> HdrHistogram:
    return HdrHistogram.decode(text.encode())


def _field_safe(kind: str) -> str:
    return "".join(c if c.isalnum() or c in "_-." else "_" for c in kind)
