"""The embedded stack watching its own parts: a part that dies is noticed and said at once.

Each part has a check that returns None while it is healthy, or why it is not. A watch thread
runs the checks every ``interval_s``; the first time a part fails, it calls ``on_death`` with
the part's name and the reason, once per part. What happens then is the owner's choice: the
embedded stack restarts what it can (the Lambda zygote) and otherwise stops, naming the part.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

Check = Callable[[], str | None]  # None: healthy; else why not
PROBE_TIMEOUT_S = 2.0

log = logging.getLogger(__name__)


class PartState(StrEnum):
    RUNNING = "running"
    DEAD = "dead"


@dataclass(frozen=True)
class PartHealth:
    name: str
    state: PartState
    detail: str = ""


class HealthWatch:
    def __init__(
        self,
        checks: dict[str, Check],
        on_death: Callable[[str, str], None],
        *,
        interval_s: float = 0.5,
    ) -> None:
        self._checks = dict(checks)
        self._on_death = on_death
        self._interval_s = interval_s
        self._dead: dict[str, str] = {}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="stack-health", daemon=True)

    def start(self) -> HealthWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._interval_s + PROBE_TIMEOUT_S * len(self._checks))

    def report(self) -> list[PartHealth]:
        """Every part as checked now."""
        return [
            PartHealth(name, PartState.DEAD, reason)
            if (reason := self._run(check)) is not None
            else PartHealth(name, PartState.RUNNING)
            for name, check in self._checks.items()
        ]

    def check_now(self) -> None:
        for name, check in self._checks.items():
            if name in self._dead:
                continue
            reason = self._run(check)
            if reason is not None and not self._stopping.is_set():
                self._dead[name] = reason
                self._on_death(name, reason)

    def _watch(self) -> None:
        while not self._stopping.wait(self._interval_s):
            self.check_now()

    @staticmethod
    def _run(check: Check) -> str | None:
        try:
            return check()
        except Exception as error:  # a check that breaks says so instead of killing the watch
            return f"{type(error).__name__}: {error}"

    def revive(self, name: str) -> None:
        """The owner restarted ``name``: watch it again."""
        self._dead.pop(name, None)


def port_answers(host: str, port: int) -> str | None:
    """None when something accepts connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            return None
    except OSError as error:
        return f"port {port} does not answer ({error.strerror or error})"


def exited(status: int | None) -> str | None:
    """A process's exit status as a reason (None while it runs)."""
    if status is None:
        return None
    return f"killed by signal {-status}" if status < 0 else f"exited with status {status}"
