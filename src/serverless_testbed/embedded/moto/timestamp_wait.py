"""Timestamp waits measured in UTC, whatever the host's time zone.

moto's ``Timestamp._get_wait_seconds`` (used by ``Timestamp`` and ``TimestampPath``) subtracts
``datetime.now()``, the host's *local* time, from the timestamp, which is UTC ("...Z"): on a
host at UTC+8 a wait until one hour from now came out as -7 hours and fired at once. Step
Functions reads the timestamp as UTC; so does this replacement. Everything else (parsing,
truncation to whole seconds, the failure event for a malformed timestamp) is moto's own.
"""

from __future__ import annotations

import datetime
import importlib
import threading
from typing import Any

from serverless_testbed.errors import RunFailed

TIMESTAMP_MODULE = "moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp"
PATCHED_METHOD = "_get_wait_seconds"

_lock = threading.Lock()
_installed = False


class TimestampPatchDoesNotFit(RunFailed):
    """moto no longer has what the patch replaces or calls (a moto upgrade moved it)."""


def install() -> None:
    """Replace the method once per process (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        module = importlib.import_module(TIMESTAMP_MODULE)
        timestamp = getattr(module, "Timestamp", None)
        needed = (PATCHED_METHOD, "_from_timestamp_string", "_create_failure_event")
        missing = [name for name in needed if not hasattr(timestamp, name)]
        failure = getattr(module, "FailureEventException", None)
        if timestamp is None or missing or failure is None:
            raise TimestampPatchDoesNotFit(
                f"{TIMESTAMP_MODULE}.Timestamp lacks {', '.join(missing) or 'itself'}: the "
                "UTC timestamp-wait patch does not fit this moto version"
            )

        def wait_seconds_until_utc(self: Any, env: Any) -> int:
            self.string.eval(env=env)
            text = env.stack.pop()
            moment = self._from_timestamp_string(timestamp=text)
            if moment is None:
                raise failure(self._create_failure_event(env, text))
            now_utc = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
            return int((moment - now_utc).total_seconds())

        setattr(timestamp, PATCHED_METHOD, wait_seconds_until_utc)
        _installed = True
