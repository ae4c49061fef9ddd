"""The pure parts of the service speed patches: the DynamoDB tree copy gives what deepcopy
gives (and refuses what it cannot copy the same way), the Step Functions execution index
answers as a scan of the list would, whatever was appended, replaced or removed."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from serverless_testbed.embedded.moto.speed.dynamodb import _NotAParsedTree, copy_parsed_tree
from serverless_testbed.embedded.moto.speed.stepfunctions import ExecutionIndexes


def parse(expression: str) -> Any:
    from moto.dynamodb.parsing.expressions import (  # type: ignore[attr-defined]
        UpdateExpressionParser,
    )

    return UpdateExpressionParser.make(expression)


def shape(node: Any) -> Any:
    """Everything deepcopy keeps: classes, attributes in order, values, parent links."""
    if not hasattr(node, "children"):
        return (type(node).__name__, node)
    children = node.children or []
    parents_ok = all(c.parent is node for c in children if hasattr(c, "children"))
    return (
        type(node).__name__,
        list(vars(node)),
        node.type,
        parents_ok,
        [shape(c) for c in children],
    )


@pytest.mark.parametrize(
    "expression",
    [
        "SET #status = :status, execution_arn = :execution, payload = :payload",
        "SET a = list_append(if_not_exists(a, :empty), :l), n = n + :one",
        "REMOVE l[0], l[2], m.a.b ADD n :one DELETE s :s",
    ],
)
def test_the_tree_copy_is_what_deepcopy_gives_and_shares_nothing(expression: str) -> None:
    tree = parse(expression)

    copied = copy_parsed_tree(tree)

    assert shape(copied) == shape(copy.deepcopy(tree))
    assert copied.parent is None

    def ids(node: Any) -> set[int]:
        below = [ids(c) for c in node.children or [] if hasattr(c, "children")]
        return {id(node)}.union(*below)

    assert not ids(copied) & ids(tree)


def test_the_tree_copy_refuses_what_deepcopy_would_copy_otherwise() -> None:
    shared = parse("SET a = :v, b = :v")
    first_action = shared.children[0].children[0]
    first_action.children.append(first_action.children[0])  # one node reached twice
    extra = parse("SET a = :v")
    extra.children[0].note = "not the parser's"
    odd_leaf = parse("SET a = :v")
    odd_leaf.children[0].children.append(object())

    for tree in (shared, extra, odd_leaf):
        with pytest.raises(_NotAParsedTree):
            copy_parsed_tree(tree)


class Execution:
    def __init__(self, arn: str, name: str, status: str | None = "RUNNING") -> None:
        self.execution_arn = arn
        self.name = name
        self.exec_status = status

    @property
    def status(self) -> str:
        assert self.exec_status is not None, "not started"  # moto's raises here too
        return self.exec_status


class Machine:
    def __init__(self) -> None:
        self.executions: list[Execution] = []


def scan(machine: Machine, arn: str) -> Execution | None:
    return next((e for e in machine.executions if e.execution_arn == arn), None)


def test_the_index_finds_what_a_scan_finds_as_the_list_changes() -> None:
    indexes = ExecutionIndexes()
    machine = Machine()
    machine.executions += [Execution(f"arn:{i}", f"n{i}") for i in range(5)]
    checks: list[bool] = []

    def agree() -> None:
        for arn in [f"arn:{i}" for i in range(8)] + ["arn:missing"]:
            checks.append(indexes.find(machine, arn) is scan(machine, arn))

    agree()
    machine.executions.append(Execution("arn:5", "n5"))  # appended after an index was built
    machine.executions.append(Execution("arn:1", "again"))  # a duplicate: the first wins
    agree()
    del machine.executions[0:2]  # shorter than indexed: indexed again
    agree()
    machine.executions = [Execution("arn:7", "n7")]  # replaced
    agree()

    assert checks and all(checks)
    assert indexes.first_named(machine, "n7") is machine.executions[0]
    assert indexes.first_named(machine, "n1") is None


def test_running_executions_are_listed_in_order_and_finished_ones_dropped() -> None:
    indexes = ExecutionIndexes()
    machine = Machine()
    executions = [Execution("arn:a", "a"), Execution("arn:b", "b", "SUCCEEDED")]
    executions += [Execution("arn:c", "c", "PENDING_REDRIVE"), Execution("arn:d", "d")]
    machine.executions += executions

    first = indexes.running(machine)
    executions[0].exec_status = "FAILED"
    executions[2].exec_status = "RUNNING"  # not final: still looked at
    second = indexes.running(machine)
    machine.executions.append(Execution("arn:e", "e", None))  # appended, not yet started
    with pytest.raises(AssertionError, match="not started"):
        indexes.running(machine)
    machine.executions[-1].exec_status = "RUNNING"
    third = indexes.running(machine)

    assert [e.name for e in first] == ["a", "d"]
    assert [e.name for e in second] == ["c", "d"]
    assert [e.name for e in third] == ["c", "d", "e"]
