"""The stress workers as their once-a-second reports on ``{prefix}_stats`` show them.

Each worker publishes a snapshot (stress/work/worker.py): per task its cumulative counters,
the last interval's rate and its latency histograms (HdrHistogram, compressed). A worker
counts as alive while its newest report is at most ``ALIVE_AFTER_S`` old; the alive workers'
rates add, their interval histograms merge into one set of percentiles per task.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from serverless_testbed.stress.protocol import stats_channel
from serverless_testbed.stress.work.stats import decode_histogram, new_histogram, summary

ALIVE_AFTER_S = 3.0
COUNTERS = ("executed", "failed", "throttles", "retries")


class StressWatch:
    """Keeps each worker's newest report; ``sample`` sums the alive ones."""

    def __init__(
        self,
        redis_client: Any,
        prefix: str,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis_client
        self.channel = stats_channel(prefix)
        self._monotonic = monotonic
        self._latest: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None
        self.malformed = 0  # reports that were not a worker's snapshot

    def start(self) -> None:
        self._thread = threading.Thread(target=self._listen, name="dashboard-stress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def receive(self, data: bytes | str) -> None:
        """Take one report (what the channel carries). It is read whole here, histograms
        decoded, so a malformed one is counted and not kept, and ``sample`` cannot fail."""
        try:
            worker, report = _read_report(json.loads(data))
        except Exception:  # anything a sender got wrong, hdrh's own decoding errors included
            self.malformed += 1
            return
        with self._lock:
            self._latest[worker] = (self._monotonic(), report)

    def sample(self) -> dict[str, Any]:
        now = self._monotonic()
        with self._lock:
            alive = [r for seen, r in self._latest.values() if now - seen <= ALIVE_AFTER_S]
        tasks: dict[str, dict[str, Any]] = {}
        histograms: dict[str, dict[str, Any]] = {}
        for report in alive:
            for task, figures in report["tasks"].items():
                total = tasks.setdefault(task, {"rate": 0.0, **dict.fromkeys(COUNTERS, 0)})
                for key in ("rate", *COUNTERS):
                    total[key] += figures[key]
                merged = histograms.setdefault(
                    task, {"service": new_histogram(), "intended": new_histogram()}
                )
                for kind in ("service", "intended"):
                    if figures[kind] is not None:
                        merged[kind].add(figures[kind])
        for task, merged in histograms.items():
            tasks[task]["service_ms"] = summary(merged["service"])
            tasks[task]["intended_ms"] = summary(merged["intended"])
        return {
            "workers": len(alive),
            "threads": sum(r["threads"] for r in alive),
            "queued": sum(r["queued"] for r in alive),
            "tasks": tasks,
            "malformed_reports": self.malformed,
        }

    def _listen(self) -> None:
        """Subscribe, take reports until stopped; while Redis is away, say so and retry."""
        pubsub = None
        while not self._stop.is_set():
            try:
                if pubsub is None:
                    pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                    pubsub.subscribe(self.channel)
                message = pubsub.get_message(timeout=0.5)
                self.error = None
            except Exception as error:
                self.error = f"{type(error).__name__}: {error}"
                if pubsub is not None:
                    pubsub.close()
                pubsub = None
                self._stop.wait(1.0)
                continue
            if message and message.get("type") == "message":
                self.receive(message["data"])
        if pubsub is not None:
            pubsub.close()


def _read_report(report: Any) -> tuple[str, dict[str, Any]]:
    """(worker, its figures as ``sample`` adds them); raises on anything malformed."""
    tasks = {}
    for task, figures in (report.get("tasks") or {}).items():
        read: dict[str, Any] = {"rate": float(figures.get("rate", 0.0))}
        read |= {counter: int(figures.get(counter, 0)) for counter in COUNTERS}
        for kind in ("service", "intended"):
            encoded = figures.get(f"{kind}_hist")
            read[kind] = decode_histogram(encoded) if encoded else None
        tasks[str(task)] = read
    queued = sum(int(queue.get("queued", 0)) for queue in (report.get("queues") or {}).values())
    return str(report["worker"]), {
        "threads": int(report.get("threads", 0)),
        "queued": queued,
        "tasks": tasks,
    }
