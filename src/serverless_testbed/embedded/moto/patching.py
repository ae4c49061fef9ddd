"""Monkeypatches of moto that refuse to miss their target, keep the original, and are recorded.

A patch written as a bare assignment (``SomeClass.method = replacement``) keeps "working" when
an upgrade renames ``method``: it adds an attribute nobody reads, and the behaviour it fixed
silently comes back. Every patch here goes through :class:`Patch` instead, which

- raises :class:`PatchTargetMissing` (one line naming ``module.attribute`` and the installed
  moto version) when the attribute does not exist, before anything is changed;
- keeps the original, for the replacement (``@patch`` passes it as the first argument) and
  for :meth:`Patch.undo`;
- records itself in :func:`applied_patches` when applied, so a test can list what is in effect.

Modelled on LocalStack's ``localstack/utils/patch.py`` (``Patch``, ``@patch`` with the target
passed to the replacement), minus what this project does not need, plus the refusal above.
"""

from __future__ import annotations

import dis
import functools
import importlib.metadata
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

_MISSING = object()
# On a @patch replacement: the original it was given (possibly an earlier patch's replacement).
WRAPS_ATTRIBUTE = "__testbed_patch_original__"
_lock = threading.Lock()
_applied: list[Patch] = []


class PatchTargetMissing(RuntimeError):
    """A patch's target is not where this moto version was expected to have it."""


def moto_version() -> str:
    try:
        return importlib.metadata.version("moto")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def describe(owner: object, name: str) -> str:
    """``module.Class.attribute`` or ``module.attribute``: where a patch lands."""
    if isinstance(owner, type):
        return f"{owner.__module__}.{owner.__qualname__}.{name}"
    return f"{getattr(owner, '__name__', repr(owner))}.{name}"


def assigned_in_init(cls: type, name: str) -> bool:
    """Whether ``cls.__init__`` assigns ``self.<name>`` (an attribute only instances have);
    the ``__init__`` moto wrote, under any patches wrapping it."""
    *_, init = _wrapped_chain(cls.__dict__.get("__init__"))
    code = getattr(init, "__code__", None)
    if code is None:
        return False
    return any(
        instruction.opname == "STORE_ATTR" and instruction.argval == name
        for instruction in dis.get_instructions(code)
    )


class Patch:
    """``owner.name = new``, checked, undoable and recorded.

    ``owner`` is a module or a class. The target must exist: as an attribute of ``owner``, or,
    for a class, as an instance attribute its ``__init__`` assigns (a class-level descriptor
    then takes it over).
    """

    def __init__(self, owner: object, name: str, new: Any) -> None:
        self.owner = owner
        self.name = name
        self.new = new
        self.target = describe(owner, name)
        self.original: Any = getattr(owner, name, _MISSING)
        if self.original is _MISSING and not (
            isinstance(owner, type) and assigned_in_init(owner, name)
        ):
            raise PatchTargetMissing(
                f"cannot patch {self.target}: moto {moto_version()} has no such attribute "
                "(the embedded stack's patches know moto 5.2's internals)"
            )
        # What undo restores: the owner's own entry, or none (then the name was inherited,
        # or lived on instances only).
        self._own_entry = vars(owner).get(name, _MISSING)
        self.applied = False

    def apply(self) -> Patch:
        with _lock:
            if not self.applied:
                setattr(self.owner, self.name, self.new)
                self.applied = True
                _applied.append(self)
        return self

    def undo(self) -> None:
        with _lock:
            if not self.applied:
                return
            if self._own_entry is _MISSING:
                delattr(self.owner, self.name)
            else:
                setattr(self.owner, self.name, self._own_entry)
            self.applied = False
            _applied.remove(self)

    @property
    def in_effect(self) -> bool:
        """The owner still holds this patch's replacement, itself or wrapped by later
        ``@patch`` replacements that were given it as their original (nothing replaced it
        without keeping it)."""
        held = vars(self.owner).get(self.name, _MISSING)
        return self.applied and any(link is self.new for link in _wrapped_chain(held))

    def __repr__(self) -> str:
        return f"<Patch {self.target}{' (applied)' if self.applied else ''}>"


def _wrapped_chain(held: Any) -> Iterator[Any]:
    """``held``, then the original each ``@patch`` replacement was given, down to the first
    that is not one (moto's own)."""
    while True:
        yield held
        if not hasattr(held, WRAPS_ATTRIBUTE):
            return
        held = getattr(held, WRAPS_ATTRIBUTE)


def replace(owner: object, name: str, new: Any) -> Patch:
    """Apply ``owner.name = new`` as a checked, recorded patch."""
    return Patch(owner, name, new).apply()


def patch(owner: object, name: str) -> Callable[[Callable[..., Any]], Patch]:
    """Decorator: replace the function ``owner.name`` by ``fn(original, *args, **kwargs)``.

    The replacement is a plain function, so on a class it binds like the method it replaces
    (``self`` arrives after ``original``)."""

    def decorate(fn: Callable[..., Any]) -> Patch:
        checked = Patch(owner, name, None)
        original = checked.original

        @functools.wraps(fn)
        def with_original(*args: Any, **kwargs: Any) -> Any:
            return fn(original, *args, **kwargs)

        setattr(with_original, WRAPS_ATTRIBUTE, original)
        checked.new = with_original
        return checked.apply()

    return decorate


def replace_in_importers(package: str, name: str, held: object, new: Any) -> list[Patch]:
    """``module.name = new`` in every loaded module of ``package`` that holds ``held`` under
    ``name``: modules that did ``from ... import name`` before a patch keep the old object."""
    prefix = package + "."
    return [
        replace(module, name, new)
        for module_name, module in list(sys.modules.items())
        if module_name.startswith(prefix) and vars(module).get(name) is held
    ]


def applied_patches() -> tuple[Patch, ...]:
    """Every patch applied and not undone, in the order applied."""
    with _lock:
        return tuple(_applied)
