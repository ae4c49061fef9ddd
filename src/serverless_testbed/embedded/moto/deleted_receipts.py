"""The receipt handles of deleted SQS messages a queue remembers: the newest 10,000.

moto remembers every receipt handle of every message deleted from a queue, so that deleting
again with one succeeds, as on AWS, and never forgets one: ~0.3 KB per message for the
life of the stack, 300 MB a million messages. A queue now remembers the newest
``DELETED_RECEIPTS_KEPT``; deleting with an older one answers ReceiptHandleIsInvalid, as AWS
answers for a receipt handle that expired.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from serverless_testbed.embedded.moto.patching import Patch, patch

DELETED_RECEIPTS_KEPT = 10_000


class RecentReceipts:
    """A set of receipt handles that forgets the oldest beyond ``kept``: the ``in`` and
    ``update`` moto's queue uses."""

    def __init__(self, kept: int = DELETED_RECEIPTS_KEPT) -> None:
        self._kept = kept
        self._handles: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, handle: object) -> bool:
        return handle in self._handles

    def __len__(self) -> int:
        return len(self._handles)

    def update(self, handles: Iterable[str]) -> None:
        with self._lock:
            for handle in handles:
                self._handles[handle] = None
                self._handles.move_to_end(handle)
            while len(self._handles) > self._kept:
                self._handles.popitem(last=False)


def apply() -> Patch:
    from moto.sqs.models import Queue

    @patch(Queue, "__init__")
    def init(original: Any, self: Any, *a: Any, **o: Any) -> None:
        original(self, *a, **o)
        self.deleted_messages = RecentReceipts()

    return init
