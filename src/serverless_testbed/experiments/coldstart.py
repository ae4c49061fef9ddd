"""`testbed coldstart`: W concurrent callers, N invocations of the probe, which container
served each one (the seed's ``invoke.py -mw W -it N | sort | uniq -c``, made proper).

The answer comes from the function itself: the probe returns the id its container made at
init and how many invokes that container has served; Init Duration comes from the REPORT line
of the invoke's log tail. ``force_cold`` changes the function's configuration (one environment
variable) before each invoke, as aws-lambda-power-tuning's ``onlyColdStarts`` does, so every
invoke lands in a new container on every target; the invocations then run one at a time,
since a concurrent caller could otherwise reuse the container another one just started.
"""

from __future__ import annotations

import itertools
import json
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from serverless_testbed.errors import UsageError
from serverless_testbed.experiments.configuration import update_configuration
from serverless_testbed.experiments.lambda_invoke import invoke_with_log

FORCE_COLD_VARIABLE = "TESTBED_FORCE_COLD_START"


@dataclass(frozen=True)
class ProbeCall:
    index: int
    worker: int
    container_id: str | None
    container_invocation: int | None  # how many invokes the container had served, this one too
    cold: bool
    init_ms: float | None  # the REPORT line's Init Duration (cold starts only)
    duration_ms: float | None
    billed_duration_ms: float | None
    max_memory_used_mb: int | None
    client_ms: float
    started_at: float
    ended_at: float
    error: str | None


@dataclass(frozen=True)
class ContainerUse:
    id: str
    invocations: int
    first_use: float
    last_use: float
    init_ms: float | None


@dataclass(frozen=True)
class ColdstartRun:
    function_name: str
    workers: int
    iterations: int
    sleep_ms: float
    force_cold: bool
    calls: list[ProbeCall]
    wall_s: float

    @property
    def containers(self) -> list[ContainerUse]:
        by_id: dict[str, list[ProbeCall]] = {}
        for call in self.calls:
            if call.container_id is not None:
                by_id.setdefault(call.container_id, []).append(call)
        uses = [
            ContainerUse(
                id=container_id,
                invocations=len(calls),
                first_use=min(c.started_at for c in calls),
                last_use=max(c.ended_at for c in calls),
                init_ms=next((c.init_ms for c in calls if c.init_ms is not None), None),
            )
            for container_id, calls in by_id.items()
        ]
        return sorted(uses, key=lambda use: use.first_use)

    def summary(self) -> dict[str, Any]:
        counts = [use.invocations for use in self.containers]
        inits = sorted(c.init_ms for c in self.calls if c.init_ms is not None)
        return {
            "function": self.function_name,
            "workers": self.workers,
            "iterations": self.iterations,
            "sleep_ms": self.sleep_ms,
            "force_cold": self.force_cold,
            "containers": len(counts),
            "cold_starts": sum(c.cold for c in self.calls),
            "errors": sum(c.error is not None for c in self.calls),
            "reuse_min": min(counts, default=0),
            "reuse_max": max(counts, default=0),
            "reuse_mean": round(statistics.fmean(counts), 3) if counts else 0,
            "reuse_stddev": round(statistics.pstdev(counts), 3) if counts else 0,
            "init_ms": _distribution(inits),
            "wall_s": round(self.wall_s, 3),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "containers": [asdict(use) for use in self.containers],
            "invocations": [asdict(call) for call in self.calls],
            "summary": self.summary(),
        }


def validate(workers: int, iterations: int, sleep_ms: float) -> None:
    if workers < 1:
        raise UsageError(f"--workers must be at least 1 (got {workers})")
    if iterations < 1:
        raise UsageError(f"--iterations must be at least 1 (got {iterations})")
    if not 0 <= sleep_ms <= 900_000:
        raise UsageError(f"--sleep-ms must be between 0 and 900000 (got {sleep_ms})")


def run(
    lambda_client: Any,
    function_name: str,
    *,
    workers: int,
    iterations: int,
    sleep_ms: float = 0.0,
    force_cold: bool = False,
    on_done: Callable[[ProbeCall], None] | None = None,
) -> ColdstartRun:
    """Call the probe ``iterations`` times from ``workers`` threads, started together (each
    takes the next invocation as soon as its previous one returned)."""
    validate(workers, iterations, sleep_ms)
    payload = json.dumps({"sleep_ms": sleep_ms} if sleep_ms else {}).encode()
    indexes = itertools.count()
    take_lock = threading.Lock()
    calls: list[ProbeCall] = []
    start_together = threading.Barrier(workers)

    with _forced_cold_starts(lambda_client, function_name, force_cold) as before_each:

        def caller(worker: int) -> None:
            start_together.wait()
            while True:
                with take_lock:
                    index = next(indexes)
                if index >= iterations:
                    return
                with before_each():
                    call = _call_probe(lambda_client, function_name, payload, index, worker)
                with take_lock:
                    calls.append(call)
                if on_done is not None:
                    on_done(call)

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="coldstart") as pool:
            for future in [pool.submit(caller, worker) for worker in range(workers)]:
                future.result()
        wall_s = time.perf_counter() - started
    calls.sort(key=lambda call: call.index)
    return ColdstartRun(function_name, workers, iterations, sleep_ms, force_cold, calls, wall_s)


def _call_probe(
    lambda_client: Any, function_name: str, payload: bytes, index: int, worker: int
) -> ProbeCall:
    invocation = invoke_with_log(lambda_client, function_name, payload)
    report = invocation.report
    body: Any = None
    error = None
    try:
        body = json.loads(invocation.payload)
    except ValueError:
        error = f"not JSON: {invocation.payload[:200]!r}"
    if invocation.function_error:
        error = f"{invocation.function_error}: {invocation.payload[:300].decode(errors='replace')}"
    answered = isinstance(body, dict) and error is None
    container_invocation = body.get("invocations") if answered else None
    init_ms = report.init_duration_ms if report else None
    return ProbeCall(
        index=index,
        worker=worker,
        container_id=body.get("container_id") if answered else None,
        container_invocation=container_invocation,
        cold=container_invocation == 1 or init_ms is not None,
        init_ms=init_ms,
        duration_ms=report.duration_ms if report else None,
        billed_duration_ms=report.billed_duration_ms if report else None,
        max_memory_used_mb=report.max_memory_used_mb if report else None,
        client_ms=round(invocation.client_ms, 3),
        started_at=invocation.started_at,
        ended_at=invocation.ended_at,
        error=error,
    )


@contextmanager
def _forced_cold_starts(
    lambda_client: Any, function_name: str, force_cold: bool
) -> Iterator[Callable[[], Any]]:
    """Without ``force_cold``: nothing before each invoke. With it: a new value of one
    environment variable before each (serialised with the invoke), the function's own
    environment restored at the end, also after an error or Ctrl-C."""
    if not force_cold:
        yield _nothing
        return
    configuration = lambda_client.get_function_configuration(FunctionName=function_name)
    original = dict(configuration.get("Environment", {}).get("Variables", {}))
    lock = threading.Lock()

    @contextmanager
    def change_configuration() -> Iterator[None]:
        with lock:
            _set_environment(
                lambda_client, function_name, {**original, FORCE_COLD_VARIABLE: uuid.uuid4().hex}
            )
            yield

    try:
        yield change_configuration
    finally:
        _set_environment(lambda_client, function_name, original)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _set_environment(lambda_client: Any, function_name: str, variables: dict[str, str]) -> None:
    update_configuration(lambda_client, function_name, Environment={"Variables": variables})


def _distribution(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None

    def rank(q: float) -> float:
        return values[min(len(values) - 1, max(0, round(q * len(values) + 0.5) - 1))]

    return {
        "count": len(values),
        "min": round(values[0], 2),
        "p50": round(rank(0.5), 2),
        "p90": round(rank(0.9), 2),
        "max": round(values[-1], 2),
        "mean": round(statistics.fmean(values), 2),
    }


def render_markdown(run: ColdstartRun) -> str:
    summary = run.summary()
    t0 = min((c.started_at for c in run.calls), default=0.0)
    lines = [
        f"## Cold starts: {run.function_name}",
        "",
        f"{run.workers} callers, {run.iterations} invocations, sleep {run.sleep_ms:g} ms"
        + (", every invocation forced cold" if run.force_cold else ""),
        "",
        "| container | invocations | first use (s) | last use (s) | Init Duration (ms) |",
        "|---|---:|---:|---:|---:|",
    ]
    for use in run.containers:
        init = f"{use.init_ms:.2f}" if use.init_ms is not None else "-"
        lines.append(
            f"| {use.id} | {use.invocations} | {use.first_use - t0:.3f} | "
            f"{use.last_use - t0:.3f} | {init} |"
        )
    lines += [
        "",
        "| containers | cold starts | errors | reuse min | reuse max | reuse stddev | wall (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {summary['containers']} | {summary['cold_starts']} | {summary['errors']} | "
        f"{summary['reuse_min']} | {summary['reuse_max']} | {summary['reuse_stddev']} | "
        f"{summary['wall_s']} |",
    ]
    inits = summary["init_ms"]
    if inits:
        lines += [
            "",
            "| Init Duration (ms) | n | min | p50 | p90 | max | mean |",
            "|---|---:|---:|---:|---:|---:|---:|",
            f"| cold starts | {inits['count']} | {inits['min']} | {inits['p50']} | "
            f"{inits['p90']} | {inits['max']} | {inits['mean']} |",
        ]
    return "\n".join(lines) + "\n"
