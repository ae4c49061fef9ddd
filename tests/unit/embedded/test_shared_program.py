"""Executions of one state machine share its parsed program, so every component's heap slot
is named before the first execution asks for it: named lazily, two executions asking at once
could each name it differently and lose a value."""

from __future__ import annotations

import gc
import json
from typing import Any

from moto.stepfunctions.parser.asl.component.component import Component
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from serverless_testbed.embedded.moto.speed import _name_every_heap_slot
from tests.state_machines import MAP_AND_PARALLEL


def reachable_eval_components(program: Any) -> list[EvalComponent]:
    """Every EvalComponent the program refers to, found through the garbage collector's
    view of references (not the attribute walk under test)."""
    seen: set[int] = set()
    pending: list[Any] = [program]
    found: list[EvalComponent] = []
    while pending:
        value = pending.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, EvalComponent):
            found.append(value)
        if isinstance(value, (Component, list, tuple, dict, set)):
            pending.extend(gc.get_referents(value))
    return found


def heap_key_as_kept(component: EvalComponent) -> str | None:
    key: str | None = vars(component).get("_EvalComponent__heap_key")
    return key


def test_a_parsed_program_has_no_heap_slot_named_until_asked() -> None:
    program, _ = AmazonStateLanguageParser.parse(json.dumps(MAP_AND_PARALLEL))

    components = reachable_eval_components(program)

    assert len(components) > 20
    assert all(heap_key_as_kept(c) is None for c in components)


def test_every_component_of_a_map_and_parallel_program_has_its_heap_slot_named() -> None:
    program, _ = AmazonStateLanguageParser.parse(json.dumps(MAP_AND_PARALLEL))

    _name_every_heap_slot(program)
    components = reachable_eval_components(program)

    keys = [heap_key_as_kept(c) for c in components]
    assert None not in keys
    assert len(set(keys)) == len(components)
    assert [c.heap_key for c in components] == keys
