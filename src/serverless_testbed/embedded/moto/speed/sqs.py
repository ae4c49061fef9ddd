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
- A long poll waits until ``Queue.messages`` (a list of every visible message, built by
  asking the clock twice per message) is non-empty, re-checked at each SendMessage and each
  second: the wait now stops at the first visible message instead of listing them all.

When a message becomes visible, what is received and in which order are moto's.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from serverless_testbed.embedded.moto.patching import Patch, patch, replace

RETENTION_ATTRIBUTE = "MessageRetentionPeriod"
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

    return [
        replace(moto.sqs.models, "camelcase_to_underscores", converted_once),
        replace(moto.core.responses, "camelcase_to_underscores", converted_once),
        is_message_valid_based_on_retention_period,
        wait_for_messages,
    ]
