"""The probe function of the Lambda experiments (`testbed coldstart`, `testbed memory-sweep`).

It answers which container served an invoke (an id made once, at init), how many invokes this
container has served, and when it was initialised; the event can ask it to sleep
(``sleep_ms``), to do ``cpu_ms`` of CPU work, or to hold ``alloc_mb`` of memory while it runs.

``cpu_ms`` is an amount of work, not a time: at init the probe measures how many work units
one millisecond of CPU time does (CPU time, which a CPU quota or a busy host does not
stretch), so ``cpu_ms`` costs that much CPU time on any container, and its wall time shows how
much CPU the container got: about ``cpu_ms`` on a full core, longer on a throttled one.

Standard library only: it ships in the Lambda zip and needs no AWS access.
"""

from __future__ import annotations

import os
import resource
import secrets
import time
from typing import Any

INITIALIZED_AT = time.time()
_init_started = time.perf_counter()
CONTAINER_ID = secrets.token_hex(6)  # random: a new container, a new id
CALIBRATION_CPU_MS = 20.0  # how much CPU time the calibration spends
MEBIBYTE = 1 << 20
PAGE = 4096
MAX_SLEEP_MS = 900_000  # Lambda's longest timeout


def _work(units: int) -> int:
    """``units`` of pure-Python arithmetic (one unit: 1,000 steps of an LCG)."""
    x = 1
    for _ in range(units):
        for _ in range(1000):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
    return x


def _calibrate() -> float:
    """Work units per millisecond of CPU time on this machine."""
    units, spent_ms = 0, 0.0
    batch = 1
    started = time.process_time()
    while spent_ms < CALIBRATION_CPU_MS:
        _work(batch)
        units += batch
        batch *= 2
        spent_ms = (time.process_time() - started) * 1000
    return units / spent_ms


UNITS_PER_CPU_MS = _calibrate()
INIT_MS = (time.perf_counter() - _init_started) * 1000
_served = 0


def handler(event: Any, context: Any) -> dict[str, Any]:
    global _served
    _served += 1
    event = event if isinstance(event, dict) else {}
    sleep_ms = _number(event, "sleep_ms", MAX_SLEEP_MS)
    cpu_ms = _number(event, "cpu_ms", MAX_SLEEP_MS)
    alloc_mb = int(_number(event, "alloc_mb", 10240))
    held = _hold(alloc_mb)
    cpu_wall_ms = cpu_time_ms = 0.0
    if cpu_ms:
        wall, cpu = time.perf_counter(), time.process_time()
        _work(max(1, round(cpu_ms * UNITS_PER_CPU_MS)))
        cpu_wall_ms = (time.perf_counter() - wall) * 1000
        cpu_time_ms = (time.process_time() - cpu) * 1000
    if sleep_ms:
        time.sleep(sleep_ms / 1000)
    del held
    return {
        "container_id": CONTAINER_ID,
        "invocations": _served,
        "initialized_at": INITIALIZED_AT,
        "init_ms": round(INIT_MS, 3),
        "pid": os.getpid(),
        "memory_limit_mb": int(getattr(context, "memory_limit_in_mb", 0) or 0),
        "sleep_ms": sleep_ms,
        "cpu_ms": cpu_ms,
        "cpu_wall_ms": round(cpu_wall_ms, 3),
        "cpu_time_ms": round(cpu_time_ms, 3),
        "alloc_mb": alloc_mb,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


def _number(event: dict[str, Any], key: str, highest: float) -> float:
    value = event.get(key, 0) or 0
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= highest:
        raise ValueError(f"{key} must be a number between 0 and {highest} (got {value!r})")
    return float(value)


def _hold(megabytes: int) -> bytearray:
    """``megabytes`` of memory, every page written so that it is resident."""
    buffer = bytearray(megabytes * MEBIBYTE)
    pages = len(range(0, len(buffer), PAGE))
    buffer[::PAGE] = b"\x01" * pages
    return buffer
