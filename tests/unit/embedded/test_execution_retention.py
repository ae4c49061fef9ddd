"""Which executions a state machine's list keeps, and how a limit is read from the command
line."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from serverless_testbed.embedded.moto.execution_retention import checked_ended_executions_kept
from serverless_testbed.embedded.moto.speed.stepfunctions import ExecutionIndexes
from serverless_testbed.errors import UsageError


class StateMachine:
    """What the list and the index read of moto's: its executions (kept by weak reference)."""

    def __init__(self, executions: list[SimpleNamespace]) -> None:
        self.executions = executions


def machine_of(*statuses: str) -> StateMachine:
    return StateMachine(
        [
            SimpleNamespace(execution_arn=f"arn:{i}", name=f"e{i}", status=status)
            for i, status in enumerate(statuses)
        ]
    )


def arns(machine: StateMachine) -> list[str]:
    return [execution.execution_arn for execution in machine.executions]


def test_the_oldest_ended_go_and_unfinished_ones_stay_wherever_they_are() -> None:
    machine = machine_of("RUNNING", "SUCCEEDED", "FAILED", "RUNNING", "TIMED_OUT", "ABORTED")
    same_list = machine.executions

    removed = ExecutionIndexes().remove_oldest_ended(machine, kept=2)

    assert removed == 2
    assert machine.executions is same_list
    assert arns(machine) == ["arn:0", "arn:3", "arn:4", "arn:5"]


def test_nothing_goes_while_no_more_than_the_limit_have_ended() -> None:
    machine = machine_of("SUCCEEDED", "RUNNING", "SUCCEEDED")

    assert ExecutionIndexes().remove_oldest_ended(machine, kept=2) == 0
    assert arns(machine) == ["arn:0", "arn:1", "arn:2"]


def test_lookups_after_a_removal_find_executions_at_their_new_places() -> None:
    machine = machine_of("SUCCEEDED", "SUCCEEDED", "RUNNING", "SUCCEEDED")
    indexes = ExecutionIndexes()
    assert indexes.find(machine, "arn:3") is machine.executions[3]  # indexed before

    indexes.remove_oldest_ended(machine, kept=1)

    assert indexes.find(machine, "arn:0") is None
    assert indexes.find(machine, "arn:3") is machine.executions[1]
    assert indexes.first_named(machine, "e2") is machine.executions[0]


@pytest.mark.parametrize(("given", "kept"), [("all", None), (None, None), ("1", 1), (250, 250)])
def test_a_limit_is_a_whole_number_from_one_or_all(given: object, kept: int | None) -> None:
    assert checked_ended_executions_kept(given) == kept


@pytest.mark.parametrize(
    ("given", "says"),
    [("0", "'0' is not allowed"), ("-3", "'-3' is not allowed"), ("1.5", "'1.5' is not a whole")],
)
def test_anything_else_is_refused_naming_it(given: str, says: str) -> None:
    with pytest.raises(UsageError, match=f"--keep {says}"):
        checked_ended_executions_kept(given, "--keep")
