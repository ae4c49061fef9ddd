"""How many ended executions the embedded Step Functions keeps per state machine.

moto keeps every execution for the life of its backend, and each ended one holds its
interpreter's whole state (~27 KB in the stack's process for the pipeline's), so a stack under
sustained load grew by gigabytes an hour. Step Functions keeps a Standard execution for 90
days after it ends; the embedded stack keeps the newest ``kept`` ended executions of each
state machine and forgets older ones: DescribeExecution and GetExecutionHistory then answer
ExecutionDoesNotExist and ListExecutions leaves them out, as AWS does once an execution is
past its retention. Executions that have not ended are always kept.

The limit is process-wide, as moto's backends are; the patch is installed the first time a
limit is set. A state machine's list is looked at during StartExecution once it holds a tenth
of the limit more executions than after the last look, so the cost of a look (one pass over
that list) is spread over that many starts.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from serverless_testbed.embedded.moto.patching import Patch, patch
from serverless_testbed.embedded.moto.speed.stepfunctions import INDEXES
from serverless_testbed.errors import UsageError

KEEP_ALL = "all"

_lock = threading.Lock()
_kept: int | None = None  # None: every execution is kept, as moto does
_patch: Patch | None = None
_next_look: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def checked_ended_executions_kept(
    value: object, where: str = "ended executions kept"
) -> int | None:
    """``value`` as a limit (a whole number >= 1, or "all" for None), or a one-line
    UsageError naming it."""
    if value is None or value == KEEP_ALL:
        return None
    try:
        kept = int(str(value))
    except ValueError:
        raise UsageError(
            f"{where} {value!r} is not a whole number: give one >= 1, or all"
        ) from None
    if kept < 1:
        raise UsageError(f"{where} {value!r} is not allowed: give a whole number >= 1, or all")
    return kept


def set_ended_executions_kept(kept: int | None) -> None:
    """Keep the newest ``kept`` ended executions per state machine from now on (None: all)."""
    global _kept, _patch
    with _lock:
        _kept = kept
        _next_look.clear()
        if kept is not None and _patch is None:
            _patch = _forget_the_oldest_ended_executions()


def _forget_the_oldest_ended_executions() -> Patch:
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    @patch(StepFunctionsParserBackend, "start_execution")
    def start_execution(original: Any, self: Any, state_machine_arn: str, *a: Any, **o: Any) -> Any:
        execution = original(self, state_machine_arn, *a, **o)
        kept = _kept
        if kept is not None:
            _look(self.describe_state_machine(state_machine_arn), kept)
        return execution

    return start_execution


def _look(state_machine: Any, kept: int) -> None:
    step = max(1, kept // 10)
    with _lock:
        if len(state_machine.executions) < _next_look.get(state_machine, kept + step):
            return
        INDEXES.remove_oldest_ended(state_machine, kept)
        _next_look[state_machine] = len(state_machine.executions) + step
