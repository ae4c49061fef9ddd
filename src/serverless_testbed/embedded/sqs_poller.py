"""Lambda's SQS event source mapping, emulated: poll the queue, invoke the function, delete.

moto keeps event source mappings but runs a function inline, inside SendMessage (and not at
all without Docker). This poller does what Lambda's pollers do, asynchronously:

- it reads the mappings from the emulator (ListEventSourceMappings) and refreshes them, so a
  mapping disabled or deleted there stops being polled;
- for each enabled SQS mapping a few poller threads long-poll the queue (batch size, batching
  window), build Lambda's SQS event and invoke the function; while batches come back full
  (messages are waiting) more pollers join, as Lambda adds concurrent batches, up to
  MaximumConcurrency or MAX_POLLERS_PER_MAPPING, and each one that joined leaves after a
  batch that was not full; while the function throttles none joins, and one that joined
  leaves after its batch (as Lambda scales its pollers down on throttles): more pollers
  would only hold more batches back from the ones that can run;
- a function error deletes nothing: the messages come back after the queue's visibility
  timeout and SQS moves them to the dead-letter queue after maxReceiveCount;
- with ReportBatchItemFailures only the messages not named in ``batchItemFailures`` are
  deleted (an invalid response fails the whole batch, as in Lambda); without it, all are;
- a throttled invoke (the function has no concurrency left) keeps the batch and is retried
  with backoff while the messages are still invisible; once the queue's visibility timeout
  has passed they are left to SQS, as Lambda does ("Handling errors for an SQS event source").
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from serverless_testbed.emulation.invoke import FunctionThrottled, Invoke, InvokeOutcome

logger = logging.getLogger(__name__)

MAX_RECEIVE = 10  # SQS's own limit for one ReceiveMessage
LONG_POLL_S = 1  # short enough for a prompt stop, and moto answers as soon as a message lands
# Lambda begins with five concurrent batches per standard queue; here two pollers measured
# better (8 runs in flight: ~36/s against ~31/s with five, the stack process ~30 against
# ~33 ms of CPU per run): each batch costs a ReceiveMessage, an invoke and a
# DeleteMessageBatch whatever its size, and fewer pollers make fuller batches.
POLLERS_PER_MAPPING = 2
# The most pollers a backlog brings (Lambda's own ceiling is 1,000 concurrent batches; here
# each one holds a container process of the function).
MAX_POLLERS_PER_MAPPING = 8
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 5.0
STOP_TIMEOUT_S = 2.0
RECORD_ATTRIBUTES = (  # the system attributes Lambda puts into a record
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)


@dataclass(frozen=True)
class MappingSettings:
    """What a poller needs from one event source mapping (one ListEventSourceMappings entry)."""

    uuid: str
    queue_arn: str
    function_arn: str
    batch_size: int
    batching_window_s: float
    report_batch_item_failures: bool
    max_concurrency: int | None

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any]) -> MappingSettings:
        scaling = mapping.get("ScalingConfig") or {}
        return cls(
            uuid=mapping["UUID"],
            queue_arn=mapping["EventSourceArn"],
            function_arn=mapping["FunctionArn"],
            batch_size=int(mapping.get("BatchSize") or MAX_RECEIVE),
            batching_window_s=float(mapping.get("MaximumBatchingWindowInSeconds") or 0),
            report_batch_item_failures="ReportBatchItemFailures"
            in (mapping.get("FunctionResponseTypes") or []),
            max_concurrency=scaling.get("MaximumConcurrency"),
        )

    @property
    def queue_region(self) -> str:
        return self.queue_arn.split(":")[3]


@dataclass
class MappingStats:
    batches: int = 0
    messages: int = 0
    function_errors: int = 0
    deleted: int = 0
    returned: int = 0  # messages left for SQS to make visible again
    throttles: int = 0  # invokes refused for want of concurrency (each retried while it can)

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


@dataclass
class _ActiveMapping:
    settings: MappingSettings
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    stats: MappingStats = field(default_factory=MappingStats)
    queue_url: str | None = None
    visibility_timeout_s: float | None = None
    started: int = 0  # poller threads started so far (names them)
    throttled_until: float = 0.0  # monotonic: no poller joins before (the function throttled)

    def throttled(self) -> bool:
        return time.monotonic() < self.throttled_until


class EventSourcePoller:
    def __init__(
        self,
        *,
        lambda_client: Any,
        sqs_client: Any,
        invoke: Invoke,
        region: str,
        refresh_interval_s: float = 1.0,
        pollers_per_mapping: int = POLLERS_PER_MAPPING,
        max_pollers_per_mapping: int = MAX_POLLERS_PER_MAPPING,
    ) -> None:
        self._lambda = lambda_client
        self._sqs = sqs_client
        self._invoke = invoke
        self._region = region
        self._refresh_interval_s = refresh_interval_s
        self._pollers_per_mapping = pollers_per_mapping
        self._max_pollers_per_mapping = max(max_pollers_per_mapping, pollers_per_mapping)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._active: dict[str, _ActiveMapping] = {}
        self._retired: list[_ActiveMapping] = []
        self._refresher: threading.Thread | None = None
        self._warned: set[str] = set()  # mappings whose unsupported settings were logged

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        if self._refresher is not None:
            return
        self._refresher = threading.Thread(
            target=self._refresh_forever, name="sqs-mappings", daemon=True
        )
        self._refresher.start()

    @property
    def alive(self) -> bool:
        """The thread that follows the mappings runs (and so do the pollers it starts)."""
        return self._refresher is not None and self._refresher.is_alive()

    def stop(self) -> None:
        """Stop polling; returns within STOP_TIMEOUT_S (in-flight invokes finish on their own)."""
        self._stopping.set()
        with self._lock:
            mappings = [*self._active.values(), *self._retired]
        for mapping in mappings:
            mapping.stop.set()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        threads = [t for m in mappings for t in m.threads]
        if self._refresher is not None:
            threads.append(self._refresher)
        for thread in threads:
            thread.join(timeout=max(deadline - time.monotonic(), 0))

    def refresh(self) -> None:
        """Read the mappings now and start or stop pollers to match (also done periodically)."""
        wanted = {settings.uuid: settings for settings in self._list_sqs_mappings()}
        with self._lock:
            if self._stopping.is_set():
                return
            for uuid in list(self._active):
                if uuid not in wanted:
                    retired = self._active.pop(uuid)
                    retired.stop.set()
                    self._retired.append(retired)
            for uuid, settings in wanted.items():
                active = self._active.get(uuid)
                if active is None:
                    self._active[uuid] = self._start_mapping(settings)
                elif active.settings != settings:
                    active.settings = settings  # pollers read it before every batch
            self._retired = [m for m in self._retired if any(t.is_alive() for t in m.threads)]

    def active_mappings(self) -> dict[str, dict[str, int]]:
        """Mappings being polled right now (UUID -> stats), for tests and status output."""
        with self._lock:
            return {uuid: m.stats.as_dict() for uuid, m in self._active.items()}

    def polling_threads(self, uuid: str) -> int:
        """Live poller threads of a mapping, including one that is winding down."""
        with self._lock:
            mappings = [*self._active.values(), *self._retired]
        return sum(t.is_alive() for m in mappings if m.settings.uuid == uuid for t in m.threads)

    # -- mappings --------------------------------------------------------------------------
    def _refresh_forever(self) -> None:
        backoff = _Backoff()
        while not self._stopping.is_set():
            try:
                self.refresh()
                backoff.reset()
                wait_s = self._refresh_interval_s
            except Exception:
                logger.exception("listing event source mappings failed; retrying")
                wait_s = backoff.next()
            self._stopping.wait(wait_s)

    def _list_sqs_mappings(self) -> Iterable[MappingSettings]:
        for page in self._lambda.get_paginator("list_event_source_mappings").paginate():
            for mapping in page["EventSourceMappings"]:
                if mapping.get("State") != "Enabled":
                    continue
                if not mapping.get("EventSourceArn", "").startswith("arn:aws:sqs:"):
                    continue
                if mapping.get("FilterCriteria") and mapping["UUID"] not in self._warned:
                    self._warned.add(mapping["UUID"])
                    logger.warning(
                        "mapping %s has FilterCriteria: not supported, every message is delivered",
                        mapping["UUID"],
                    )
                yield MappingSettings.from_mapping(mapping)

    def _start_mapping(self, settings: MappingSettings) -> _ActiveMapping:
        mapping = _ActiveMapping(settings)
        for _ in range(max(1, min(self._pollers_per_mapping, self._most_pollers(settings)))):
            self._start_poller(mapping, on_demand=False)
        return mapping

    def _most_pollers(self, settings: MappingSettings) -> int:
        if settings.queue_arn.endswith(".fifo"):
            return 1  # one poller keeps each message group in order
        most = self._max_pollers_per_mapping
        if settings.max_concurrency:
            most = min(most, settings.max_concurrency)
        return max(most, 1)

    def _start_poller(self, mapping: _ActiveMapping, *, on_demand: bool) -> None:
        """Start one more poller thread for the mapping (the caller holds ``self._lock``, or
        the mapping is not yet shared)."""
        mapping.started += 1
        thread = threading.Thread(
            target=self._poll_forever,
            args=(mapping,),
            kwargs={"on_demand": on_demand},
            name=f"sqs-poller-{mapping.settings.uuid[:8]}-{mapping.started}",
            daemon=True,
        )
        mapping.threads.append(thread)
        thread.start()

    def _join_the_backlog(self, mapping: _ActiveMapping) -> None:
        """A full batch came back, so messages are waiting: one more poller, within the limit."""
        with self._lock:
            if self._stopping.is_set() or mapping.stop.is_set() or mapping.throttled():
                return
            mapping.threads = [t for t in mapping.threads if t.is_alive()]
            if len(mapping.threads) < self._most_pollers(mapping.settings):
                self._start_poller(mapping, on_demand=True)

    # -- one poller ------------------------------------------------------------------------
    def _poll_forever(self, mapping: _ActiveMapping, *, on_demand: bool) -> None:
        """Poll until the mapping stops; a poller that joined for a backlog (``on_demand``)
        leaves after its first batch that was not full, or while the function throttles."""
        backoff = _Backoff()
        while not mapping.stop.is_set():
            try:
                received = self._poll_once(mapping)
                backoff.reset()
                if on_demand and (received < mapping.settings.batch_size or mapping.throttled()):
                    return
            except Exception:
                if mapping.stop.is_set():
                    return
                logger.exception("polling %s failed; retrying", mapping.settings.queue_arn)
                mapping.queue_url = None  # the queue may have been re-created
                mapping.stop.wait(backoff.next())

    def _poll_once(self, mapping: _ActiveMapping) -> int:
        """Receive one batch and hand it to the function; returns how many messages came."""
        settings = mapping.settings
        if mapping.queue_url is None or mapping.visibility_timeout_s is None:
            mapping.queue_url = self._queue_url(settings.queue_arn)
            mapping.visibility_timeout_s = self._visibility_timeout_s(mapping.queue_url)
        queue_url = mapping.queue_url
        # No message of the batch was received before this: its invisibility ends after it.
        received_after = time.monotonic()
        messages = self._receive_batch(mapping.stop, queue_url, settings)
        if not messages:
            return 0
        if mapping.stop.is_set():  # disabled while receiving: hand the messages straight back
            self._return_messages(queue_url, messages)
            mapping.stats.returned += len(messages)
            return len(messages)
        if len(messages) >= settings.batch_size:
            self._join_the_backlog(mapping)
        event = {"Records": [self._record(message, settings) for message in messages]}
        mapping.stats.batches += 1
        mapping.stats.messages += len(messages)
        hold_until = received_after + mapping.visibility_timeout_s
        try:
            result = self._invoke_unless_throttled(mapping, json.dumps(event).encode(), hold_until)
        except _StillThrottled:
            if mapping.stop.is_set():  # stopped while holding the batch: hand it back now
                self._return_messages(queue_url, messages)
            mapping.stats.returned += len(messages)
            return len(messages)
        except Exception:  # the invoke itself failed (a Lambda service error): retry later
            logger.exception("invoking %s failed", settings.function_arn)
            mapping.stats.function_errors += 1
            mapping.stats.returned += len(messages)
            return len(messages)
        succeeded = self._succeeded(messages, result, settings)
        if result.function_error is not None:
            mapping.stats.function_errors += 1
        self._delete(queue_url, succeeded)
        mapping.stats.deleted += len(succeeded)
        mapping.stats.returned += len(messages) - len(succeeded)
        return len(messages)

    def _invoke_unless_throttled(
        self, mapping: _ActiveMapping, event: bytes, hold_until: float
    ) -> InvokeOutcome:
        """Invoke; a throttled invoke is tried again with backoff until ``hold_until``
        (monotonic: when the batch's messages become visible again) or the mapping stops."""
        backoff = _Backoff()
        while True:
            try:
                return self._invoke(mapping.settings.function_arn, event)
            except FunctionThrottled:
                mapping.stats.throttles += 1
                mapping.throttled_until = time.monotonic() + BACKOFF_MAX_S
                wait_s = backoff.next()
                if time.monotonic() + wait_s >= hold_until or mapping.stop.wait(wait_s):
                    raise _StillThrottled from None

    def _visibility_timeout_s(self, queue_url: str) -> float:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"]
        )["Attributes"]
        return float(attributes["VisibilityTimeout"])

    def _receive_batch(
        self, stop: threading.Event, queue_url: str, settings: MappingSettings
    ) -> list[dict[str, Any]]:
        """Up to BatchSize messages: what one long poll returns, or more within the window."""
        window_ends = time.monotonic() + settings.batching_window_s
        messages: list[dict[str, Any]] = []
        while len(messages) < settings.batch_size and not stop.is_set():
            remaining_window = window_ends - time.monotonic()
            if messages and remaining_window <= 0:
                break
            # Always a long poll (never a busy loop); in a window it may end up to 1 s late.
            wait_s = LONG_POLL_S
            response = self._sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=min(settings.batch_size - len(messages), MAX_RECEIVE),
                WaitTimeSeconds=wait_s,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            received = response.get("Messages", [])
            messages.extend(received)
            if not messages or settings.batching_window_s <= 0:
                break
        return messages

    def _queue_url(self, queue_arn: str) -> str:
        *_, account, name = queue_arn.split(":")
        response = self._sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)
        return response["QueueUrl"]

    def _record(self, message: dict[str, Any], settings: MappingSettings) -> dict[str, Any]:
        attributes = message.get("Attributes", {})
        record = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {k: attributes[k] for k in RECORD_ATTRIBUTES if k in attributes},
            "messageAttributes": {
                name: _lambda_message_attribute(value)
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": settings.queue_arn,
            "awsRegion": settings.queue_region or self._region,
        }
        if "MD5OfMessageAttributes" in message:
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        return record

    @staticmethod
    def _succeeded(
        messages: list[dict[str, Any]], result: InvokeOutcome, settings: MappingSettings
    ) -> list[dict[str, Any]]:
        """The messages to delete after an invoke, by Lambda's rules."""
        if result.function_error is not None:
            return []
        if not settings.report_batch_item_failures:
            return messages
        failed = batch_item_failures(result.payload, {m["MessageId"] for m in messages})
        if failed is None:
            logger.warning(
                "%s returned an invalid batchItemFailures response: the whole batch failed",
                settings.function_arn,
            )
            return []
        return [m for m in messages if m["MessageId"] not in failed]

    def _delete(self, queue_url: str, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), MAX_RECEIVE):
            chunk = messages[start : start + MAX_RECEIVE]
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)
            ]
            response = self._sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
            for failure in response.get("Failed", []):
                logger.warning("deleting a message from %s failed: %s", queue_url, failure)

    def _return_messages(self, queue_url: str, messages: list[dict[str, Any]]) -> None:
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(messages[:MAX_RECEIVE])
        ]
        with contextlib.suppress(Exception):  # not returned: they come back after the timeout
            self._sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)


def batch_item_failures(payload: bytes, message_ids: set[str]) -> set[str] | None:
    """Message ids the function reported as failed; None if the response is invalid."""
    try:
        response = json.loads(payload) if payload else None
    except ValueError:
        return None
    if response is None:
        return set()
    if not isinstance(response, dict):
        return None
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in message_ids:
            return None
        failed.add(identifier)
    return failed


def _lambda_message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """boto3's shape of a message attribute -> the shape in Lambda's SQS records."""
    attribute: dict[str, Any] = {
        "stringListValues": value.get("StringListValues", []),
        "binaryListValues": [_base64(v) for v in value.get("BinaryListValues", [])],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = _base64(value["BinaryValue"])
    return attribute


def _base64(value: bytes | str) -> str:
    return value if isinstance(value, str) else base64.b64encode(value).decode()


class _StillThrottled(Exception):
    """The function stayed throttled for as long as the batch was the poller's to hold."""


class _Backoff:
    def __init__(self) -> None:
        self._next = BACKOFF_FIRST_S

    def reset(self) -> None:
        self._next = BACKOFF_FIRST_S

    def next(self) -> float:
        wait_s, self._next = self._next, min(self._next * 2, BACKOFF_MAX_S)
        return wait_s
