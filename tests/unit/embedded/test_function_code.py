"""Which module a function may load: only files of its own code (code.py)."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

from serverless_testbed.embedded.lambda_runtime.code import CodeRefusedError, FunctionCode
from tests.integration.helpers import zip_of


@pytest.mark.parametrize("module", ["pty", "os", "subprocess", "serverless_testbed.cli", ""])
def test_a_module_outside_the_zip_is_refused_without_importing(tmp_path: Path, module: str) -> None:
    code = FunctionCode.unpacked(zip_of({"app.py": "x = 1\n"}), tmp_path / "code")
    assert code.refusal(module) is not None
    with pytest.raises(CodeRefusedError, match="Unable to import module"):
        code.load(module)


def test_the_template_handlers_are_only_the_handlers_package() -> None:
    code = FunctionCode.of_package("serverless_testbed.handlers")
    assert code.refusal("serverless_testbed.handlers.probe") is None
    assert code.refusal("serverless_testbed.cli") is not None
    assert code.refusal("serverless_testbed.handlers") is not None  # the package itself
    assert code.refusal("os") is not None


def test_paths_that_leave_the_directory_are_not_unpacked(tmp_path: Path) -> None:
    archive = zip_of({"../escaped.py": "x = 1\n", "/absolute.py": "x = 1\n", "ok.py": ""})
    code = FunctionCode.unpacked(archive, tmp_path / "code")
    assert not (tmp_path / "escaped.py").exists()
    assert sorted(p.name for p in Path(code.directory).rglob("*.py")) == [
        "absolute.py",
        "escaped.py",
        "ok.py",
    ]  # zipfile puts them inside, stripped of "/" and ".."


def test_something_that_is_no_zip_gives_no_module(tmp_path: Path) -> None:
    code = FunctionCode.unpacked(b"not a zip", tmp_path / "code")
    assert code.refusal("index") is not None


def test_a_zip_module_shadowing_an_imported_name_is_loaded_from_the_zip(tmp_path: Path) -> None:
    name = f"shadow_{uuid.uuid4().hex[:8]}"
    sys.modules[name] = type(sys)(name)  # something else, imported earlier under that name
    try:
        code = FunctionCode.unpacked(zip_of({f"{name}.py": "WHERE = 'zip'\n"}), tmp_path / "c")
        module = code.load(name)
        assert module.WHERE == "zip"
        assert Path(module.__file__ or "").parent == Path(code.directory)
    finally:
        sys.modules.pop(name, None)
