"""Step Functions: finding an execution costs the same however many executions are kept.

moto keeps every execution of a state machine in a list (``StateMachine.executions``) and
finds one by scanning it: ``DescribeExecution`` (several per pipeline execution) and
``GetExecutionHistory`` with a generator over the list, ``StartExecution`` by looking for
an execution of the same name (idempotency), ``SendTaskSuccess`` and
``SendTaskHeartbeat`` by listing every RUNNING execution of every state machine
(``_get_executions``) before asking each for the task token. An embedded stack keeps every
execution it ran, so these grew with the stack's age.

Each state machine's list now has an index beside it, brought up to date under a lock at
each look-up from the executions appended since the last one (moto only ever appends to
these lists; a list replaced or shorter than indexed is indexed again from scratch):

- execution ARN -> position of the first execution with that ARN, as the scan found it;
- execution name -> position of the first execution with that name, likewise;
- the executions not yet seen in a final state (SUCCEEDED, FAILED, TIMED_OUT, ABORTED,
  which an execution never leaves), in list order: RUNNING ones are picked from these.

Results, their order and the errors raised are moto's.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from serverless_testbed.embedded.moto.patching import Patch, patch

FINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
_UNNAMED = object()  # moto's executions all have a name; anything else is not indexed by it


class ExecutionIndex:
    """What a state machine's executions list held, as far as it was read."""

    def __init__(self, executions: list[Any]) -> None:
        self.executions = executions
        self.indexed = 0
        self.position_of: dict[str, int] = {}
        self.position_of_name: dict[Any, int] = {}
        self.unfinished: list[Any] = []

    def catch_up(self) -> None:
        executions = self.executions
        for position in range(self.indexed, len(executions)):
            execution = executions[position]
            self.position_of.setdefault(execution.execution_arn, position)
            name = getattr(execution, "name", _UNNAMED)
            if name is not _UNNAMED:
                self.position_of_name.setdefault(name, position)
            self.unfinished.append(execution)
        self.indexed = len(executions)


class ExecutionIndexes:
    """One ExecutionIndex per state machine, kept as long as the state machine lives."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._indexes: weakref.WeakKeyDictionary[Any, ExecutionIndex] = weakref.WeakKeyDictionary()

    def _current(self, state_machine: Any) -> ExecutionIndex:
        # Called with the lock held.
        executions = state_machine.executions
        index = self._indexes.get(state_machine)
        if index is None or index.executions is not executions or len(executions) < index.indexed:
            index = self._indexes[state_machine] = ExecutionIndex(executions)
        index.catch_up()
        return index

    def find(self, state_machine: Any, execution_arn: str) -> Any:
        """The first execution of ``state_machine`` with this ARN, or None."""
        with self._lock:
            index = self._current(state_machine)
            position = index.position_of.get(execution_arn)
            return None if position is None else index.executions[position]

    def first_named(self, state_machine: Any, name: Any) -> Any:
        """The first execution of ``state_machine`` with this name, or None."""
        with self._lock:
            index = self._current(state_machine)
            position = index.position_of_name.get(name)
            return None if position is None else index.executions[position]

    def running(self, state_machine: Any) -> list[Any]:
        """The state machine's RUNNING executions, in its list's order."""
        with self._lock:
            index = self._current(state_machine)
            running = []
            unfinished = []
            for execution in index.unfinished:
                status = execution.status  # read as moto's scan reads it (and raises)
                if status == "RUNNING":
                    running.append(execution)
                if status not in FINAL_STATUSES:
                    unfinished.append(execution)
            index.unfinished = unfinished
        return running

    def remove_oldest_ended(self, state_machine: Any, kept: int) -> int:
        """Remove from the state machine's list, in place, every ended execution but the
        newest ``kept``; return how many went. moto only ever appends to the list, so the
        part read is replaced and executions appended meanwhile stay; lookups wait for it."""
        with self._lock:
            executions = state_machine.executions
            seen = executions[:]
            ended = [i for i, execution in enumerate(seen) if execution.status in FINAL_STATUSES]
            gone = frozenset(ended[: max(0, len(ended) - kept)])
            if gone:
                executions[: len(seen)] = [e for i, e in enumerate(seen) if i not in gone]
                self._indexes.pop(state_machine, None)  # positions moved: index again
            return len(gone)


# Process-wide, as moto's backends are; execution_retention.py removes executions through it.
INDEXES = ExecutionIndexes()


def apply() -> list[Patch]:
    from moto.stepfunctions.exceptions import ExecutionAlreadyExists, ExecutionDoesNotExist
    from moto.stepfunctions.models import StateMachine, StepFunctionBackend
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    indexes = INDEXES

    def execution_of(backend: Any, execution_arn: str) -> tuple[Any, Any]:
        # moto's describe_execution and get_execution_history, but for the scan.
        backend._validate_execution_arn(execution_arn)
        state_machine = backend._get_state_machine_for_execution(execution_arn)
        execution = indexes.find(state_machine, execution_arn)
        if not execution:
            raise ExecutionDoesNotExist("Execution Does Not Exist: '" + execution_arn + "'")
        return state_machine, execution

    @patch(StepFunctionBackend, "describe_execution")
    def describe_execution(original: Any, self: Any, execution_arn: str) -> Any:
        return execution_of(self, execution_arn)[1]

    @patch(StepFunctionBackend, "get_execution_history")
    def get_execution_history(original: Any, self: Any, execution_arn: str) -> Any:
        state_machine, execution = execution_of(self, execution_arn)
        return {"events": execution.get_execution_history(state_machine.roleArn)}

    @patch(StepFunctionsParserBackend, "_get_executions")
    def get_executions(original: Any, self: Any, execution_status: Any = None) -> list[Any]:
        if execution_status != ExecutionStatus.RUNNING:
            return list(original(self, execution_status))
        return [
            execution
            for state_machine in self.state_machines
            for execution in indexes.running(state_machine)
        ]

    @patch(StateMachine, "_handle_name_input_idempotency")
    def handle_name_input_idempotency(
        original: Any, self: Any, name: Any, execution_input: Any
    ) -> Any:
        # moto's loop stops at the first execution of that name: the same one, found directly.
        execution = indexes.first_named(self, name)
        if execution is None:
            return None
        # Executions with the same name and input are considered idempotent
        if execution_input == execution.execution_input and execution.status == "RUNNING":
            return execution
        # If the inputs are different _or_ the execution already finished, raise
        raise ExecutionAlreadyExists("Execution Already Exists: '" + execution.execution_arn + "'")

    return [
        describe_execution,
        get_execution_history,
        get_executions,
        handle_name_input_idempotency,
    ]
