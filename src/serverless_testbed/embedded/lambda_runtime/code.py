"""Where a function's code is, and loading its handler from there and nowhere else.

A function runs only code that was deployed: either its own zip, unpacked in its own
directory (``FunctionCode.unpacked``), or a package installed with this project
(``FunctionCode.of_package``: the template's handlers). The handler's module must be a file
inside that directory and is loaded from it, level by level, by a path finder that searches
only there: a handler that names ``os.system`` or ``pty.spawn`` finds no such module in the
function's code and fails as Lambda reports a module it cannot import, and a zip's own
``os.py`` is loaded from the zip, not taken from ``sys.modules``.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import io
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

# Lambda's limit for a function's unzipped code (a zip bomb is refused, not unpacked).
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024


class CodeRefusedError(Exception):
    """The handler's module is not part of the function's code (Runtime.ImportModuleError)."""

    def __init__(self, module_name: str, reason: str) -> None:
        super().__init__(f"Unable to import module '{module_name}': {reason}")
        self.module_name = module_name


@dataclass(frozen=True)
class FunctionCode:
    directory: str  # absolute path of the code
    package: str = ""  # the dotted package that ``directory`` is; "" for a zip's root

    @classmethod
    def of_package(cls, package: str) -> FunctionCode:
        """An installed package's directory (its modules are handlers' modules)."""
        spec = importlib.util.find_spec(package)
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        if len(locations) != 1:
            raise ValueError(f"{package} is not a package in one directory")
        return cls(str(Path(locations[0]).resolve()), package)

    @classmethod
    def unpacked(cls, archive: bytes, directory: Path) -> FunctionCode:
        """Unpack a function's zip into ``directory`` (created, or reused when it holds
        this zip already). A file that is no zip gives an empty directory: no handler."""
        code = cls(str(directory.resolve()))
        if directory.exists():
            return code
        partial = directory.with_name(directory.name + ".partial")
        partial.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
                if sum(info.file_size for info in zipped.infolist()) <= MAX_UNZIPPED_BYTES:
                    zipped.extractall(partial)  # drops absolute paths and ".." (zip slip)
        except zipfile.BadZipFile:
            pass
        partial.rename(directory)
        return code

    def refusal(self, module_name: str) -> str | None:
        """Why the module is not a file of this code (None: it is), without importing."""
        relative = self._relative_name(module_name)
        if relative is None:
            return f"No module named '{module_name}' in the function's code"
        root = Path(self.directory)
        base = root.joinpath(*relative.split("."))
        for candidate in (base.parent / f"{base.name}.py", base / "__init__.py"):
            if candidate.is_file() and candidate.resolve().is_relative_to(root):
                return None
        return f"No module named '{module_name}' in the function's code"

    def load(self, module_name: str) -> ModuleType:
        """Import ``module_name`` from this code's directory only (CodeRefusedError if it is
        not there). Other exceptions are the module's own (SyntaxError, its import errors)."""
        reason = self.refusal(module_name)
        if reason is not None:
            raise CodeRefusedError(module_name, reason)
        relative = self._relative_name(module_name)
        assert relative is not None
        search: list[str] = [self.directory]
        prefix = ""
        if self.package:
            importlib.import_module(self.package)  # an installed package of this project
            prefix = f"{self.package}."
        module: ModuleType | None = None
        parts = relative.split(".")
        for depth in range(1, len(parts) + 1):
            name = prefix + ".".join(parts[:depth])
            spec = importlib.machinery.PathFinder.find_spec(name, search)
            if spec is None or not self._inside(spec):
                raise CodeRefusedError(
                    module_name, f"No module named '{name}' in the function's code"
                )
            loaded = sys.modules.get(name)
            if loaded is not None and _same_file(loaded, spec):
                module = loaded  # imported already (a preload) from this very file
                search = list(spec.submodule_search_locations or [])
                continue
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                assert spec.loader is not None or spec.submodule_search_locations is not None
                if spec.loader is not None:
                    spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(name, None)
                raise
            if depth > 1 or prefix:
                parent = name.rpartition(".")[0]
                setattr(sys.modules[parent], name.rpartition(".")[2], module)
            search = list(spec.submodule_search_locations or [])
        assert module is not None
        return module

    def _relative_name(self, module_name: str) -> str | None:
        relative = module_name
        if self.package:
            if not module_name.startswith(f"{self.package}."):
                return None
            relative = module_name[len(self.package) + 1 :]
        if not relative or not all(part.isidentifier() for part in relative.split(".")):
            return None
        return relative

    def _inside(self, spec: importlib.machinery.ModuleSpec) -> bool:
        root = Path(self.directory)
        places = [spec.origin] if spec.has_location and spec.origin else []
        places += list(spec.submodule_search_locations or [])
        return bool(places) and all(Path(place).resolve().is_relative_to(root) for place in places)


def _same_file(module: ModuleType, spec: importlib.machinery.ModuleSpec) -> bool:
    loaded_from = getattr(module, "__file__", None)
    if not loaded_from or not spec.has_location or not spec.origin:
        return False
    return Path(loaded_from).resolve() == Path(spec.origin).resolve()
