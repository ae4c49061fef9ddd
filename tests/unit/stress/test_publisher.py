"""The publisher's logic: config sync, slot publishing and catch-up, totals, stats and summary.

The loop runs on a fake clock and a recording Redis stand-in (pure logic); the Redis reads use
fakeredis. The real-server behaviour is in tests/integration/stress/test_publisher.py.
"""

from __future__ import annotations

import json
from typing import Any

import fakeredis
import pytest

from serverless_testbed.stress.protocol import (
    Descriptor,
    canonical_json,
    totals_key,
    verify_control,
    workers_key,
)
from serverless_testbed.stress.publish.publisher import SlotPublisher, sync_config
from serverless_testbed.stress.publish.report import (
    Monitor,
    WorkerTotals,
    build_summary,
    drain,
    queue_backlog,
    render_summary,
    stats_line,
)
from serverless_testbed.stress.publish.schedule import build_schedule
from serverless_testbed.stress.traffic import Config, Task, TaskEntry, TaskSpec, Traffic

CONFIG = Config(table_name="stress-test", region="us-east-1", threads=3)
EPOCH_MS = 1_800_000_000_000


class FakeClock:
    """Monotonic time that moves only by sleeping or by ``spend``."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def spend(self, seconds: float) -> None:
        self.now += seconds


class RecordingRedis:
    """Records what the publisher sends, in order; ``slow`` makes chosen round trips slow."""

    def __init__(self, clock: FakeClock, slow: dict[int, float] | None = None) -> None:
        self.commands: list[tuple[Any, ...]] = []
        self.trips: list[list[tuple[Any, ...]]] = []
        self._clock = clock
        self._slow = slow or {}

    def pipeline(self, transaction: bool = False) -> RecordingRedis.Pipeline:
        return RecordingRedis.Pipeline(self)

    class Pipeline:
        def __init__(self, owner: RecordingRedis) -> None:
            self._owner = owner
            self._queued: list[tuple[Any, ...]] = []

        def hset(self, key: str, field: str, value: str) -> None:
            self._queued.append(("hset", key, field, value))

        def rpush(self, key: str, *values: str) -> None:
            self._queued.append(("rpush", key, *values))

        def __len__(self) -> int:
            return len(self._queued)

        def execute(self) -> list[Any]:
            owner = self._owner
            owner.commands.extend(self._queued)
            owner._clock.spend(owner._slow.get(len(owner.trips), 0.0))
            owner.trips.append(self._queued)
            return [1] * len(self._queued)

    @property
    def round_trips(self) -> int:
        return len(self.trips)

    def slots_per_trip(self) -> list[int]:
        return [
            len({Descriptor.decode(raw).at_ms for c in trip if c[0] == "rpush" for raw in c[2:]})
            for trip in self.trips
        ]

    def descriptors(self) -> list[tuple[str, Descriptor]]:
        return [
            (command[1], Descriptor.decode(raw))
            for command in self.commands
            if command[0] == "rpush"
            for raw in command[2:]
        ]

    def specs(self) -> dict[str, TaskSpec]:
        return {c[2]: TaskSpec.model_validate_json(c[3]) for c in self.commands if c[0] == "hset"}


def traffic(*steps: list[dict[str, Any]] | dict[str, Any]) -> Traffic:
    placed = []
    for i, step in enumerate(steps):
        group = step if isinstance(step, list) else [step]
        keys = [str(i)] if len(group) == 1 else [f"{i}.{j}" for j in range(len(group))]
        placed.append(
            tuple(
                TaskEntry(key=key, path=f"traffic.json[{key}]", task=Task.model_validate(task))
                for key, task in zip(keys, group, strict=True)
            )
        )
    return Traffic(source="traffic.json", steps=tuple(placed))


def run(
    *steps: Any, slow: dict[int, float] | None = None, **options: Any
) -> tuple[SlotPublisher, RecordingRedis]:
    clock = FakeClock()
    redis = RecordingRedis(clock, slow)
    publisher = SlotPublisher(
        redis,
        "dst",
        CONFIG,
        build_schedule(traffic(*steps)),
        run_id="r1",
        clock=clock,
        sleep=clock.sleep,
        wall_ms=lambda: EPOCH_MS,
        seed_source=lambda: 424242,
        **options,
    )
    publisher.run()
    return publisher, redis


def covered_indices(redis: RecordingRedis, task_id: str) -> list[int]:
    return sorted(
        i
        for _, d in redis.descriptors()
        if d.task == task_id
        for i in range(d.first, d.first + d.count)
    )


# -- config sync ----------------------------------------------------------------------------


def test_a_missing_config_is_written_and_announced_with_a_signed_update() -> None:
    client = fakeredis.FakeRedis()
    listener = client.pubsub()
    listener.subscribe("dst_notify")
    listener.get_message(timeout=1)  # the subscribe confirmation

    outcome = sync_config(client, "dst", CONFIG, "s3cret", warn=pytest.fail)

    assert (outcome.changed, outcome.notified, outcome.receivers) == (True, True, 1)
    assert client.get("dst_cfg") == CONFIG.canonical().encode()
    message = listener.get_message(timeout=1)
    command, args = verify_control(message["data"], "s3cret", set())
    assert command == "update_config" and len(args["sha256"]) == 64


def test_the_same_config_in_another_key_order_is_left_alone() -> None:
    client = fakeredis.FakeRedis()
    stored = json.dumps(json.loads(CONFIG.canonical()) | {}, indent=2, sort_keys=False)
    client.set("dst_cfg", stored)
    outcome = sync_config(client, "dst", CONFIG, "s3cret", warn=pytest.fail)
    assert (outcome.changed, outcome.notified) == (False, False)
    assert client.get("dst_cfg") == stored.encode()


def test_a_different_config_is_replaced() -> None:
    client = fakeredis.FakeRedis()
    client.set("dst_cfg", canonical_json({"table_name": "old", "region": "r", "threads": 1}))
    assert sync_config(client, "dst", CONFIG, "s3cret", warn=pytest.fail).changed
    assert client.get("dst_cfg") == CONFIG.canonical().encode()


def test_without_a_secret_the_config_is_written_but_workers_are_warned_about() -> None:
    client = fakeredis.FakeRedis()
    warnings: list[str] = []
    outcome = sync_config(client, "dst", CONFIG, None, warn=warnings.append)
    assert (outcome.changed, outcome.notified) == (True, False)
    assert client.get("dst_cfg") == CONFIG.canonical().encode()
    assert len(warnings) == 1 and "keep their old config until restarted" in warnings[0]


# -- the slot loop --------------------------------------------------------------------------


def test_every_index_is_published_once_across_the_queues() -> None:
    publisher, redis = run({"action": "putItem", "qps": 1000, "duration": 1})
    assert covered_indices(redis, "r1-0") == list(range(1000))
    assert {queue for queue, _ in redis.descriptors()} == {"dst_q0", "dst_q1", "dst_q2"}
    assert publisher.tasks[0].published == 1000
    assert publisher.stats.slots_caught_up == publisher.stats.slots_skipped == 0


def test_a_slot_is_split_evenly_and_the_extra_operation_rotates_over_the_queues() -> None:
    _, redis = run({"action": "putItem", "qps": 400, "duration": 0.03})  # 4 per slot, 3 queues
    per_slot: dict[float, list[tuple[str, int]]] = {}
    for queue, d in redis.descriptors():
        per_slot.setdefault(d.at_ms, []).append((queue, d.count))
    assert sorted(per_slot) == [EPOCH_MS + 50, EPOCH_MS + 60, EPOCH_MS + 70]
    assert [sorted(shares, key=lambda s: -s[1])[0][0] for shares in per_slot.values()] == [
        "dst_q0",
        "dst_q1",
        "dst_q2",
    ]
    assert all(sorted(c for _, c in shares) == [1, 1, 2] for shares in per_slot.values())


def test_the_task_spec_is_written_before_its_first_descriptor_with_the_seed_resolved() -> None:
    _, redis = run(
        {"action": "putItem", "qps": 100, "times": 5, "seed": 7},
        {"action": "query", "qps": 100, "times": 5, "seeds": [2.2, 6.6]},
    )
    kinds = [
        (c[0], c[2] if c[0] == "hset" else Descriptor.decode(c[2]).task) for c in redis.commands
    ]
    first_descriptor = {task: kinds.index(("rpush", task)) for task in ("r1-0", "r1-1")}
    assert kinds.index(("hset", "r1-0")) < first_descriptor["r1-0"]
    assert kinds.index(("hset", "r1-1")) < first_descriptor["r1-1"]
    specs = redis.specs()
    assert (specs["r1-0"].seed, specs["r1-0"].seed_drawn) == (7, False)
    assert (specs["r1-1"].seed, specs["r1-1"].seed_drawn) == (424242, True)
    assert (specs["r1-1"].total, specs["r1-1"].table_name) == (5, "stress-test")
    assert specs["r1-1"].start_ms == EPOCH_MS + 50 + 50  # lead of 50 ms, then 5 slots of task 0


def test_concurrent_tasks_share_each_slot_round_trip() -> None:
    _, redis = run(
        [
            {"action": "updateItem", "qps": 300, "duration": 0.5},
            {"action": "query", "qps": 600, "duration": 0.5},
        ]
    )
    assert redis.round_trips == 50
    assert covered_indices(redis, "r1-0.0") == list(range(150))
    assert covered_indices(redis, "r1-0.1") == list(range(300))


def test_capped_catch_up_publishes_everything_but_at_most_n_slots_per_wake() -> None:
    # The round trip of slot 10 (at 100 ms) stalls until 195 ms: slots 11-18 are over by then.
    publisher, redis = run(
        {"action": "putItem", "qps": 1000, "duration": 1}, slow={10: 0.095}, catch_up_max=4
    )
    assert covered_indices(redis, "r1-0") == list(range(1000))
    assert redis.slots_per_trip()[10:14] == [1, 4, 4, 1]
    assert publisher.stats.slots_caught_up == 8
    assert publisher.stats.slots_skipped == 0
    assert redis.round_trips == 100 - 8 + 2  # 8 late slots in wakes of at most 4: 2 wakes


def test_skip_drops_the_slots_whose_time_is_over_and_counts_them() -> None:
    publisher, redis = run(
        {"action": "putItem", "qps": 1000, "duration": 1}, slow={10: 0.095}, catch_up="skip"
    )
    progress = publisher.tasks[0]
    published = covered_indices(redis, "r1-0")
    assert publisher.stats.slots_skipped == 8
    assert progress.skipped_late == 80 and progress.published == 920
    assert len(published) == len(set(published)) == 920
    assert set(range(1000)) - set(published) == set(range(110, 190))


def test_lateness_is_recorded_per_published_slot() -> None:
    publisher, _ = run({"action": "putItem", "qps": 100, "duration": 1}, slow={50: 0.02})
    lateness = publisher.stats.lateness_us
    assert lateness.get_total_count() == 100
    assert lateness.get_max_value() >= 19_900  # the stalled slot's 20 ms


# -- totals, stats, drain, summary -----------------------------------------------------------


def test_worker_totals_are_summed_over_every_worker_ever_seen() -> None:
    client = fakeredis.FakeRedis()
    client.hset(workers_key("dst"), mapping={"w1": 1, "w2": 1})
    client.hset(totals_key("dst", "w1"), mapping={"r1-0:executed": 5, "r1-0:failed": 1})
    client.hset(totals_key("dst", "w2"), mapping={"r1-0:executed": 7, "zz-0:executed": 99})
    totals = WorkerTotals(client, "dst", ["r1-0"])
    assert totals.read() == {"r1-0": {"executed": 12, "failed": 1, "skipped_late": 0}}
    client.hdel(workers_key("dst"), "w2")
    assert totals.read()["r1-0"]["executed"] == 12


def test_queue_backlog_counts_operations_not_descriptors() -> None:
    client = fakeredis.FakeRedis()
    client.rpush(
        "q0", Descriptor("r1-0", 0, 40, 1.0).encode(), Descriptor("r1-0", 40, 2, 1).encode()
    )
    client.rpush("q1", *(Descriptor("r1-0", i, 10, 1).encode() for i in range(8)))
    assert queue_backlog(client, ["q0", "q1", "q2"]) == ([42, 0 + 80, 0], False)
    assert queue_backlog(client, ["q1"], sample=4) == ([80], True)


def test_the_stats_line_has_the_seed_format() -> None:
    publisher, _ = run({"action": "updateItem", "qps": 1000, "times": 100})
    progress = publisher.tasks[0]
    line = stats_line(progress, "updateItem", 5000.4, [45, 52, 48, 43, 46], False, 2.7)
    assert line == "[STATS] updateItem | Pub:100 Rem:0 QPS:5000 Q:234[45 52 48 43 46] T:2s"


def test_drain_waits_for_executed_failed_and_skipped_to_add_up() -> None:
    publisher, _ = run({"action": "putItem", "qps": 1000, "duration": 0.1})
    client = fakeredis.FakeRedis()
    client.hset(workers_key("dst"), "w1", 1)
    client.hset(totals_key("dst", "w1"), mapping={"r1-0:executed": 90, "r1-0:failed": 5})
    totals = WorkerTotals(client, "dst", ["r1-0"])
    merged, complete = drain(publisher, totals, timeout_s=0.05, poll_s=0.01)
    assert not complete and merged["r1-0"]["executed"] == 90
    client.hset(totals_key("dst", "w1"), "r1-0:skipped_late", 5)
    merged, complete = drain(publisher, totals, timeout_s=5)
    assert complete

    summary = build_summary(
        publisher, merged, complete=complete, config_sync={"changed": True}, catch_up="capped"
    )
    (row,) = summary["tasks"]
    assert (row["scheduled"], row["published"], row["executed"], row["failed"]) == (100, 100, 90, 5)
    assert (row["skipped_late"], row["unaccounted"]) == (5, 0)
    assert "| 0 | putItem | 424242 | 100 | 100 | 90 | 5 | 5 | 0 |" in render_summary(summary)
    json.dumps(summary)  # the --summary-json file


def test_the_monitor_prints_one_line_per_task_not_yet_accounted_for() -> None:
    publisher, _ = run(
        [
            {"action": "query", "qps": 1000, "times": 100},
            {"action": "query", "qps": 1000, "times": 50},
            {"action": "getItem", "qps": 1000, "times": 10},
        ]
    )
    client = fakeredis.FakeRedis()
    client.rpush("dst_q0", Descriptor("r1-0.0", 0, 7, 1).encode())
    client.hset(workers_key("dst"), "w1", 1)
    done = {"r1-0.0:executed": 60, "r1-0.1:executed": 40, "r1-0.2:executed": 10}
    client.hset(totals_key("dst", "w1"), mapping=done)
    lines: list[str] = []
    totals = WorkerTotals(client, "dst", [p.task_id for p in publisher.tasks])
    Monitor(publisher, totals, client, out=lines.append).print_once()
    # getItem is fully accounted for; two query tasks at once are told apart by their key.
    assert [line.split(" | ")[0] for line in lines] == ["[STATS] query@0.0", "[STATS] query@0.1"]
    assert lines[0].startswith("[STATS] query@0.0 | Pub:100 Rem:0 QPS:")
    assert all(" Q:7[7 0 0] T:" in line for line in lines)
