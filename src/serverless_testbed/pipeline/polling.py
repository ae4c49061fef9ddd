"""When to ask DescribeExecution again: a backoff that starts where recent executions ended.

Step Functions has no way to wait for a Standard execution's end, so the api function polls.
Polling from the start (5 ms, then each wait 1.5x the last) costs ~5 calls for a 60 ms run
and ~10 for a 400 ms one, and under concurrency those calls were most of the emulator's
work, which made every run longer and so polled more again. A warm function has seen how
long recent runs took (DescribeExecution's stopDate - startDate, the service's own clock, so
the polling does not feed back into it): its first poll comes just before the typical end,
then short steps that back off. A warm run costs ~2 calls at any load, the first poll is
never later than most runs end, and a long run still costs at most one call per second:
Step Functions' DescribeExecution quota is a token bucket per account and region (300 calls,
refilled 15/s in us-east-1, us-west-2 and eu-west-1; 250 and 10/s elsewhere).
"""

from __future__ import annotations

import statistics
import threading
from collections import deque
from collections.abc import Iterator

FIRST_POLL_S = 0.005
POLL_BACKOFF = 1.5
MAX_POLL_S = 1.0
KEPT_DURATIONS = 8  # few, so the schedule follows a change of load within a handful of runs
LEARNED_AFTER = 3  # durations needed before the schedule trusts them
FIRST_POLL_FRACTION = 0.8  # of the typical duration: most runs have not ended yet
STEP_FRACTION = 0.1  # of the typical duration: the first step after the first poll


class RecentDurations:
    """How long the last executions ran, for the next one's poll schedule; shared by the
    runs of one process (a warm Lambda container, or a benchmark's threads)."""

    def __init__(self, kept: int = KEPT_DURATIONS) -> None:
        self._durations: deque[float] = deque(maxlen=kept)
        self._lock = threading.Lock()

    def record(self, seconds: float) -> None:
        if seconds >= 0:
            with self._lock:
                self._durations.append(seconds)

    def typical(self) -> float | None:
        """The median of the kept durations (one odd run does not move it), or None until
        LEARNED_AFTER runs were seen."""
        with self._lock:
            if len(self._durations) < LEARNED_AFTER:
                return None
            return statistics.median(self._durations)


def poll_delays(typical_s: float | None) -> Iterator[float]:
    """The waits before each DescribeExecution, endless (the caller's deadline ends them)."""
    if typical_s is None:
        delay = FIRST_POLL_S
    else:
        yield max(FIRST_POLL_S, FIRST_POLL_FRACTION * typical_s)
        delay = min(max(FIRST_POLL_S, STEP_FRACTION * typical_s), MAX_POLL_S)
    while True:
        yield delay
        delay = min(delay * POLL_BACKOFF, MAX_POLL_S)
