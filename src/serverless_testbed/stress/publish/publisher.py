"""The publisher: config sync, then the open-loop, slot-exact publishing of a schedule.

Each 10 ms slot's operations are published as compact ``Descriptor``s, one per queue per task
(the slot's count split evenly over {prefix}_q0..q{threads-1}), in one pipelined round trip.
Deadlines are absolute on ``time.monotonic()`` (slot k starts at ``t0 + k * 10 ms``), so sleep
overshoot never accumulates. When the loop wakes behind its schedule (a slow round trip, a
paused process), the catch-up policy decides:

- ``capped``: publish the missed slots at once, at most ``catch_up_max`` slots per wake, until
  caught up; every operation is still published, late ones counted as caught-up slots.
- ``skip``: slots whose 10 ms are already over are not published; their operations are counted
  as skipped-late (so scheduled = executed + failed + skipped_late still holds).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from hdrh.histogram import HdrHistogram

from serverless_testbed.stress.protocol import (
    CONTROL_SECRET_ENV,
    SLOT_MS,
    Descriptor,
    cfg_key,
    notify_channel,
    queue_key,
    sign_control,
    tasks_key,
)
from serverless_testbed.stress.publish.schedule import Schedule, TaskSchedule
from serverless_testbed.stress.traffic import Config, TaskSpec

CatchUp = Literal["capped", "skip"]
SLOT_SECONDS = SLOT_MS / 1000
LATENESS_MAX_US = 3_600_000_000  # lateness histogram range: 1 us .. 1 h


# -- config sync ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigSync:
    changed: bool  # {prefix}_cfg differed from config.json and was rewritten
    notified: bool  # a signed update_config went out on {prefix}_notify
    receivers: int = 0  # subscribers that got it (as Redis counts them)


def sync_config(
    client: Any, prefix: str, config: Config, secret: str | None, warn: Callable[[str], None]
) -> ConfigSync:
    """Make {prefix}_cfg hold config.json; tell running workers with a signed update_config."""
    wanted = config.canonical()
    current = client.get(cfg_key(prefix))
    if current is not None and _same_json(current, wanted):
        return ConfigSync(changed=False, notified=False)
    client.set(cfg_key(prefix), wanted)
    if not secret:
        warn(
            f"{cfg_key(prefix)} updated, but no control secret (--control-secret or "
            f"{CONTROL_SECRET_ENV}): update_config not sent; running workers keep their old "
            "config until restarted"
        )
        return ConfigSync(changed=True, notified=False)
    digest = hashlib.sha256(wanted.encode()).hexdigest()
    message = sign_control("update_config", {"sha256": digest}, secret)
    receivers = client.publish(notify_channel(prefix), message)
    return ConfigSync(changed=True, notified=True, receivers=int(receivers))


def _same_json(stored: bytes | str, wanted: str) -> bool:
    try:
        return json.loads(stored) == json.loads(wanted)
    except ValueError:
        return False


# -- the publishing loop -------------------------------------------------------------------


@dataclass(slots=True)
class TaskProgress:
    """One task during a run (read by the stats thread while the loop updates it)."""

    schedule: TaskSchedule
    task_id: str
    spec: TaskSpec | None = None
    published: int = 0
    skipped_late: int = 0
    handled: int = 0  # cumulative count through the last slot handled (published or skipped)

    @property
    def scheduled(self) -> int:
        return self.schedule.total

    @property
    def remaining(self) -> int:
        return self.scheduled - self.handled


@dataclass(slots=True)
class LoopStats:
    slots: int = 0  # slots handled
    slots_caught_up: int = 0  # published after their 10 ms were over (capped policy)
    slots_skipped: int = 0  # dropped as late (skip policy)
    wakes: int = 0
    round_trips: int = 0
    descriptors: int = 0
    lateness_us: HdrHistogram = field(default_factory=lambda: HdrHistogram(1, LATENESS_MAX_US, 3))
    final_drift_s: float = 0.0  # last slot's publish time minus its deadline
    started_mono: float = 0.0
    finished_mono: float = 0.0
    interrupted: bool = False


def draw_seed() -> int:
    return secrets.randbelow(2**31 - 1) + 1


class SlotPublisher:
    """Publishes a schedule's slots to the queues on their deadlines."""

    def __init__(
        self,
        client: Any,
        prefix: str,
        config: Config,
        schedule: Schedule,
        *,
        run_id: str,
        catch_up: CatchUp = "capped",
        catch_up_max: int = 10,
        lead_s: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_ms: Callable[[], float] = lambda: time.time() * 1000,
        seed_source: Callable[[], int] = draw_seed,
    ) -> None:
        if catch_up not in ("capped", "skip"):
            raise ValueError(f"unknown catch-up policy {catch_up!r}")
        self._client = client
        self._prefix = prefix
        self._config = config
        self.schedule = schedule
        self.run_id = run_id
        self._catch_up = catch_up
        self._catch_up_max = max(1, catch_up_max)
        self._lead_s = lead_s
        self._clock, self._sleep, self._wall_ms = clock, sleep, wall_ms
        self._seed_source = seed_source
        self._queues = [queue_key(prefix, n) for n in range(config.threads)]
        self.tasks = [TaskProgress(t, task_id=f"{run_id}-{t.key}") for t in schedule.tasks]
        self.stats = LoopStats()
        self.t0 = 0.0
        self.epoch0_ms = 0
        self._upcoming = 0  # index of the next task to start (tasks are in start order)
        self._active: list[TaskProgress] = []
        self._stop = threading.Event()

    @property
    def queues(self) -> list[str]:
        return list(self._queues)

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> LoopStats:
        start = self._clock()
        self.t0 = start + self._lead_s
        self.epoch0_ms = round(self._wall_ms() + self._lead_s * 1000)
        self.stats.started_mono = self.t0
        total = self.schedule.total_slots
        next_slot = 0
        try:
            while next_slot < total and not self._stop.is_set():
                next_slot = self._wake(next_slot, total)
        except KeyboardInterrupt:
            self.stats.interrupted = True
        self.stats.interrupted = self.stats.interrupted or self._stop.is_set()
        self.stats.finished_mono = self._clock()
        return self.stats

    def _wake(self, next_slot: int, total: int) -> int:
        deadline = self.t0 + next_slot * SLOT_SECONDS
        now = self._clock()
        if now < deadline:
            self._sleep(deadline - now)
            now = self._clock()
        due = max(next_slot, int((now - self.t0) / SLOT_SECONDS))
        self.stats.wakes += 1
        if self._catch_up == "skip":
            skipped = range(next_slot, min(due, total))
            publish = range(due, due + 1) if due < total else range(0)
        else:
            skipped = range(0)
            publish = range(next_slot, min(due + 1, next_slot + self._catch_up_max, total))
        self._handle(publish, skipped)
        published_at = self._clock()
        for slot in publish:
            lateness = published_at - (self.t0 + slot * SLOT_SECONDS)
            self.stats.lateness_us.record_value(max(1, min(LATENESS_MAX_US, int(lateness * 1e6))))
        self.stats.slots_caught_up += sum(1 for slot in publish if slot < due)
        self.stats.slots_skipped += len(skipped)
        self.stats.slots += len(publish) + len(skipped)
        last = publish[-1] if publish else skipped[-1]
        self.stats.final_drift_s = published_at - (self.t0 + last * SLOT_SECONDS)
        return last + 1

    def _handle(self, publish: range, skipped: range) -> None:
        pipe = self._client.pipeline(transaction=False)
        batches: list[list[str]] = [[] for _ in self._queues]
        for slot in skipped:
            for progress in self._active_at(slot, pipe):
                count = self._advance(progress, slot)
                progress.skipped_late += count
        for slot in publish:
            at_ms = self.epoch0_ms + slot * SLOT_MS
            for progress in self._active_at(slot, pipe):
                first = progress.handled
                count = self._advance(progress, slot)
                if count:
                    self._split(progress.task_id, slot, first, count, at_ms, batches)
                    progress.published += count
        for queue, batch in zip(self._queues, batches, strict=True):
            if batch:
                pipe.rpush(queue, *batch)
                self.stats.descriptors += len(batch)
        if len(pipe):
            pipe.execute()
            self.stats.round_trips += 1

    def _advance(self, progress: TaskProgress, slot: int) -> int:
        cumulative = progress.schedule.cumulative(slot - progress.schedule.start_slot + 1)
        count = cumulative - progress.handled
        progress.handled = cumulative
        return count

    def _split(
        self, task_id: str, slot: int, first: int, count: int, at_ms: int, batches: list[list[str]]
    ) -> None:
        """Spread ``count`` over the queues evenly; the queue that gets one more rotates."""
        queues = len(batches)
        base, extra = divmod(count, queues)
        for i in range(queues if base else extra):
            share = base + (1 if i < extra else 0)
            batches[(slot + i) % queues].append(Descriptor(task_id, first, share, at_ms).encode())
            first += share

    def _active_at(self, slot: int, pipe: Any) -> list[TaskProgress]:
        tasks = self.tasks
        while self._upcoming < len(tasks) and tasks[self._upcoming].schedule.start_slot <= slot:
            self._start(tasks[self._upcoming], pipe)
            self._active.append(tasks[self._upcoming])
            self._upcoming += 1
        if any(p.schedule.end_slot <= slot for p in self._active):
            self._active = [p for p in self._active if p.schedule.end_slot > slot]
        return self._active

    def _start(self, progress: TaskProgress, pipe: Any) -> None:
        """Resolve the seed and queue the task spec ahead of the task's first descriptor."""
        schedule = progress.schedule
        task = schedule.entry.task
        seed = task.seed or self._seed_source()
        progress.spec = TaskSpec(
            **task.model_dump(exclude={"seed"}),
            seed=seed,
            seed_drawn=not task.seed,
            id=progress.task_id,
            run=self.run_id,
            key=schedule.key,
            table_name=self._config.table_name,
            total=schedule.total,
            start_ms=self.epoch0_ms + schedule.start_slot * SLOT_MS,
            slot_ms=SLOT_MS,
        )
        pipe.hset(tasks_key(self._prefix), progress.task_id, progress.spec.encode())
