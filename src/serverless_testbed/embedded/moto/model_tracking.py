"""moto's list of every model instance, held weakly.

``BaseModel.__new__`` appends each instance of every moto model (an SQS message, its copy
for each receive, a copy of the state machine per StartExecution, a DynamoDB item...) to its
class's ``instances_tracked`` list, which only the state dump (``/moto-api/data.json``) and
S3's cleanup read, and which nothing empties but a reset. A deleted message or a forgotten
execution's state machine copy therefore lived as long as the process: ~3 such objects per
pipeline execution. The list becomes a ``WeakInstances``: the same appends and iteration, in
creation order, of the instances still alive; one the backend let go of is freed.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from serverless_testbed.embedded.moto.patching import Patch, replace

_converting = threading.Lock()


class WeakInstances:
    """A model class's instances, in creation order, held weakly (dead ones are swept out
    as the list grows: amortised O(1) per append)."""

    def __init__(self, instances: Iterable[Any] = ()) -> None:
        self._lock = threading.Lock()
        self._references: list[Callable[[], Any]] = []
        self._alive_after_sweep = 0
        for instance in instances:
            self.append(instance)

    def append(self, instance: Any) -> None:
        try:
            reference: Callable[[], Any] = weakref.ref(instance)
        except TypeError:  # a class without weak references (__slots__): held, as moto holds it
            reference = _Held(instance)
        with self._lock:
            self._references.append(reference)
            if len(self._references) > 2 * self._alive_after_sweep + 64:
                self._references = [r for r in self._references if r() is not None]
                self._alive_after_sweep = len(self._references)

    def __iter__(self) -> Iterator[Any]:
        with self._lock:
            references = list(self._references)
        return iter([instance for r in references if (instance := r()) is not None])

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _Held:
    def __init__(self, instance: Any) -> None:
        self._instance = instance

    def __call__(self) -> Any:
        return self._instance


def apply() -> Patch:
    from moto.core.common_models import BaseModel

    def new(cls: Any, *args: Any, **kwargs: Any) -> Any:
        instance = super(BaseModel, cls).__new__(cls)
        tracked = cls.instances_tracked  # the class's own, made by moto's metaclass or reset
        if not isinstance(tracked, WeakInstances):
            with _converting:
                tracked = cls.instances_tracked
                if not isinstance(tracked, WeakInstances):
                    tracked = cls.instances_tracked = WeakInstances(tracked)
        tracked.append(instance)
        return instance

    return replace(BaseModel, "__new__", staticmethod(new))
