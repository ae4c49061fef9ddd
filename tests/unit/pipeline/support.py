"""Helpers of the pipeline's unit tests (no fixtures: those are in conftest.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from tests.integration.helpers import wait_until

T = TypeVar("T")


class FakeClock:
    """Wall clock and monotonic clock that move only when told (or when slept on)."""

    def __init__(self, now_ms: float = 1_700_000_000_000.0) -> None:
        self._now_ms = now_ms
        self._monotonic = 0.0
        self.sleeps: list[float] = []

    def now_ms(self) -> float:
        self._now_ms += 1.0  # every reading is a later moment
        return self._now_ms

    def monotonic(self) -> float:
        return self._monotonic

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._monotonic += seconds
        self._now_ms += seconds * 1000


def wait_for(condition: Callable[[], T | None], *, what: str) -> T:
    """Poll a condition with a deadline (moto runs executions in threads)."""
    return wait_until(condition, timeout_s=10, what=what, interval_s=0.005)  # type: ignore[return-value]


def client_error(code: str, operation: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message or code}}, operation)


class RecordingSfn:
    """A Step Functions client that records SendTask* calls and can refuse them."""

    def __init__(self, client: Any, refuse_with: str | None = None) -> None:
        self._client = client
        self.refuse_with = refuse_with
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def send_task_success(self, **kwargs: Any) -> Any:
        return self._call("send_task_success", "SendTaskSuccess", kwargs)

    def send_task_failure(self, **kwargs: Any) -> Any:
        return self._call("send_task_failure", "SendTaskFailure", kwargs)

    def _call(self, method: str, operation: str, kwargs: dict[str, Any]) -> Any:
        self.calls.append((method, kwargs))
        if self.refuse_with:
            raise client_error(self.refuse_with, operation)
        return getattr(self._client, method)(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def lambda_sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """An SQS message from ReceiveMessage, shaped as Lambda's SQS event delivers it."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }


def receive_records(sqs: Any, queue_url: str, queue_arn: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
    ).get("Messages", [])
    return [lambda_sqs_record(message, queue_arn) for message in messages]


class StartSignallingSfn:
    """A Step Functions client that says when StartExecution has returned: moto in-process is
    not safe to read from another thread while an execution is still being created."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.started = threading.Event()

    def start_execution(self, **kwargs: Any) -> Any:
        try:
            return self._client.start_execution(**kwargs)
        finally:
            self.started.set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)
