"""StressWatch adds the alive workers' reports: rates and counters sum, the interval
histograms merge into one set of percentiles, a silent worker drops out."""

from __future__ import annotations

import json
import time
from typing import Any

from serverless_testbed.dashboard.stress import ALIVE_AFTER_S, StressWatch
from serverless_testbed.stress.work.stats import encode_histogram, new_histogram


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def report(worker: str, rate: float, executed: int, latencies_ms: list[float]) -> str:
    histogram = new_histogram()
    for ms in latencies_ms:
        histogram.record_value(int(ms * 1000))
    task: dict[str, Any] = {
        "executed": executed,
        "failed": 1,
        "throttles": 0,
        "retries": 0,
        "rate": rate,
        "service_hist": encode_histogram(histogram),
        "intended_hist": encode_histogram(histogram),
    }
    return json.dumps(
        {
            "worker": worker,
            "threads": 2,
            "tasks": {"t_updateItem_5": task},
            "queues": {"q0": {"queued": 3, "inflight": 1, "done": 9}},
        }
    )


def test_two_workers_add_up_and_their_latencies_merge() -> None:
    clock = Clock()
    watch = StressWatch(None, "dst", monotonic=clock)
    watch.receive(report("a", 100.0, 1000, [1.0] * 90))
    watch.receive(report("b", 50.0, 500, [10.0] * 10))
    sample = watch.sample()
    task = sample["tasks"]["t_updateItem_5"]
    assert (sample["workers"], sample["threads"], sample["queued"]) == (2, 4, 6)
    assert (task["rate"], task["executed"], task["failed"]) == (150.0, 1500, 2)
    assert round(task["intended_ms"]["p50"]) == 1
    assert round(task["intended_ms"]["p99"]) == 10


def test_a_worker_that_stopped_reporting_is_no_longer_counted() -> None:
    clock = Clock()
    watch = StressWatch(None, "dst", monotonic=clock)
    watch.receive(report("gone", 100.0, 10, [1.0]))
    clock.now += ALIVE_AFTER_S + 0.1
    watch.receive(report("here", 5.0, 3, [2.0]))
    sample = watch.sample()
    assert sample["workers"] == 1
    assert sample["tasks"]["t_updateItem_5"]["rate"] == 5.0


def test_a_report_that_is_not_a_workers_snapshot_is_counted_and_left_out() -> None:
    watch = StressWatch(None, "dst", monotonic=Clock())
    bad_histogram = json.loads(report("w1", 1.0, 1, [1.0]))
    bad_histogram["tasks"]["t_updateItem_5"]["intended_hist"] = "not a histogram"
    bad_rate = json.loads(report("w2", 1.0, 1, [1.0]))
    bad_rate["tasks"]["t_updateItem_5"]["rate"] = "fast"
    junk = [b"not json", b'{"no": "worker"}', b"[1, 2]", json.dumps(bad_histogram)]
    for data in [*junk, json.dumps(bad_rate)]:
        watch.receive(data)
    sample = watch.sample()
    assert (sample["workers"], sample["malformed_reports"]) == (0, 5)


def test_redis_away_is_said_in_one_line_and_the_watch_keeps_trying() -> None:
    import socket

    import redis

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    watch = StressWatch(redis.Redis(port=port, socket_connect_timeout=1), "dst")
    watch.start()
    try:
        deadline = time.monotonic() + 10
        while watch.error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert watch.error is not None and watch.error.startswith("ConnectionError: ")
        assert "\n" not in watch.error
        assert watch.sample()["workers"] == 0
    finally:
        watch.stop()
