"""DynamoDB ``UpdateItem``: the same parse, validation and errors as moto's, for less CPU.

moto's ``UpdateItem`` with an update expression (the pipeline's one write per request, ~20%
of the stack process's GIL time at 8 executions in flight) costs ~6 ms of CPU:

- The request handler parses the update expression to list its placeholders, and the
  backend parses it again: both now share one parse per expression string. Neither changes
  the tree: the handler only searches it, and the backend's validator works on a copy
  (``Validator.__init__`` deep-copies what it is given).
- That copy is ``copy.deepcopy`` of every node (~1.4 ms per validation, two validations per
  new item): the validator now copies the parsed tree node by node, which gives the same
  tree (the parser's nodes hold only their type name, children and parent) and falls back
  to ``deepcopy`` for anything else.
- The ten tree walks of a validation asked each walker for its table of node processors
  (a new dict) twice per node, and ran ``isinstance`` through ``ABCMeta`` for every node
  and processor: the walk now reads the table once per walk and decides each node class
  once, visiting nodes in the same order and calling the same processors, so the same
  error is raised first. ``Node.find_clauses``, which two of the walkers call at every
  node for the clauses under it (quadratic in the tree's size), decides once per node
  class whether to look inside a node instead of through ``ABCMeta``, and during the walks
  of those two (which change no node) keeps what it found under each node.
- The handler parses the condition expression (to list its placeholders and raise its
  errors) and throws the result away; the backend then parses it again from the very same
  expression, names and values objects. The backend's ``update_item`` now takes the
  handler's result, when the handler on this thread parsed exactly those objects.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from serverless_testbed.embedded.moto.patching import Patch, patch, replace
from serverless_testbed.embedded.moto.speed.limits import PARSED_KEPT

# The attributes of a node the update-expression parser builds (ast_nodes.Node.__init__).
_PARSED_NODE_ATTRIBUTES = frozenset({"type", "children", "parent"})
# Leaves deepcopy returns as they are (copy._deepcopy_atomic, by exact type).
_ATOMIC_LEAVES = frozenset({str, int, float, bool, type(None)})
# What would make copy.deepcopy do something else than rebuild an object from its __dict__.
_COPY_HOOKS = ("__deepcopy__", "__reduce__", "__reduce_ex__", "__getstate__", "__setstate__")


def apply() -> list[Patch]:
    return [
        *_parse_update_expressions_once(),
        _walk_trees_with_one_table(),
        _find_clauses_by_class(),
        _copy_parsed_trees(),
        *_parse_conditions_once_per_update(),
    ]


def _parse_update_expressions_once() -> list[Patch]:
    import moto.dynamodb.models
    import moto.dynamodb.responses
    from moto.dynamodb.parsing.expressions import (  # type: ignore[attr-defined]
        UpdateExpressionParser,
    )

    class ParsedOnce:
        """What moto.dynamodb's handler and backend ask of UpdateExpressionParser: ``make``,
        whose result the handler only searches and the backend's validator copies first."""

        make = staticmethod(lru_cache(maxsize=PARSED_KEPT)(UpdateExpressionParser.make))

    return [
        replace(moto.dynamodb.responses, "UpdateExpressionParser", ParsedOnce),
        replace(moto.dynamodb.models, "UpdateExpressionParser", ParsedOnce),
    ]


class _NotAParsedTree(Exception):
    """A node holds something the parser does not put there: copy it with deepcopy."""


_plain_classes: dict[type, bool] = {}


def _copied_as_plain_object(node_class: type) -> bool:
    """deepcopy copies instances of this class as ``__dict__`` rebuilt on a new instance."""
    if node_class not in _plain_classes:
        _plain_classes[node_class] = all(
            getattr(node_class, hook, None) is getattr(object, hook, None) for hook in _COPY_HOOKS
        )
    return _plain_classes[node_class]


def copy_parsed_tree(root: Any) -> Any:
    """What ``copy.deepcopy`` returns for a tree of parser-built nodes, built directly.

    Raises _NotAParsedTree for anything else: a node with other attributes or copy hooks, a
    leaf that is not an atomic value, a node reached twice (deepcopy would share its copy)."""
    seen: set[int] = set()

    def copy_node(node: Any, parent: Any) -> Any:
        if id(node) in seen or not _copied_as_plain_object(type(node)):
            raise _NotAParsedTree
        seen.add(id(node))
        state = node.__dict__
        if state.keys() != _PARSED_NODE_ATTRIBUTES:
            raise _NotAParsedTree
        twin = object.__new__(type(node))
        children = state["children"]
        if children is not None:
            copied = []
            for child in children:
                if type(child) in _ATOMIC_LEAVES:
                    copied.append(child)
                elif hasattr(child, "__dict__") and hasattr(child, "children"):
                    copied.append(copy_node(child, twin))
                else:
                    raise _NotAParsedTree
            children = copied
        copied_state = {"type": state["type"], "children": children, "parent": parent}
        twin.__dict__.update((key, copied_state[key]) for key in state)  # deepcopy's order
        return twin

    return copy_node(root, None)


def _copy_parsed_trees() -> Patch:
    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.ast_nodes import Node  # type: ignore[attr-defined]

    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        # validators.py deep-copies the tree it validates (a root: no parent) and, for
        # list_append, a DynamoType: the latter, and any tree not shaped as parsed, as before.
        if memo is None and isinstance(value, Node) and value.parent is None:
            try:
                return copy_parsed_tree(value)
            except _NotAParsedTree:
                pass
        return copy.deepcopy(value, memo)

    return replace(validators, "deepcopy", deepcopy)


class _ReadOnlyWalk(threading.local):
    """While a walker that changes no node walks a tree on this thread: what
    ``find_clauses`` found under each node, per tuple of clause classes."""

    found: dict[tuple[int, tuple[type, ...]], tuple[Any, tuple[Any, ...]]] | None = None


_read_only_walk = _ReadOnlyWalk()


def _walk_trees_with_one_table() -> Patch:
    from moto.dynamodb.parsing.ast_nodes import (  # type: ignore[attr-defined]
        DepthFirstTraverser,
        Node,
    )
    from moto.dynamodb.parsing.validators import ActionCountValidator, OverlappingPathsValidator

    # Their processors only read the tree (and raise) and return the node they were given,
    # so the clauses under a node stay the same for the whole walk.
    read_only_walkers = (ActionCountValidator, OverlappingPathsValidator)

    # For each table's classes (in order) and each class of node: the position of the first
    # table class the node is an instance of (moto's ``process`` picks that one), or -1.
    # -2: not a Node at all (left as it is, children unvisited).
    positions: dict[tuple[type, ...], dict[type, int]] = {}
    walk_changers = ("nodes_to_be_processed", "process", "traverse_node_recursively")

    def position(keys: tuple[type, ...], node_class: type) -> int:
        if not issubclass(node_class, Node):
            return -2
        return next((i for i, key in enumerate(keys) if issubclass(node_class, key)), -1)

    @patch(DepthFirstTraverser, "traverse")
    def traverse(original: Any, self: Any, root: Any) -> Any:
        # As traverse_node_recursively: children first, each after pre_processing_of_child;
        # then the node, if of a class in the table, is replaced by its processor's result.
        # The processors (bound methods of self) are the same for the whole walk.
        if any(
            getattr(type(self), name) is not getattr(DepthFirstTraverser, name)
            for name in walk_changers
        ):
            return original(self, root)  # a walker that changes the walk: moto's own
        table: dict[type, Callable[[Any], Any]] = self._processing_map()
        keys = tuple(table)
        processors = tuple(table.values())
        position_of = positions.setdefault(keys, {})
        pre_processing_of_child = self.pre_processing_of_child

        def visit(node: Any, child_id: int) -> Any:
            node_class = type(node)
            at = position_of.get(node_class)
            if at is None:
                at = position_of[node_class] = position(keys, node_class)
            if at == -2:
                return node
            parent = node.parent
            children = node.children
            if children is not None:
                for index, child in enumerate(children):
                    pre_processing_of_child(node, index)
                    visit(child, index)
            if at >= 0:
                node = processors[at](node)
                node.parent = parent
                if parent:
                    parent.children[child_id] = node
            return node

        if type(self) not in read_only_walkers:
            return visit(root, -1)
        _read_only_walk.found = {}
        try:
            return visit(root, -1)
        finally:
            _read_only_walk.found = None

    return traverse


def _find_clauses_by_class() -> Patch:
    from moto.dynamodb.parsing.ast_nodes import (  # type: ignore[attr-defined]
        Expression,
        Node,
        UpdateExpressionFunction,
    )

    searched: dict[type, bool] = {}

    def find_clauses(self: Any, clause_types: Any) -> list[Any]:
        found = _read_only_walk.found
        if found is not None:
            key = (id(self), tuple(clause_types))
            kept = found.get(key)
            if kept is not None and kept[0] is self:
                return list(kept[1])
        clauses: list[Any] = []
        for child in self.children or []:
            child_class = type(child)
            if child_class in clause_types:
                clauses.append(child)
                continue
            if child_class not in searched:
                searched[child_class] = isinstance(child, (Expression, UpdateExpressionFunction))
            if searched[child_class]:
                clauses.extend(child.find_clauses(clause_types))
        if found is not None:
            found[key] = (self, tuple(clauses))
        return clauses

    return replace(Node, "find_clauses", find_clauses)


class _ParsedCondition(threading.local):
    """The last condition the handler on this thread parsed: its inputs and its result."""

    inputs: tuple[Any, Any, Any] | None = None
    parsed: Any = None


def _parse_conditions_once_per_update() -> list[Patch]:
    import moto.dynamodb.models
    import moto.dynamodb.responses
    from moto.dynamodb.comparisons import ConditionExpressionParser

    last = _ParsedCondition()

    class RememberingParser(ConditionExpressionParser):
        def parse(self) -> Any:
            last.inputs = None
            parsed = super().parse()
            # Kept by reference: the same objects, not equal ones, are what the backend
            # must be given for the result to be reused.
            last.inputs = (
                self.condition_expression,
                self.expression_attribute_names,
                self.expression_attribute_values,
            )
            last.parsed = parsed
            return parsed

    class AlreadyParsed(ConditionExpressionParser):
        def parse(self) -> Any:
            inputs = last.inputs
            if (
                inputs is not None
                and inputs[0] is self.condition_expression
                and inputs[1] is self.expression_attribute_names
                and inputs[2] is self.expression_attribute_values
            ):
                last.inputs = None  # one reuse: the backend evaluates the tree once
                return last.parsed
            return super().parse()

    @patch(moto.dynamodb.responses, "create_condition_expression_parser")
    def handler_parser(original: Any, expression: Any, names: Any, values: Any) -> Any:
        return RememberingParser(expression, names, values)

    @patch(moto.dynamodb.models, "create_condition_expression_parser")
    def backend_parser(original: Any, expression: Any, names: Any, values: Any) -> Any:
        return AlreadyParsed(expression, names, values)

    return [handler_parser, backend_parser]
