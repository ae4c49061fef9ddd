"""The Redis backend: one hash per item, key ``{table_name}:{pk}``.

- updateItem: HSET of the item's columns (plus ``pk``), merging with what is there.
- putItem: DEL then HSET, back to back (the item is replaced, as DynamoDB's PutItem does).
- getItem and query: HGETALL of the item's hash (the table has only a partition key, so a
  Query on ``pk = key`` returns at most that one item: the same thing).
- deleteItem: DEL.

A batch of due operations goes out in one pipeline (one round trip); each operation still gets
its own outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from serverless_testbed.stress.work.backends import PARTITION_KEY
from serverless_testbed.stress.work.expand import Operation
from serverless_testbed.stress.work.stats import Outcome


class RedisBackend:
    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.table_name = table_name

    def item_key(self, key: str) -> str:
        return f"{self.table_name}:{key}"

    def execute(self, operations: Sequence[Operation]) -> list[Outcome]:
        pipe = self.client.pipeline(transaction=False)
        for operation in operations:
            name = self.item_key(operation.key)
            action = operation.action
            if action == "updateItem":
                pipe.hset(name, mapping={PARTITION_KEY: operation.key, **(operation.item or {})})
            elif action == "putItem":
                self._put(pipe, name, operation)
            elif action in ("getItem", "query"):
                pipe.hgetall(name)
            elif action == "deleteItem":
                pipe.delete(name)
            else:
                raise ValueError(f"unknown action {action!r}")
        try:
            results = pipe.execute(raise_on_error=False)
        except Exception as error:  # the connection failed: every operation of the batch did
            return [Outcome(ok=False, error=type(error).__name__) for _ in operations]
        return _outcomes(operations, results)

    @staticmethod
    def _put(pipe: Any, name: str, operation: Operation) -> None:
        # DEL then HSET, adjacent in the pipeline: one outcome for the pair (see _outcomes).
        pipe.delete(name)
        pipe.hset(name, mapping={PARTITION_KEY: operation.key, **(operation.item or {})})

    def close(self) -> None:
        self.client.close()


def _outcomes(operations: Sequence[Operation], results: list[Any]) -> list[Outcome]:
    outcomes = []
    position = 0
    for operation in operations:
        width = 2 if operation.action == "putItem" else 1
        errors = [r for r in results[position : position + width] if isinstance(r, Exception)]
        position += width
        if errors:
            outcomes.append(Outcome(ok=False, error=type(errors[0]).__name__))
        else:
            outcomes.append(Outcome(ok=True))
    return outcomes
