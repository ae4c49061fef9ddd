"""Where a worker's operations go: a small Backend protocol and its DynamoDB and Redis versions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from serverless_testbed.stress.work.expand import Operation
from serverless_testbed.stress.work.stats import Outcome

PARTITION_KEY = "pk"  # the item key attribute (DynamoDB) / hash field (Redis)


class Backend(Protocol):
    def execute(self, operations: Sequence[Operation]) -> list[Outcome]:
        """Run the operations (in one round trip where the backend allows); one outcome each."""
        ...

    def close(self) -> None: ...
