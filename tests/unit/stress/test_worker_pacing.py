"""A consumer spreads a descriptor's operations over its slot instead of bursting them."""

from __future__ import annotations

import time
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from serverless_testbed.stress.protocol import Descriptor
from serverless_testbed.stress.traffic import TaskSpec
from serverless_testbed.stress.work.expand import Expander, Operation
from serverless_testbed.stress.work.stats import Counters, Outcome
from serverless_testbed.stress.work.worker import Consumer

SPEC = TaskSpec(
    action="getItem",
    seed=1,
    qps=1000,
    times=100,
    id="r-0",
    run="r",
    key="0",
    seed_drawn=False,
    table_name="t",
    total=100,
    start_ms=0,
    slot_ms=10,
)


class RecordingBackend:
    def __init__(self) -> None:
        self.sent: list[tuple[float, list[int]]] = []

    def execute(self, operations: Sequence[Operation]) -> list[Outcome]:
        self.sent.append((time.time() * 1000, [op.index for op in operations]))
        return [Outcome(ok=True) for _ in operations]

    def close(self) -> None:
        pass


def consumer(backend: Any, batch: int = 32) -> Consumer:
    worker: Any = SimpleNamespace(options=SimpleNamespace(batch=batch))
    return Consumer(worker, 0, backend)


def test_no_operation_is_sent_before_its_place_in_the_slot() -> None:
    backend = RecordingBackend()
    at = time.time() * 1000 + 30
    descriptor = Descriptor("r-0", 40, 5, at_ms=at, slot_ms=20)
    counters = Counters()
    consumer(backend)._execute(descriptor, Expander(SPEC), counters)
    indices = [i for _, batch in backend.sent for i in batch]
    assert indices == [40, 41, 42, 43, 44]
    for sent_ms, batch in backend.sent:
        first_due = at + (batch[0] - 40) * 20 / 5
        assert sent_ms >= first_due - 0.2  # PACE_SLACK_MS
    assert len(backend.sent) >= 2  # spread, not one burst
    assert counters.executed == 5


def test_overdue_operations_go_out_together_in_batches() -> None:
    backend = RecordingBackend()
    descriptor = Descriptor("r-0", 0, 70, at_ms=time.time() * 1000 - 10_000)
    consumer(backend, batch=32)._execute(descriptor, Expander(SPEC), Counters())
    assert [len(batch) for _, batch in backend.sent] == [32, 32, 6]


def test_intended_latency_counts_from_the_schedule_not_the_send() -> None:
    backend = RecordingBackend()
    descriptor = Descriptor("r-0", 0, 4, at_ms=time.time() * 1000 - 5_000)
    worker = consumer(backend)
    worker._execute(descriptor, Expander(SPEC), Counters())
    stats = worker.take_interval()["r-0"]
    assert stats.intended.get_min_value() >= 4_900_000  # us: 5 s late
    assert stats.service.get_max_value() < 4_900_000
