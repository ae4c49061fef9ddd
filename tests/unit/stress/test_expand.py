"""Expansion: operation i depends only on the task spec and i."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from typing import Any

from serverless_testbed.stress.traffic import TaskSpec
from serverless_testbed.stress.work.expand import Expander, Operation, stream_digest


def spec(**fields: Any) -> TaskSpec:
    base = {
        "action": "updateItem",
        "seed": 7,
        "qps": 1000,
        "times": 10_000,
        "id": "run1-0",
        "run": "run1",
        "key": "0",
        "seed_drawn": False,
        "table_name": "stress-test",
        "total": 10_000,
        "start_ms": 0,
        "slot_ms": 10,
    }
    return TaskSpec.model_validate({**base, **fields})


DATA = {"request_": {"r": 16, "len": 80}, "bid_feedback_2": 100, "impression": "this is text"}


def split_expansion(task: TaskSpec, total: int, pieces: int, rng: random.Random) -> list[Operation]:
    """Cut 0..total-1 into random descriptors, expand each with a fresh Expander (own worker)."""
    cuts = sorted(rng.sample(range(1, total), pieces - 1))
    bounds = [0, *cuts, total]
    operations: list[Operation] = []
    descriptors = list(itertools.pairwise(bounds))
    rng.shuffle(descriptors)  # workers finish in any order
    for first, end in descriptors:
        operations += Expander(task).operations(first, end - first)
    return operations


def test_the_stream_hash_is_the_same_whatever_the_split_into_descriptors() -> None:
    rng = random.Random(1)
    for task in (
        spec(data=DATA),
        spec(data=DATA, samples=4),
        spec(action="query", seeds=[15.38, 48.58, 7.36, 22.58, 4.82, 1.29]),
    ):
        whole = stream_digest(Expander(task).operations(0, 2000))
        for pieces in (2, 7, 64):
            assert stream_digest(split_expansion(task, 2000, pieces, rng)) == whole


def test_a_different_seed_gives_a_different_stream() -> None:
    first = stream_digest(Expander(spec(data=DATA)).operations(0, 100))
    assert stream_digest(Expander(spec(data=DATA, seed=8)).operations(0, 100)) != first


def test_seed_weights_draw_each_candidate_seed_in_proportion() -> None:
    expander = Expander(spec(action="getItem", seed=1, seeds=[2.2, 6.6]))
    drawn = Counter(expander.seed_for(i) for i in range(40_000))
    assert set(drawn) == {1, 2}
    assert abs(drawn[1] / 40_000 - 0.25) < 0.01


def test_the_same_seed_and_index_give_the_same_key_in_any_task() -> None:
    writer = Expander(spec(data=DATA, seed=3))
    reader = Expander(spec(action="getItem", seed=3))
    assert [op.key for op in writer.operations(0, 50)] == [
        op.key for op in reader.operations(0, 50)
    ]
    assert all(op.item is None for op in reader.operations(0, 50))


def test_data_literal_binary_length_and_random_column_suffix() -> None:
    for operation in Expander(spec(data=DATA)).operations(0, 500):
        item = operation.item
        assert item is not None
        assert item["impression"] == "this is text"
        assert isinstance(item["bid_feedback_2"], bytes) and len(item["bid_feedback_2"]) == 100
        random_columns = [name for name in item if name.startswith("request_")]
        assert len(random_columns) == 1
        assert 0 <= int(random_columns[0].removeprefix("request_")) < 16
        assert len(item[random_columns[0]]) == 80
    suffixes = {
        name
        for op in Expander(spec(data=DATA)).operations(0, 500)
        for name in op.item or {}
        if name.startswith("request_")
    }
    assert len(suffixes) == 16


def test_without_samples_every_operation_gets_fresh_bytes() -> None:
    payloads = {op.item["bid_feedback_2"] for op in Expander(spec(data=DATA)).operations(0, 300)}
    assert len(payloads) == 300


def test_samples_pick_from_that_many_pregenerated_payloads_per_seed() -> None:
    expander = Expander(spec(data=DATA, samples=4, seeds=[1, 1]))
    payloads = {op.item["bid_feedback_2"] for op in expander.operations(0, 1000)}
    assert len(payloads) == 8  # 4 samples for each of the 2 candidate seeds


def test_put_item_carries_the_item_and_delete_item_only_the_key() -> None:
    assert Expander(spec(action="putItem", data={"a": "x"})).operation(0).item == {"a": "x"}
    assert Expander(spec(action="deleteItem", data={"a": "x"})).operation(0).item is None
