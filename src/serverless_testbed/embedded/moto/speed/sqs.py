"""SQS ``ReceiveMessage``: moto's checks, without rebuilding every queue attribute.

- For each message it hands out, moto checks the retention period through
  ``get_queue_attributes(queue, ["MessageRetentionPeriod"])``, which builds the queue's
  whole attribute dict three times: each build converts fourteen attribute names from
  CamelCase and scans every message of the queue four times (the approximate counts), each
  look asking the clock. The retention period is one attribute of the queue: it is now
  read as that, the same value (and the same KeyError, were it unset) as before.
- ``Queue.attributes`` (built for each SendMessage, to read ContentBasedDeduplication, and
  by GetQueueAttributes) converts every attribute name from CamelCase, character by
  character: the conversion, a pure function of the name, is now kept per name, there and
  for the action name of every request moto's response classes dispatch.
- ``SendMessage`` reads one queue attribute, ContentBasedDeduplication (up to three times,
  in ``_validate_message``, ``send_message`` and ``Queue.add_message``), each time through
  ``Queue.attributes``, which builds every attribute: the approximate message counts scan
  every message of the queue, asking the clock for each, so a send cost ~0.02 ms more per
  message already queued (0.76 ms at 32, ~20 ms at 1,000: a backlog made sending
  quadratic). While a message is sent, ``Queue.attributes`` answers that key from the
  queue's own field, as the full build converts it, and any other key, or any other use, from
  the full build.
- A long poll waits until ``Queue.messages`` (a list of every visible message, built by
  asking the clock twice per message) is non-empty, re-checked at each SendMessage and each
  second: the wait now stops at the first visible message instead of listing them all.

When a message becomes visible, what is received and in which order are moto's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from serverless_testbed.embedded.moto.patching import Patch, patch, replace

RETENTION_ATTRIBUTE = "MessageRetentionPeriod"
DEDUPLICATION_ATTRIBUTE = "ContentBasedDeduplication"
NAMES_KEPT = 4096  # distinct attribute and action names converted from CamelCase


def apply() -> list[Patch]:
    import moto.core.responses
    import moto.sqs.models
    from moto.core.utils import camelcase_to_underscores, unix_time
    from moto.sqs.models import Queue, SQSBackend

    converted_once = lru_cache(maxsize=NAMES_KEPT)(camelcase_to_underscores)

    retention_field = camelcase_to_underscores(RETENTION_ATTRIBUTE)

    @patch(SQSBackend, "is_message_valid_based_on_retention_period")
    def is_message_valid_based_on_retention_period(
        original: Any, self: Any, queue_name: str, message: Any
    ) -> bool:
        # get_queue_attributes leaves out an attribute that is None: moto's lookup of it
        # then raises KeyError, as this does.
        retention_period = getattr(self.get_queue(queue_name), retention_field)
        if retention_period is None:
            raise KeyError(RETENTION_ATTRIBUTE)
        retain_until = retention_period + message.sent_timestamp / 1000
        return bool(retain_until > unix_time())

    @patch(Queue, "wait_for_messages")
    def wait_for_messages(original: Any, self: Any, timeout: int) -> None:
        def any_visible() -> bool:
            return any(message.visible and not message.delayed for message in self._messages)

        with self._messages_lock:
            self._messages_lock.wait_for(any_visible, timeout=timeout)

    sending = _Sending()

    @patch(SQSBackend, "send_message")
    def send_message(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
        sending.depth += 1
        try:
            return original(self, *args, **kwargs)
        finally:
            sending.depth -= 1

    full_build = Queue.attributes.fget  # type: ignore[attr-defined]

    def attributes(queue: Any) -> Any:
        return _DeduplicationFirst(queue, full_build) if sending.depth else full_build(queue)

    return [
        replace(moto.sqs.models, "camelcase_to_underscores", converted_once),
        replace(moto.core.responses, "camelcase_to_underscores", converted_once),
        is_message_valid_based_on_retention_period,
        wait_for_messages,
        send_message,
        replace(Queue, "attributes", _AttributesProperty(attributes)),
    ]


class _Sending(threading.local):
    depth = 0  # SendMessage calls under way on this thread


class _AttributesProperty(property):
    """``Queue.attributes`` while a message is sent (a class of this module's, so the
    equivalence probe finds and undoes it as it does the other patches)."""


class _DeduplicationFirst(Mapping[str, Any]):
    """A queue's attributes as ``Queue.attributes`` builds them, ContentBasedDeduplication
    read from the queue's field without the build (which scans every message)."""

    def __init__(self, queue: Any, full_build: Any) -> None:
        self._queue = queue
        self._full_build = full_build
        self._built: dict[str, Any] | None = None

    def __getitem__(self, key: str) -> Any:
        if key == DEDUPLICATION_ATTRIBUTE:
            # The build includes it only for a FIFO queue, a bool turned into "true"/"false".
            if not self._queue.fifo_queue:
                raise KeyError(key)
            value = self._queue.content_based_deduplication
            return str(value).lower() if isinstance(value, bool) else value
        return self._full()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._full())

    def __len__(self) -> int:
        return len(self._full())

    def _full(self) -> dict[str, Any]:
        if self._built is None:
            self._built = self._full_build(self._queue)
        return self._built
