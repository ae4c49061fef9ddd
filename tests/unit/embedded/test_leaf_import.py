"""import_leaf loads one module of a package without the package's __init__, and leaves the
package importable as usual afterwards."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from serverless_testbed.embedded.moto.leaf_import import import_leaf

PACKAGE = "leaf_import_sample"


@pytest.fixture
def sample_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    package = tmp_path / PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text(
        "import os\nos.environ['LEAF_IMPORT_SAMPLE_INIT_RAN'] = '1'\nWHOLE = True\n"
    )
    (package / "constants.py").write_text("ANSWER = 42\n")
    (package / "leaf.py").write_text("from .constants import ANSWER\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("LEAF_IMPORT_SAMPLE_INIT_RAN", raising=False)
    yield package
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def test_the_leaf_loads_without_running_the_package_init(sample_package: Path) -> None:
    leaf = import_leaf(PACKAGE, "leaf")

    assert leaf.ANSWER == 42
    assert "LEAF_IMPORT_SAMPLE_INIT_RAN" not in os.environ
    assert PACKAGE not in sys.modules, "the stand-in package is gone again"


def test_the_package_imports_completely_afterwards(sample_package: Path) -> None:
    import_leaf(PACKAGE, "leaf")

    package = __import__(PACKAGE)

    assert package.WHOLE is True
    assert os.environ["LEAF_IMPORT_SAMPLE_INIT_RAN"] == "1"


def test_an_already_imported_package_is_used_as_it_is(sample_package: Path) -> None:
    package = __import__(PACKAGE)

    leaf = import_leaf(PACKAGE, "leaf")

    assert sys.modules[PACKAGE] is package
    assert leaf.ANSWER == 42


def test_a_missing_package_is_module_not_found() -> None:
    with pytest.raises(ModuleNotFoundError, match="no_such_package_here"):
        import_leaf("no_such_package_here", "leaf")
