"""The stress worker: consumes batch descriptors, runs their operations, reports.

Start-up follows the seed design: subscribe to {prefix}_notify, read {prefix}_cfg (waiting for
it), start ``threads`` consumers, consumer ``n`` on {prefix}_q{n}. Each descriptor is expanded
deterministically (``expand.Expander``, task spec from {prefix}_tasks) and its operations are
paced over the slot: operation ``k`` of ``count`` is due at ``at_ms + k * slot_ms / count``.
Operations already due go to the backend together (up to ``batch`` per round trip), so a
worker that falls behind catches up at full speed instead of pacing further behind.

Once a second the housekeeping thread heartbeats, reclaims dead workers' in-flight
descriptors (see ``reliable_queue``) and publishes a snapshot on {prefix}_stats. Exact
cumulative counts go to {prefix}_totals:{worker} in the same script as each descriptor's ack.
Late work is never dropped, so the worker writes no ``skipped_late``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from serverless_testbed.stress.control import ControlHandler, ControlVerifier, RedisNonceLedger
from serverless_testbed.stress.protocol import (
    Descriptor,
    canonical_json,
    cfg_key,
    notify_channel,
    queue_key,
    stats_channel,
    tasks_key,
)
from serverless_testbed.stress.traffic import Config, TaskSpec
from serverless_testbed.stress.work.backends import Backend
from serverless_testbed.stress.work.expand import Expander
from serverless_testbed.stress.work.reliable_queue import ReliableQueue, consumer_inflight_key
from serverless_testbed.stress.work.stats import (
    Counters,
    Outcome,
    TaskStats,
    encode_histogram,
    merge,
    summary,
)

log = logging.getLogger("testbed.worker")

REPORT_INTERVAL_S = 1.0
TAKE_TIMEOUT_S = 1.0
TASK_SPEC_WAIT_S = 10.0
PACE_SLACK_MS = 0.2  # an operation due within this is sent now, not slept for


def new_worker_id() -> str:
    return f"{socket.gethostname().replace(':', '-')}-{os.getpid()}-{os.urandom(2).hex()}"


@dataclass
class WorkerOptions:
    prefix: str = "dst"
    worker_id: str = field(default_factory=new_worker_id)
    dead_after_s: float = 5.0
    batch: int = 32
    secret: str | None = None
    allow_remote_exec: bool = False
    reboot_command: str = "sudo reboot"
    terminate_command: str = "sudo shutdown -h now"


class Consumer(threading.Thread):
    """Consumer thread ``n``: takes from {prefix}_q{n}, executes, acks with the counts."""

    def __init__(self, worker: Worker, n: int, backend: Backend) -> None:
        super().__init__(name=f"consumer-{n}", daemon=True)
        self.worker = worker
        self.n = n
        self.backend = backend
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._interval: dict[str, TaskStats] = {}
        self.descriptors = 0

    def take_interval(self) -> dict[str, TaskStats]:
        with self._lock:
            taken, self._interval = self._interval, {}
        return taken

    def run(self) -> None:
        queue = self.worker.queue
        try:
            while not self.stopping.is_set():
                try:
                    raw = queue.take(self.n, TAKE_TIMEOUT_S)
                    if raw is not None:
                        self.process(raw)
                except Exception as error:  # Redis or backend trouble: keep the consumer alive
                    log.warning("consumer %d: %s: %s", self.n, type(error).__name__, error)
                    self._return_in_flight()
                    self.stopping.wait(1.0)
        finally:
            self.backend.close()

    def _return_in_flight(self) -> None:
        """Give an unfinished descriptor back (nothing of it was counted: ack never ran)."""
        try:
            threads = self.worker.config.threads if self.worker.config else 1
            self.worker.queue.release(self.n, threads)
        except Exception as error:  # still unreachable: reclaimable once this worker dies
            log.warning("consumer %d: cannot return in-flight work: %s", self.n, error)

    def process(self, raw: bytes) -> None:
        descriptor = Descriptor.decode(raw)
        counters = Counters()
        expander = self.worker.expander(descriptor.task)
        if expander is None:
            for _ in range(descriptor.count):
                counters.record(Outcome(ok=False, error="unknown_task"))
        else:
            self._execute(descriptor, expander, counters)
        if not self.worker.queue.ack(self.n, raw, counters.totals_fields(descriptor.task)):
            log.warning("descriptor %s was reclaimed before its ack: not counted here", raw[:80])
        self.descriptors += 1

    def _execute(self, descriptor: Descriptor, expander: Expander, counters: Counters) -> None:
        count, first = descriptor.count, descriptor.first
        step = descriptor.slot_ms / count if count else 0.0
        position = 0
        while position < count:
            due = descriptor.at_ms + position * step
            now = time.time() * 1000
            if due - now > PACE_SLACK_MS:
                time.sleep((due - now) / 1000)
                now = time.time() * 1000
            end = position + 1
            limit = min(count, position + self.worker.options.batch)
            while end < limit and descriptor.at_ms + end * step <= now:
                end += 1
            operations = [expander.operation(first + k) for k in range(position, end)]
            sent = time.time() * 1000
            outcomes = self.backend.execute(operations)
            done = time.time() * 1000
            with self._lock:
                stats = self._interval.setdefault(descriptor.task, TaskStats())
                for k, outcome in zip(range(position, end), outcomes, strict=True):
                    intended = descriptor.at_ms + k * step
                    stats.record(outcome, (done - sent) * 1000, (done - intended) * 1000)
                    counters.record(outcome)
            position = end


class Worker:
    def __init__(
        self,
        client: Any,
        options: WorkerOptions,
        backend_factory: Callable[[Config], Backend],
    ) -> None:
        self.client = client
        self.options = options
        self.backend_factory = backend_factory
        self.queue = ReliableQueue(client, options.prefix, options.worker_id)
        self.config: Config | None = None
        self.consumers: dict[int, Consumer] = {}
        self.stop_event = threading.Event()
        self._expanders: dict[str, Expander | None] = {}
        self._expanders_lock = threading.Lock()
        self._consumers_lock = threading.Lock()
        self._cumulative: dict[str, TaskStats] = {}
        self._server_now_ms = 0
        self.nonce_ledger = RedisNonceLedger(client, options.prefix)
        self.control = ControlHandler(
            ControlVerifier(options.secret, self.nonce_ledger),
            update_config=self.reload_config,
            allow_remote_exec=options.allow_remote_exec,
            reboot_command=options.reboot_command,
            terminate_command=options.terminate_command,
        )

    # ---- lifecycle
    def run(self) -> None:
        prefix = self.options.prefix
        if not self.options.secret:
            log.warning(
                "no control secret (--control-secret or TESTBED_CONTROL_SECRET): "
                "every control message on %s will be rejected",
                notify_channel(prefix),
            )
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.nonce_ledger.start_listening()
        pubsub.subscribe(notify_channel(prefix))  # before reading the config: no update lost
        self.config = self.wait_for_config()
        if self.stop_event.is_set():
            pubsub.close()
            return
        self._server_now_ms = self.queue.heartbeat()
        log.info(
            "worker %s: %d threads on %s_q0..q%d, table %s",
            self.options.worker_id,
            self.config.threads,
            prefix,
            self.config.threads - 1,
            self.config.table_name,
        )
        self.apply_threads(self.config.threads)
        listener = threading.Thread(target=self._listen, args=(pubsub,), daemon=True)
        listener.start()
        next_report = time.monotonic() + REPORT_INTERVAL_S
        while not self.stop_event.wait(max(0.0, next_report - time.monotonic())):
            next_report += REPORT_INTERVAL_S
            self._housekeeping()
        self._shutdown()
        listener.join(timeout=2)
        pubsub.close()

    def stop(self) -> None:
        self.stop_event.set()

    def wait_for_config(self) -> Config:
        key = cfg_key(self.options.prefix)
        said = False
        while not self.stop_event.is_set():
            raw = self.client.get(key)
            if raw is not None:
                return Config.model_validate_json(raw)
            if not said:
                log.info("waiting for %s (start `testbed publish` to write it)", key)
                said = True
            self.stop_event.wait(0.5)
        return Config(table_name="-", region="-", threads=1)

    def reload_config(self) -> None:
        raw = self.client.get(cfg_key(self.options.prefix))
        if raw is None:
            log.warning(
                "update_config: %s is gone; keeping the current config",
                cfg_key(self.options.prefix),
            )
            return
        self.config = Config.model_validate_json(raw)
        log.info(
            "config updated: %d threads, table %s", self.config.threads, self.config.table_name
        )
        self.apply_threads(self.config.threads)

    def apply_threads(self, threads: int) -> None:
        assert self.config is not None
        with self._consumers_lock:
            for n in range(threads):
                current = self.consumers.get(n)
                if current is None or not current.is_alive() or current.stopping.is_set():
                    consumer = Consumer(self, n, self.backend_factory(self.config))
                    self.consumers[n] = consumer
                    consumer.start()
            for n in [n for n in self.consumers if n >= threads]:
                self.consumers[n].stopping.set()  # finishes its descriptor, then ends

    def _shutdown(self) -> None:
        log.info("stopping: finishing in-flight descriptors")
        with self._consumers_lock:
            consumers = list(self.consumers.values())
        for consumer in consumers:
            consumer.stopping.set()
        for consumer in consumers:
            consumer.join()
        threads = self.config.threads if self.config else 1
        for consumer in consumers:
            returned = self.queue.release(consumer.n, threads)
            if returned:
                log.warning(
                    "returned %d unfinished descriptors of consumer %d", returned, consumer.n
                )
        self._housekeeping()
        log.info("stopped")

    # ---- task specs
    def expander(self, task: str) -> Expander | None:
        with self._expanders_lock:
            if task in self._expanders:
                return self._expanders[task]
        deadline = time.monotonic() + TASK_SPEC_WAIT_S
        raw = self.client.hget(tasks_key(self.options.prefix), task)
        while raw is None and time.monotonic() < deadline and not self.stop_event.is_set():
            time.sleep(0.05)
            raw = self.client.hget(tasks_key(self.options.prefix), task)
        expander = Expander(TaskSpec.model_validate_json(raw)) if raw is not None else None
        if expander is None:
            log.error(
                "task %s has no spec in %s: its operations count as failed",
                task,
                tasks_key(self.options.prefix),
            )
        with self._expanders_lock:
            self._expanders[task] = expander
        return expander

    # ---- control and reporting
    def _listen(self, pubsub: Any) -> None:
        while not self.stop_event.is_set():
            try:
                message = pubsub.get_message(timeout=0.5)
            except Exception as error:
                log.warning("control channel: %s; resubscribing", type(error).__name__)
                time.sleep(0.5)
                continue
            if message and message.get("type") == "message":
                try:
                    self.control.handle(message["data"])
                except Exception as error:  # e.g. an invalid {prefix}_cfg: keep listening
                    log.error("control message failed: %s: %s", type(error).__name__, error)

    def _housekeeping(self) -> None:
        try:
            self._server_now_ms = self.queue.heartbeat()
            threads = self.config.threads if self.config else 1
            moved = self.queue.reclaim_dead(
                int(self.options.dead_after_s * 1000), threads, self._server_now_ms
            )
            if moved:
                log.warning("reclaimed %d descriptors from dead workers", moved)
            self.client.publish(stats_channel(self.options.prefix), canonical_json(self.snapshot()))
        except Exception as error:  # Redis briefly away: try again next second
            log.warning("housekeeping failed: %s", type(error).__name__)

    def snapshot(self) -> dict[str, Any]:
        with self._consumers_lock:
            consumers = list(self.consumers.values())
        interval = merge([consumer.take_interval() for consumer in consumers])
        for task, stats in interval.items():
            self._cumulative.setdefault(task, TaskStats()).add(stats)
        tasks = {}
        for task, cumulative in self._cumulative.items():
            now = interval.get(task, TaskStats())
            tasks[task] = {
                **cumulative.counters.as_dict(),
                "rate": now.counters.executed / REPORT_INTERVAL_S,
                "service_ms": summary(now.service),
                "intended_ms": summary(now.intended),
                "service_hist": encode_histogram(now.service),
                "intended_hist": encode_histogram(now.intended),
            }
        pipe = self.client.pipeline(transaction=False)
        prefix, worker = self.options.prefix, self.options.worker_id
        for consumer in consumers:
            pipe.llen(queue_key(prefix, consumer.n))
            pipe.llen(consumer_inflight_key(prefix, worker, consumer.n))
        lengths = pipe.execute()
        queues = {
            f"q{c.n}": {
                "queued": lengths[2 * i],
                "inflight": lengths[2 * i + 1],
                "done": c.descriptors,
            }
            for i, c in enumerate(consumers)
        }
        return {
            "worker": worker,
            "ts_ms": int(time.time() * 1000),
            "interval_s": REPORT_INTERVAL_S,
            "threads": len([c for c in consumers if not c.stopping.is_set()]),
            "tasks": tasks,
            "queues": queues,
        }


def run_until_signal(worker: Worker) -> None:
    """Run ``worker``; SIGTERM or Ctrl-C stops it gracefully (in-flight work finishes)."""
    import signal

    def _stop(signum: int, _frame: Any) -> None:
        # Not worker.stop() here: the handler runs in the main thread, which may be holding
        # the stop Event's lock inside Event.wait; setting it from here would deadlock.
        threading.Thread(target=worker.stop, name="stop-on-signal", daemon=True).start()
        log.info("signal %d: stopping", signum)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    worker.run()
