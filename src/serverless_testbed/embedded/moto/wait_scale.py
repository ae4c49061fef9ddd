"""Wait-state time scaling for moto's Step Functions interpreter (WAIT_TIME_SCALE).

Every Wait state (Seconds, SecondsPath, Timestamp, TimestampPath) ends in one method,
``WaitFunction._wait_interval(env, wait_seconds)``: the Seconds forms pass their seconds, the
Timestamp forms the time left until the timestamp. Scaling there shrinks all four alike, and
a timestamp wait by its remaining time, ``(fire_at - now) * scale``: with a scale of 0.001 a
one-hour wait takes 3.6 s. The wait still ends early when the execution stops
(StopExecution), as moto's own does.

The scale is process-wide, as moto's backends are, and can change while a stack runs
(``set_wait_scale``); a wait already under way keeps the scale it started with. The patch is
installed the first time a scale other than 1 is asked for; with a scale of 1 the original
method runs unchanged.
"""

from __future__ import annotations

import importlib
import math
import threading
import time
from typing import Any

from serverless_testbed.errors import RunFailed, UsageError

WAIT_FUNCTION_MODULE = (
    "moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function"
)
PATCHED_METHOD = "_wait_interval"

_lock = threading.Lock()
_scale = 1.0
_original: Any = None


class WaitScalePatchDoesNotFit(RunFailed):
    """moto no longer has the method the patch replaces (a moto upgrade moved it)."""


def checked_wait_scale(value: object, where: str = "wait scale") -> float:
    """``value`` as a scale (a finite number > 0), or a one-line UsageError naming it."""
    try:
        scale = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UsageError(f"{where} {value!r} is not a number: give a number > 0") from None
    if not math.isfinite(scale) or scale <= 0:
        raise UsageError(f"{where} {value!r} is not allowed: give a finite number > 0")
    return scale


def wait_scale() -> float:
    return _scale


def set_wait_scale(scale: float) -> None:
    """Scale every Wait that starts from now on (1: real time)."""
    global _scale
    scale = checked_wait_scale(scale)
    with _lock:
        if scale != 1.0:
            _install()
        _scale = scale


def _install() -> None:
    global _original
    if _original is not None:
        return
    module = importlib.import_module(WAIT_FUNCTION_MODULE)
    wait_function = getattr(module, "WaitFunction", None)
    original = getattr(wait_function, PATCHED_METHOD, None)
    if wait_function is None or original is None:
        raise WaitScalePatchDoesNotFit(
            f"{WAIT_FUNCTION_MODULE}.WaitFunction.{PATCHED_METHOD} not found: the wait-scale "
            "patch does not fit this moto version"
        )

    def scaled_wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        scale = _scale
        if scale == 1.0:
            return original(self, env, wait_seconds)
        # moto rounds to whole seconds, which a scaled wait cannot; a deadline keeps the
        # fraction, and an unrelated wake-up (the event pulses on every program-state
        # change) waits again for what is left, as moto's own loop does.
        deadline = time.monotonic() + max(wait_seconds, 0) * scale
        while env.is_running():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            env.program_state_event.wait(remaining)
        return None

    setattr(wait_function, PATCHED_METHOD, scaled_wait_interval)
    _original = original
