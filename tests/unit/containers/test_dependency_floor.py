"""The testcontainers floor in pyproject.toml is one the containers target runs on.

What each testcontainers module the target imports first shipped in, read from the released
wheels (``pip download testcontainers==X --no-deps`` and their file lists):
- ``testcontainers/community/redis/`` is in 4.15.0 and not in 4.14.2 or before (up to 4.14.x
  the Redis module was ``testcontainers.redis``);
- ``testcontainers/core/wait_strategies.py`` is in 4.13.0 and not in 4.12.0;
- ``core.container``, ``core.config``, ``core.labels`` and ``core.network`` are all in 4.12.0,
  the oldest wheel checked.
"""

from __future__ import annotations

import ast
import importlib
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

import serverless_testbed.containers

ROOT = Path(__file__).resolve().parents[3]
CONTAINERS_PACKAGE = Path(serverless_testbed.containers.__file__).resolve().parent
OLDEST_CHECKED = Version("4.12.0")
FIRST_SHIPPED_IN = {
    "testcontainers.community.redis": Version("4.15.0"),
    "testcontainers.core.wait_strategies": Version("4.13.0"),
    "testcontainers.core.container": OLDEST_CHECKED,
    "testcontainers.core.config": OLDEST_CHECKED,
    "testcontainers.core.labels": OLDEST_CHECKED,
    "testcontainers.core.network": OLDEST_CHECKED,
}


def imported_testcontainers_modules() -> set[str]:
    """Every testcontainers module the containers package imports (lazy imports included)."""
    used: set[str] = set()
    for path in CONTAINERS_PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "testcontainers"
            ):
                used.add(node.module or "")
            elif isinstance(node, ast.Import):
                used.update(a.name for a in node.names if a.name.startswith("testcontainers"))
    return used


def declared_floors() -> dict[str, Version]:
    """extra -> the lowest testcontainers version it allows."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    floors = {}
    for extra, requirements in project["optional-dependencies"].items():
        for text in requirements:
            requirement = Requirement(text)
            if requirement.name == "testcontainers":
                lower = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
                assert lower, f"[{extra}] {text}: no >= floor"
                floors[extra] = max(lower)
    return floors


def test_the_containers_package_imports_only_modules_whose_release_is_known() -> None:
    used = imported_testcontainers_modules()

    assert used, "the containers package imports testcontainers somewhere"
    assert used <= set(FIRST_SHIPPED_IN), used - set(FIRST_SHIPPED_IN)


def test_every_extra_that_installs_testcontainers_sets_a_floor_with_all_of_them() -> None:
    needed = max(FIRST_SHIPPED_IN[module] for module in imported_testcontainers_modules())
    floors = declared_floors()

    assert {"containers", "test"} <= set(floors)
    for extra, floor in floors.items():
        assert floor >= needed, f"[{extra}] allows testcontainers {floor}, the code needs {needed}"


@pytest.mark.parametrize("module", sorted(FIRST_SHIPPED_IN))
def test_what_the_target_imports_imports_at_the_installed_version(module: str) -> None:
    installed = Version(metadata.version("testcontainers"))
    assert installed >= min(declared_floors().values())

    importlib.import_module(module)


def test_the_container_classes_import_at_the_installed_version() -> None:
    services = importlib.import_module("serverless_testbed.containers.services")

    modules = [cls.__module__ for cls in services.RedisContainer.__mro__]
    assert "testcontainers.community.redis" in modules
