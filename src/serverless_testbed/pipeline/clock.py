"""Time, injected: wall-clock stamps for the stage timestamps, a monotonic clock for deadlines."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> float:
        """Wall-clock epoch milliseconds (comparable across hosts)."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, for deadlines."""
        ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now_ms(self) -> float:
        return time.time() * 1000

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()
