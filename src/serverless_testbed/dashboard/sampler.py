"""One snapshot per interval from every watch, a short history of them, and a way to wait
for the next one (what the page's event stream sends).

A watch that fails (a throttled call, Redis away) leaves its part of the snapshot out and
says why in ``errors``, one line per source; the others still report.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from serverless_testbed.dashboard.executions import ExecutionSample, ExecutionWatch
from serverless_testbed.dashboard.queues import QueueWatch
from serverless_testbed.dashboard.stress import StressWatch

HISTORY_KEPT = 600  # ten minutes at one a second
PERCENTILES = (50, 90, 99)


@dataclass
class Watches:
    state_machines: dict[str, ExecutionWatch] = field(default_factory=dict)
    queues: QueueWatch | None = None
    stress: StressWatch | None = None


class Sampler:
    """Samples ``watches`` every ``interval_s`` on its own thread (``start``/``stop``), or
    once per ``sample_now`` call."""

    def __init__(
        self,
        watches: Watches,
        *,
        interval_s: float,
        about: dict[str, Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.watches = watches
        self.interval_s = interval_s
        self.about = dict(about or {})  # what the page says it looks at (no secrets)
        self._clock = clock
        self._history: deque[dict[str, Any]] = deque(maxlen=HISTORY_KEPT)
        self._changed = threading.Condition()
        self._sequence = 0
        self._totals: dict[str, dict[str, int]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_at: float | None = None

    # ---- reading
    def latest(self) -> dict[str, Any] | None:
        with self._changed:
            return self._history[-1] if self._history else None

    def history(self) -> list[dict[str, Any]]:
        with self._changed:
            return list(self._history)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def wait_for_next(self, after: int, timeout: float) -> dict[str, Any] | None:
        """The first snapshot whose sequence number is above ``after``, or None on timeout
        or once stopped."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._sequence <= after and not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)
            return self._history[-1] if self._sequence > after and self._history else None

    # ---- sampling
    def start_watches(self) -> None:
        """Start the watches that listen (the stress reports), without sampling."""
        if self.watches.stress is not None:
            self.watches.stress.start()

    def start(self) -> None:
        self.start_watches()
        self.sample_now()  # the first look learns what runs; the page has its header at once
        self._thread = threading.Thread(target=self._run, name="dashboard-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.interval_s + 5)
        if self.watches.stress is not None:
            self.watches.stress.stop()

    def _run(self) -> None:
        next_at = time.monotonic() + self.interval_s
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            self.sample_now()
            next_at = max(next_at + self.interval_s, time.monotonic())

    def sample_now(self) -> dict[str, Any]:
        now = self._clock()
        elapsed = (now - self._last_at) if self._last_at is not None else None
        self._last_at = now
        errors: dict[str, str] = {}
        machines: dict[str, Any] = {}
        for label, watch in self.watches.state_machines.items():
            try:
                machines[label] = self._machine_figures(label, watch.sample(), elapsed, watch)
            except Exception as error:
                errors[label] = _one_line(error)
        queues: dict[str, Any] = {}
        if self.watches.queues is not None:
            try:
                queues = self.watches.queues.sample()
            except Exception as error:
                errors["queues"] = _one_line(error)
        stress = None
        if self.watches.stress is not None:
            stress = self.watches.stress.sample()
            if self.watches.stress.error:
                errors["stress"] = self.watches.stress.error
        with self._changed:
            self._sequence += 1
            snapshot = {
                "sequence": self._sequence,
                "ts_ms": int(now * 1000),
                "interval_s": elapsed,
                "about": self.about,
                "state_machines": machines,
                "queues": queues,
                "stress": stress,
                "errors": errors,
            }
            self._history.append(snapshot)
            self._changed.notify_all()
        return snapshot

    def _machine_figures(
        self, label: str, sample: ExecutionSample, elapsed: float | None, watch: ExecutionWatch
    ) -> dict[str, Any]:
        totals = self._totals.setdefault(label, {"started": 0})
        totals["started"] += sample.started
        for status, count in sample.ended.items():
            totals[status] = totals.get(status, 0) + count
        per_s = (lambda count: count / elapsed) if elapsed else (lambda count: 0.0)
        return {
            "running": sample.running,
            "started_per_s": per_s(sample.started),
            "ended_per_s": {status: per_s(count) for status, count in sample.ended.items()},
            "latency_ms": percentiles(sample.durations_ms),
            "ended": sum(sample.ended.values()),
            "totals": dict(totals),
            "truncated": sample.truncated,
            "recent_failures": [asdict(failure) for failure in reversed(watch.failures)],
        }


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p90/p99 (inclusive method) and max, in the values' unit; {} for none."""
    if not values:
        return {}
    if len(values) == 1:
        cuts = {p: values[0] for p in PERCENTILES}
    else:
        quantiles = statistics.quantiles(values, n=100, method="inclusive")
        cuts = {p: quantiles[p - 1] for p in PERCENTILES}
    return {**{f"p{p}": round(v, 1) for p, v in cuts.items()}, "max": round(max(values), 1)}


def _one_line(error: Exception) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}"[:300]
