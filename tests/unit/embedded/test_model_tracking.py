"""moto's per-class list of model instances, held weakly: appended and iterated as a list,
in creation order, with the instances still alive."""

from __future__ import annotations

import gc

from serverless_testbed.embedded.moto.model_tracking import WeakInstances


class Model:
    def __init__(self, name: str) -> None:
        self.name = name


class Slotted:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


def test_instances_are_listed_in_creation_order_while_alive() -> None:
    kept = [Model(f"m{i}") for i in range(5)]
    tracked = WeakInstances(kept[:2])
    for model in kept[2:]:
        tracked.append(model)

    del kept[1], kept[2]
    gc.collect()

    assert [model.name for model in tracked] == ["m0", "m2", "m4"]
    assert len(tracked) == 3


def test_dead_references_are_swept_as_the_list_grows() -> None:
    tracked = WeakInstances()
    alive = Model("alive")
    tracked.append(alive)
    for i in range(10_000):
        tracked.append(Model(f"gone{i}"))

    assert [model.name for model in tracked] == ["alive"]
    assert len(tracked._references) < 200


def test_an_instance_without_weak_references_is_held_as_moto_holds_it() -> None:
    tracked = WeakInstances()
    tracked.append(Slotted("slotted"))
    gc.collect()

    assert [model.name for model in tracked] == ["slotted"]
