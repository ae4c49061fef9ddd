"""What the publisher reports: the workers' merged totals, the live [STATS] lines, the wait
for the workers to finish (drain) and the final summary (Markdown and JSON).

Workers keep exact cumulative counters in {prefix}_totals:{worker} (fields
``"{task}:{counter}"``); the publisher finds the workers in {prefix}_workers and sums their
counters, so every reported rate is the exact sum over workers.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from serverless_testbed.stress.protocol import totals_key, workers_key
from serverless_testbed.stress.publish.publisher import SlotPublisher, TaskProgress

COUNTERS = ("executed", "failed", "skipped_late")
_COUNT_IN_DESCRIPTOR = re.compile(rb'"n":(\d+)')


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class WorkerTotals:
    """Reads and sums the workers' cumulative counters for one run's tasks."""

    def __init__(self, client: Any, prefix: str, task_ids: Iterable[str]) -> None:
        self._client = client
        self._prefix = prefix
        self._task_ids = set(task_ids)
        self.workers: set[str] = set()  # every worker seen: a finished one keeps counting

    def read(self) -> dict[str, dict[str, int]]:
        """``{task_id: {"executed": n, "failed": n, "skipped_late": n}}`` summed over workers."""
        self.workers.update(_text(w) for w in self._client.hkeys(workers_key(self._prefix)))
        merged = {task_id: dict.fromkeys(COUNTERS, 0) for task_id in self._task_ids}
        if not self.workers:
            return merged
        pipe = self._client.pipeline(transaction=False)
        for worker in sorted(self.workers):
            pipe.hgetall(totals_key(self._prefix, worker))
        for totals in pipe.execute():
            for raw_field, raw_value in totals.items():
                task_id, _, counter = _text(raw_field).rpartition(":")
                if task_id in merged and counter in merged[task_id]:
                    merged[task_id][counter] += int(raw_value)
        return merged


def queue_backlog(client: Any, queues: list[str], sample: int = 500) -> tuple[list[int], bool]:
    """Operations waiting in each queue; ``True`` when a long queue was estimated from its
    first ``sample`` descriptors rather than counted exactly."""
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        pipe.llen(queue)
        pipe.lrange(queue, 0, sample - 1)
    replies = pipe.execute()
    backlog, estimated = [], False
    for length, items in zip(replies[::2], replies[1::2], strict=True):
        counted = sum(int(n) for n in _COUNT_IN_DESCRIPTOR.findall(b"\x00".join(items)))
        if length > len(items) and items:
            counted, estimated = round(counted * length / len(items)), True
        backlog.append(counted)
    return backlog, estimated


def stats_line(
    progress: TaskProgress, label: str, qps: float, backlog: list[int], estimated: bool, t: float
) -> str:
    """The seed's line: ``[STATS] updateItem | Pub:12345 Rem:87655 QPS:5000 Q:234[45 52] T:2s``."""
    approx = "~" if estimated else ""
    line = (
        f"[STATS] {label} | Pub:{progress.published} Rem:{progress.remaining} QPS:{qps:.0f} "
        f"Q:{approx}{sum(backlog)}[{' '.join(map(str, backlog))}] T:{int(t)}s"
    )
    if progress.skipped_late:
        line += f" Skip:{progress.skipped_late}"
    return line


@dataclass
class Monitor:
    """Once a second while publishing and draining: print a [STATS] line per running task."""

    publisher: SlotPublisher
    totals: WorkerTotals
    client: Any
    out: Callable[[str], None]
    interval_s: float = 1.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _last: dict[str, tuple[float, int]] = field(default_factory=dict)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="publish-stats", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        next_tick = time.monotonic() + self.interval_s
        while not self._stop.wait(max(0.0, next_tick - time.monotonic())):
            next_tick += self.interval_s
            try:
                self.print_once()
            except Exception as error:  # a stats hiccup must never stop the run
                self.out(f"[STATS] unavailable: {type(error).__name__}: {error}")

    def print_once(self) -> None:
        now = time.monotonic()
        merged = self.totals.read()
        backlog, estimated = queue_backlog(self.client, self.publisher.queues)
        elapsed = now - self.publisher.t0
        shown = [p for p in self.publisher.tasks if p.spec is not None and not _done(p, merged)]
        actions = [p.schedule.entry.task.action for p in shown]
        for progress in shown:
            counts = merged[progress.task_id]
            finished = counts["executed"] + counts["failed"]
            before_t, before = self._last.get(progress.task_id, (self.publisher.t0, 0))
            qps = (finished - before) / (now - before_t) if now > before_t else 0.0
            self._last[progress.task_id] = (now, finished)
            action = progress.schedule.entry.task.action
            label = action if actions.count(action) == 1 else f"{action}@{progress.schedule.key}"
            self.out(stats_line(progress, label, qps, backlog, estimated, elapsed))


@contextmanager
def progress_bar(publisher: SlotPublisher, label: str) -> Iterator[None]:
    """A rich progress bar on stderr of the operations handled so far (transient)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    done = threading.Event()
    total = publisher.schedule.total

    def show() -> None:
        columns = (TextColumn(label), BarColumn(), TextColumn("{task.completed:,.0f} ops"))
        console = Console(stderr=True)
        with Progress(*columns, TimeRemainingColumn(), console=console, transient=True) as bar:
            task = bar.add_task("publish", total=total)
            while not done.wait(0.5):
                bar.update(task, completed=sum(p.handled for p in publisher.tasks))

    thread = threading.Thread(target=show, name="publish-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _done(progress: TaskProgress, merged: dict[str, dict[str, int]]) -> bool:
    return progress.remaining == 0 and accounted(progress, merged[progress.task_id]) >= (
        progress.scheduled
    )


def accounted(progress: TaskProgress, counts: dict[str, int]) -> int:
    """Operations whose fate is known: executed, failed, or skipped late (here or by a worker)."""
    return counts["executed"] + counts["failed"] + counts["skipped_late"] + progress.skipped_late


def drain(
    publisher: SlotPublisher, totals: WorkerTotals, timeout_s: float, poll_s: float = 0.2
) -> tuple[dict[str, dict[str, int]], bool]:
    """Wait until the workers have accounted for every scheduled operation (or time is up)."""
    deadline = time.monotonic() + timeout_s
    while True:
        merged = totals.read()
        complete = all(accounted(p, merged[p.task_id]) >= p.scheduled for p in publisher.tasks)
        if complete or time.monotonic() >= deadline:
            return merged, complete
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))


def build_summary(
    publisher: SlotPublisher,
    merged: dict[str, dict[str, int]] | None,
    *,
    complete: bool | None,
    config_sync: dict[str, Any],
    catch_up: str,
) -> dict[str, Any]:
    """Per task: scheduled, published, executed, failed, skipped_late; and the loop's timing."""
    stats = publisher.stats
    lateness = stats.lateness_us
    tasks = []
    for progress in publisher.tasks:
        counts = (merged or {}).get(progress.task_id)
        row: dict[str, Any] = {
            "task": progress.task_id,
            "key": progress.schedule.key,
            "path": progress.schedule.entry.path,
            "action": progress.schedule.entry.task.action,
            "seed": progress.spec.seed if progress.spec else None,
            "scheduled": progress.scheduled,
            "published": progress.published,
            "skipped_late": progress.skipped_late + (counts["skipped_late"] if counts else 0),
            "executed": counts["executed"] if counts else None,
            "failed": counts["failed"] if counts else None,
        }
        row["unaccounted"] = progress.scheduled - accounted(progress, counts) if counts else None
        tasks.append(row)
    elapsed = max(stats.finished_mono - stats.started_mono, 1e-9)
    return {
        "run": publisher.run_id,
        "complete": complete,
        "interrupted": stats.interrupted,
        "config_sync": config_sync,
        "tasks": tasks,
        "publisher": {
            "catch_up": catch_up,
            "slots": stats.slots,
            "slots_caught_up": stats.slots_caught_up,
            "slots_skipped": stats.slots_skipped,
            "round_trips": stats.round_trips,
            "descriptors": stats.descriptors,
            "published": sum(p.published for p in publisher.tasks),
            "elapsed_s": round(elapsed, 3),
            "lateness_ms": {
                "p50": lateness.get_value_at_percentile(50) / 1000,
                "p99": lateness.get_value_at_percentile(99) / 1000,
                "max": lateness.get_max_value() / 1000,
            },
            "final_drift_ms": round(stats.final_drift_s * 1000, 3),
        },
    }


def render_summary(summary: dict[str, Any]) -> str:
    """The summary as Markdown."""

    def cell(value: Any) -> str:
        return "-" if value is None else f"{value:,}" if isinstance(value, int) else str(value)

    pub = summary["publisher"]
    state = {True: "complete", False: "INCOMPLETE", None: "not waited for"}[summary["complete"]]
    lines = [
        f"## Publish run {summary['run']}: workers' totals {state}"
        + (" (interrupted)" if summary["interrupted"] else ""),
        "",
        "| task | action | seed | scheduled | published | executed | failed | skipped late "
        "| unaccounted |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in summary["tasks"]:
        lines.append(
            f"| {row['key']} | {row['action']} | {row['seed'] or '-'} | {cell(row['scheduled'])} "
            f"| {cell(row['published'])} | {cell(row['executed'])} | {cell(row['failed'])} "
            f"| {cell(row['skipped_late'])} | {cell(row['unaccounted'])} |"
        )
    late = pub["lateness_ms"]
    lines += [
        "",
        f"Publisher: {pub['published']:,} operations in {pub['descriptors']:,} descriptors, "
        f"{pub['slots']:,} slots over {pub['elapsed_s']} s; slot lateness p50 {late['p50']} ms, "
        f"p99 {late['p99']} ms, max {late['max']} ms; final drift {pub['final_drift_ms']} ms; "
        f"catch-up {pub['catch_up']}: {pub['slots_caught_up']} slots caught up, "
        f"{pub['slots_skipped']} skipped.",
    ]
    return "\n".join(lines) + "\n"
