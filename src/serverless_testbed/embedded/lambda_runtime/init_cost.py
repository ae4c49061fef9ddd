"""What a preloading zygote hides from a cold start, measured once and charged back.

On Lambda a cold start pays for the runtime's own start and for every module the function
imports at init. Here the zygote pays for the interpreter's start and for the preloaded
libraries (boto3, powertools) once, and each container is a fork that finds them already in
``sys.modules``. So the zygote measures those costs (``record_boot``, ``preload``) and a
container adds to its Init Duration the runtime's start plus the preloads its handler's init
actually reached (``ImportTrace``): a handler that imports boto3 pays for boto3, one that
imports only the standard library does not.

The costs are the zygote's CPU time (user + system), not wall time: the zygote starts while
the stack starts beside it on the same cores, and the wall time of its imports would count
that contention too. Importing is CPU work (plus reads the page cache answers), so on a core
of its own a container would take about that long.

Which preload a handler reached: every ``import`` statement goes through
``builtins.__import__`` even when the module is already loaded, so the trace sees the top-level
packages the handler's code (and any non-preloaded module it imports) asks for. A preload is
charged when its own package, or a third-party package it brought in first, is asked for; the
packages a charged preload brought in count as asked for too (boto3 brings botocore, so the
preloaded ``botocore.session`` is charged with it). Standard-library modules a preload
happened to load first are not charged to it: a handler importing ``ssl`` would otherwise pay
for all of boto3.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PreloadCost:
    module: str
    ms: float
    packages: frozenset[str]  # its own top-level package + third-party ones it loaded first


@dataclass
class HiddenCosts:
    boot_ms: float = 0.0  # interpreter start + the runtime's own modules, in the zygote
    preloads: list[PreloadCost] = field(default_factory=list)
    boto3_data_ms: float = 0.0  # botocore's data files, loaded once in the zygote
    ready_at: float = 0.0  # epoch s when the zygote could fork (its preloads done)

    def charged(self, asked: set[str]) -> tuple[float, list[str]]:
        """(ms, preloaded modules charged) for a handler whose init asked for ``asked``."""
        reached = set(asked)
        charged: list[PreloadCost] = []
        changed = True
        while changed:
            changed = False
            for preload in self.preloads:
                if preload not in charged and preload.packages & reached:
                    charged.append(preload)
                    reached |= preload.packages
                    changed = True
        ms = self.boot_ms + sum(p.ms for p in charged)
        if reached & {"boto3", "botocore"}:
            ms += self.boto3_data_ms
        return ms, [p.module for p in charged]


HIDDEN = HiddenCosts()  # filled in the zygote, inherited by every container it forks


def record_boot() -> None:
    """The interpreter's start and the runtime's own imports, up to now."""
    HIDDEN.boot_ms = time.process_time() * 1000


def preload(module: str) -> None:
    """Import ``module`` in the zygote and remember what it cost."""
    before = _top_level_packages()
    started = time.process_time()
    importlib.import_module(module)
    ms = (time.process_time() - started) * 1000
    brought = {p for p in _top_level_packages() - before if p not in sys.stdlib_module_names}
    HIDDEN.preloads.append(PreloadCost(module, ms, frozenset({module.split(".")[0], *brought})))


def timed_boto3_data(prepare: Callable[[], None]) -> None:
    started = time.process_time()
    prepare()
    HIDDEN.boto3_data_ms = (time.process_time() - started) * 1000


def mark_ready() -> None:
    HIDDEN.ready_at = time.time()


def _top_level_packages() -> set[str]:
    return {name.split(".")[0] for name in list(sys.modules)}


@contextlib.contextmanager
def import_trace() -> Iterator[set[str]]:
    """The top-level packages asked for by absolute imports while the block runs."""
    asked: set[str] = set()
    original = builtins.__import__

    def tracing_import(name: str, *args: Any, **kwargs: Any) -> Any:
        level = args[3] if len(args) > 3 else kwargs.get("level", 0)
        if level == 0 and name:
            asked.add(name.split(".")[0])
        return original(name, *args, **kwargs)

    builtins.__import__ = tracing_import
    try:
        yield asked
    finally:
        builtins.__import__ = original
