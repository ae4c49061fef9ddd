"""Patch refuses a missing target before changing anything, keeps the original for the
replacement and for undo, and is listed while applied."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from serverless_testbed.embedded.moto.patching import (
    Patch,
    PatchTargetMissing,
    applied_patches,
    moto_version,
    patch,
    replace,
    replace_in_importers,
)


class Greeter:
    def __init__(self) -> None:
        self.mood = "fine"

    def greet(self, name: str) -> str:
        return f"hello {name}"


class PoliteGreeter(Greeter):
    pass


def test_a_missing_attribute_is_a_one_line_error_naming_it_and_the_moto_version() -> None:
    with pytest.raises(PatchTargetMissing) as error:
        replace(Greeter, "greeet", lambda self, name: "")

    message = str(error.value)
    assert "\n" not in message
    assert f"{__name__}.Greeter.greeet" in message
    assert f"moto {moto_version()}" in message
    assert not hasattr(Greeter, "greeet")


def test_a_missing_module_attribute_names_the_module() -> None:
    module = types.ModuleType("sample_module")

    with pytest.raises(PatchTargetMissing, match=r"sample_module\.answer"):
        replace(module, "answer", 42)


def test_the_replacement_gets_the_original_and_undo_restores_it() -> None:
    original = Greeter.greet

    @patch(Greeter, "greet")
    def shout(original: Any, self: Greeter, name: str) -> str:
        return str(original(self, name)).upper()

    try:
        assert Greeter().greet("ada") == "HELLO ADA"
        assert shout.original is original
        assert shout in applied_patches() and shout.in_effect
    finally:
        shout.undo()

    assert Greeter.greet is original
    assert shout not in applied_patches()


def test_undo_of_an_inherited_method_leaves_the_subclass_inheriting_again() -> None:
    patched = replace(PoliteGreeter, "greet", lambda self, name: f"good day {name}")
    assert PoliteGreeter().greet("ada") == "good day ada"

    patched.undo()

    assert "greet" not in vars(PoliteGreeter)
    assert PoliteGreeter().greet("ada") == "hello ada"


def test_an_instance_attribute_set_in_init_can_be_taken_over_by_a_descriptor() -> None:
    patched = replace(Greeter, "mood", property(lambda self: "patched", lambda self, v: None))
    try:
        assert Greeter().mood == "patched"
    finally:
        patched.undo()

    assert Greeter().mood == "fine"


def test_an_attribute_set_in_a_patched_init_can_still_be_taken_over() -> None:
    @patch(Greeter, "__init__")
    def init(original: Any, self: Any) -> None:
        original(self)

    try:
        taken_over = replace(Greeter, "mood", property(lambda self: "patched", lambda s, v: None))
        assert Greeter().mood == "patched"
        taken_over.undo()
    finally:
        init.undo()


def test_a_patch_patched_over_is_no_longer_in_effect() -> None:
    patched = Patch(Greeter, "greet", lambda self, name: "one").apply()
    try:
        Greeter.greet = lambda self, name: "two"  # type: ignore[method-assign]
        assert not patched.in_effect
    finally:
        patched.undo()


def test_a_patch_wrapped_by_a_later_patch_that_keeps_it_stays_in_effect() -> None:
    first = Patch(Greeter, "greet", lambda self, name: f"hi {name}").apply()

    @patch(Greeter, "greet")
    def louder(original: Any, self: Greeter, name: str) -> str:
        return str(original(self, name)).upper()

    try:
        assert Greeter().greet("ann") == "HI ANN"
        assert first.in_effect and louder.in_effect
    finally:
        louder.undo()
        first.undo()
    assert Greeter().greet("ann") == "hello ann"


def test_modules_that_imported_the_old_object_by_name_get_the_new_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old, new = object(), object()
    holder, other, outside = (types.ModuleType(n) for n in ("pkg.a", "pkg.b", "elsewhere.c"))
    holder.thing, other.thing, outside.thing = old, object(), old  # type: ignore[attr-defined]
    for module in (holder, other, outside):
        monkeypatch.setitem(sys.modules, module.__name__, module)

    patches = replace_in_importers("pkg", "thing", old, new)
    try:
        assert [p.target for p in patches] == ["pkg.a.thing"]
        assert holder.thing is new  # type: ignore[attr-defined]
        assert outside.thing is old  # type: ignore[attr-defined]
    finally:
        for applied in patches:
            applied.undo()
    assert holder.thing is old  # type: ignore[attr-defined]
