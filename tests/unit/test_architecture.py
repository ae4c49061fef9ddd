"""The package boundaries, read from the source's import statements (lazy ones included).

Imports flow one way: cli and commands -> targets -> the engines (embedded, containers, the
aws stack) -> emulation -> deployment; the domain code (pipeline, latency, stress) never
reaches into an engine. A change that breaks a rule fails here with the file and the import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import serverless_testbed

PACKAGE = Path(serverless_testbed.__file__).resolve().parent
ROOT = "serverless_testbed"


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, at its top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def part_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py") if relative.parts else ""


def modules_of(part: str) -> list[Path]:
    target = PACKAGE / part
    return sorted(target.rglob("*.py")) if target.is_dir() else [PACKAGE / f"{part}.py"]


def reaches(imported: str, part: str) -> bool:
    name = f"{ROOT}.{part}"
    return imported == name or imported.startswith(f"{name}.")


# part -> the project's parts it must never import
FORBIDDEN = {
    "pipeline": {"embedded", "containers", "emulation", "targets", "latency", "stress", "cli"},
    "handlers": {"embedded", "containers", "emulation", "targets", "latency", "stress", "cli"},
    "latency": {"embedded", "containers", "emulation"},
    "delay": {"embedded", "containers", "emulation", "latency", "stress"},
    "stress": {"embedded", "containers", "emulation", "targets", "latency"},
    "containers": {"embedded", "targets", "latency", "stress"},
    "embedded": {"containers", "targets", "latency", "stress"},
    "emulation": {"embedded", "containers", "targets", "latency", "stress", "handlers"},
    "deployment": {"embedded", "containers", "emulation", "targets", "latency", "stress"},
    "signed_http": {"embedded", "containers", "emulation", "targets", "latency", "stress"},
    "lambda_api": {"embedded", "containers", "emulation", "targets", "latency", "stress"},
    "targets": {"latency", "stress", "handlers", "pipeline"},
    "experiments": {"embedded", "containers", "emulation", "stress", "handlers", "pipeline"},
    "dashboard": {"embedded", "containers", "emulation", "latency", "handlers", "experiments"},
}


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_a_part_never_imports_what_sits_above_or_beside_it(part: str) -> None:
    violations = [
        f"{path.relative_to(PACKAGE)} imports {imported}"
        for path in modules_of(part)
        for imported in sorted(imports_of(path))
        for other in FORBIDDEN[part]
        if reaches(imported, other)
    ]
    assert not violations, "\n".join(violations)


def test_only_the_target_layer_and_the_cli_open_an_engine() -> None:
    """The engines are chosen in one place: targets/ (and cli.py registers `testbed up`)."""
    allowed = {"targets", "embedded", "containers", "cli"}
    violations = [
        f"{path.relative_to(PACKAGE)} imports {imported}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if part_of(path) not in allowed
        for imported in sorted(imports_of(path))
        if reaches(imported, "embedded") or reaches(imported, "containers")
    ]
    assert not violations, "\n".join(violations)


def test_every_part_named_here_exists() -> None:
    """A renamed package must not leave these rules checking nothing."""
    for part in FORBIDDEN:
        assert modules_of(part) and all(p.is_file() for p in modules_of(part)), part


def test_the_rules_see_lazy_imports(tmp_path: Path) -> None:
    module = tmp_path / "lazy.py"
    module.write_text("def f():\n    from serverless_testbed.embedded.stack import EmbeddedStack\n")
    assert any(reaches(name, "embedded") for name in imports_of(module))


@pytest.mark.parametrize(("side", "other"), [("publish", "work"), ("work", "publish")])
def test_the_publisher_and_the_worker_share_only_the_stress_protocol(side: str, other: str) -> None:
    """publish/ and work/ meet in Redis through protocol.py, traffic.py and control.py."""
    violations = [
        f"{path.relative_to(PACKAGE)} imports {imported}"
        for path in modules_of(f"stress/{side}")
        for imported in sorted(imports_of(path))
        if reaches(imported, f"stress.{other}")
    ]
    assert modules_of(f"stress/{side}")
    assert not violations, "\n".join(violations)


def test_only_the_dashboards_command_opens_a_target() -> None:
    """The watches, the sampler and the server get their clients; commands.py opens the stack."""
    violations = [
        f"{path.relative_to(PACKAGE)} imports {imported}"
        for path in modules_of("dashboard")
        if path.name != "commands.py"
        for imported in sorted(imports_of(path))
        if reaches(imported, "targets")
    ]
    assert len(modules_of("dashboard")) > 1
    assert not violations, "\n".join(violations)
