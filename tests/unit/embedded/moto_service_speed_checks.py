"""What moto_patch_probe.py reports about the DynamoDB, Step Functions and SQS speed patches
(embedded/moto/speed/{dynamodb,stepfunctions,sqs}.py): each is in effect, checked by what it
does (calls counted, objects compared), never by timing. Runs after patches.install()."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

UPDATE = "SET #s = :s, n = :n"
CONDITION = "attribute_not_exists(pk) OR #s = :s"


@contextlib.contextmanager
def counting(owner: Any, name: str) -> Iterator[list[int]]:
    """Count the calls of ``owner.name`` (a function) for the length of a block."""
    original = vars(owner)[name]
    calls = [0]

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    setattr(owner, name, counted)
    try:
        yield calls
    finally:
        setattr(owner, name, original)


class CountedIteration(list[Any]):
    iterations = 0

    def __iter__(self) -> Iterator[Any]:
        self.iterations += 1
        return super().__iter__()


def check_update_expressions_parsed_once() -> bool:
    import moto.dynamodb.models
    import moto.dynamodb.responses

    handler = moto.dynamodb.responses.UpdateExpressionParser.make
    backend = moto.dynamodb.models.UpdateExpressionParser.make
    return handler(UPDATE) is backend(UPDATE)


def _validate(tree: Any, names: dict[str, str], values: dict[str, Any]) -> Any:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item
    from moto.dynamodb.parsing.validators import UpdateExpressionValidator

    table = type(
        "TableLike", (), {"table_key_attrs": ["pk"], "attr": [], "attribute_keys": ["pk"]}
    )()
    item = Item(DynamoType({"S": "k"}), None, attrs={})
    return UpdateExpressionValidator(
        tree,
        expression_attribute_names=names,
        expression_attribute_values=values,
        item=item,
        table=table,
    ).validate()


def _nodes(node: Any) -> Iterator[Any]:
    yield node
    for child in getattr(node, "children", None) or []:
        if hasattr(child, "children"):
            yield from _nodes(child)


def _shape(node: Any) -> Any:
    if not hasattr(node, "children"):
        return node
    return (type(node).__name__, node.type, [_shape(child) for child in node.children or []])


def check_parsed_trees_copied_directly() -> bool:
    import copy

    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.expressions import (  # type: ignore[attr-defined]
        UpdateExpressionParser,
    )

    tree = UpdateExpressionParser.make(UPDATE)
    # copy.deepcopy rebuilds a plain object through copy._reconstruct.
    with counting(copy, "_reconstruct") as deepcopies:
        twin = validators.deepcopy(tree)
    copied = list(_nodes(twin))
    original_ids = {id(node) for node in _nodes(tree)}
    parents_right = all(
        child.parent is node
        for node in copied
        for child in node.children or []
        if hasattr(child, "children")
    )
    return (
        deepcopies[0] == 0
        and _shape(twin) == _shape(tree)
        and not original_ids & {id(node) for node in copied}
        and parents_right
    )


def check_trees_walked_with_one_table() -> bool:
    from moto.dynamodb.parsing.expressions import (  # type: ignore[attr-defined]
        UpdateExpressionParser,
    )
    from moto.dynamodb.parsing.validators import ActionCountValidator

    tree = UpdateExpressionParser.make(UPDATE)
    with counting(ActionCountValidator, "_processing_map") as tables:
        validated = _validate(tree, {"#s": "status"}, {":s": {"S": "x"}, ":n": {"N": "1"}})
    return tables[0] == 1 and validated is not tree


def check_clauses_found_by_class() -> bool:
    from moto.dynamodb.parsing import ast_nodes as nodes

    ast_nodes: Any = nodes
    from moto.dynamodb.parsing.expressions import (  # type: ignore[attr-defined]
        UpdateExpressionParser,
    )

    tree = UpdateExpressionParser.make("SET a = :a, b = :b REMOVE c")
    found = tree.find_clauses([ast_nodes.UpdateExpressionSetAction])
    patched = vars(ast_nodes.Node)["find_clauses"].__module__.endswith("speed.dynamodb")
    return patched and [action.children[0].to_str() for action in found] == ["a", "b"]


def check_conditions_parsed_once_per_update() -> bool:
    import moto.dynamodb.models
    import moto.dynamodb.responses
    from moto.dynamodb.comparisons import ConditionExpressionParser

    names = {"#s": "status"}
    values = {":s": {"S": "x"}}
    with counting(ConditionExpressionParser, "_lex_condition_expression") as lexed:
        handler = moto.dynamodb.responses.create_condition_expression_parser(
            CONDITION, names, values
        )
        handler_result = handler.parse()
        reused = moto.dynamodb.models.create_condition_expression_parser(
            CONDITION, names, values
        ).parse()
        after_reuse = lexed[0]
        # The result serves once; other objects (equal or not) are parsed as usual.
        again = moto.dynamodb.models.create_condition_expression_parser(
            CONDITION, names, values
        ).parse()
        handler.parse()
        other = moto.dynamodb.models.create_condition_expression_parser(
            CONDITION, dict(names), values
        ).parse()
    return (
        reused is handler_result
        and after_reuse == 1
        and again is not handler_result
        and other is not handler_result
        and lexed[0] == 4
    )


def check_executions_indexed() -> bool:
    from moto.stepfunctions.exceptions import ExecutionDoesNotExist
    from moto.stepfunctions.models import StepFunctionBackend

    backend = StepFunctionBackend("us-east-1", "123456789012")
    machine = backend.create_state_machine(
        name="indexed",
        definition='{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}',
        roleArn="arn:aws:iam::123456789012:role/r",
    )
    machine.executions = CountedIteration()
    arns = [backend.start_execution(machine.arn, f"e{i}", "{}").execution_arn for i in range(5)]
    again = backend.start_execution(machine.arn, "e1", "{}")  # RUNNING, same input: itself
    found = [backend.describe_execution(arn) for arn in arns]
    missing = arns[0][:-1] + "9"
    try:
        backend.describe_execution(missing)
        missing_raised = False
    except ExecutionDoesNotExist as error:
        missing_raised = str(error.message) == f"Execution Does Not Exist: '{missing}'"
    return (
        [execution.execution_arn for execution in found] == arns
        and again.execution_arn == arns[1]
        and machine.executions.iterations == 0
        and missing_raised
    )


def check_running_executions_indexed() -> bool:
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    from serverless_testbed.embedded.moto.speed.stepfunctions import FINAL_STATUSES

    # Started executions: a worker with its environment (behaviour.py passes over others).
    started = SimpleNamespace(env=object())

    class Machine:
        def __init__(self, statuses: list[str]) -> None:
            self.executions = CountedIteration(
                type(
                    "Execution",
                    (),
                    {"status": status, "execution_arn": f"arn:{i}", "exec_worker": started},
                )()
                for i, status in enumerate(statuses)
            )

    backend = object.__new__(StepFunctionsParserBackend)
    first = Machine(["SUCCEEDED", "RUNNING", "FAILED", "RUNNING"])
    second = Machine(["RUNNING"])
    backend.state_machines = [first, second]  # type: ignore[list-item]
    running = backend._get_executions("RUNNING")  # type: ignore[arg-type]
    first.executions[1].status = "SUCCEEDED"
    running_after = backend._get_executions("RUNNING")  # type: ignore[arg-type]
    return (
        running == [first.executions[1], first.executions[3], second.executions[0]]
        and running_after == [first.executions[3], second.executions[0]]
        and first.executions.iterations == 0
        and "RUNNING" not in FINAL_STATUSES
    )


def check_retention_without_queue_attributes() -> bool:
    from moto.sqs.models import SQSBackend

    backend = SQSBackend("us-east-1", "123456789012")
    backend.create_queue("retained")
    message: Any = backend.send_message("retained", "body")
    with counting(SQSBackend, "get_queue_attributes") as built:
        kept = backend.is_message_valid_based_on_retention_period("retained", message)
        message.sent_timestamp -= 345_601 * 1000  # older than the default 4 days
        expired = not backend.is_message_valid_based_on_retention_period("retained", message)
    return built[0] == 0 and kept and expired


def check_long_poll_stops_at_first_visible() -> bool:
    from moto.sqs.models import Queue

    return vars(Queue)["wait_for_messages"].__module__.endswith("speed.sqs")


def check_names_converted_once() -> bool:
    import moto.core.responses
    import moto.sqs.models

    convert: Any = moto.sqs.models.camelcase_to_underscores
    before = convert.cache_info().hits
    first = convert("MessageRetentionPeriod")
    second = convert("MessageRetentionPeriod")
    return (
        first == second == "message_retention_period"
        and convert.cache_info().hits >= before + 1
        and moto.core.responses.camelcase_to_underscores is convert
    )


def service_speed_checks() -> dict[str, bool]:
    return {
        "update_expressions_parsed_once": check_update_expressions_parsed_once(),
        "parsed_trees_copied_directly": check_parsed_trees_copied_directly(),
        "trees_walked_with_one_table": check_trees_walked_with_one_table(),
        "clauses_found_by_class": check_clauses_found_by_class(),
        "conditions_parsed_once_per_update": check_conditions_parsed_once_per_update(),
        "executions_indexed": check_executions_indexed(),
        "running_executions_indexed": check_running_executions_indexed(),
        "retention_without_queue_attributes": check_retention_without_queue_attributes(),
        "long_poll_stops_at_first_visible": check_long_poll_stops_at_first_visible(),
        "names_converted_once": check_names_converted_once(),
    }
