"""The event-source poller's SQS calls, answered by moto's SQS backend in this process.

The poller (``embedded/sqs_poller.py``) runs in the embedded stack's process, the process
that holds moto's SQS backend. Through a boto3 client, each of its calls is serialised and
signed by botocore, read and checked by the stack's server, parsed by moto's request layer,
serialised again by moto and parsed by botocore: under load that was ~12% of the stack
process's interpreter-lock time for the two calls a batch costs (ReceiveMessage and
DeleteMessageBatch). ``InProcessSqs`` has the five methods the poller calls, with boto3's
parameter names, and makes the backend calls moto's handlers make with what those handlers
would have defaulted, returning the answers in the shape boto3 returns them (strings for
attribute values, the message attributes as stored) and moto's errors as the ``ClientError``
botocore raises for them. The answers are checked against a boto3 client of the same
server by tests/integration/embedded/test_in_process_sqs.py.

Queues are named by their URL, as in SQS: this client hands out moto's URL form
(``{endpoint}/{account}/{name}``) and reads the account and name back from it; the region
is the one the client was made for, as with a boto3 client.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import ClientError
from moto.core.exceptions import ServiceException
from moto.core.exceptions import _RESTError as RESTError

# moto's SQSResponse.receive_message: the system attributes it can return, in its order.
SYSTEM_ATTRIBUTES = (
    "AWSTraceHeader",
    "ApproximateFirstReceiveTimestamp",
    "ApproximateReceiveCount",
    "MessageDeduplicationId",
    "MessageGroupId",
    "SenderId",
    "SentTimestamp",
    "SequenceNumber",
)
MAX_MESSAGES = 10  # ReceiveMessage's MaxNumberOfMessages, at most
MAX_WAIT_S = 20  # ReceiveMessage's WaitTimeSeconds, at most


class InProcessSqs:
    """What EventSourcePoller asks of an SQS client, from moto's backend in this process."""

    def __init__(self, endpoint_url: str, region: str) -> None:
        self._endpoint = endpoint_url.rstrip("/")
        self._region = region

    def get_queue_url(self, *, QueueName: str, QueueOwnerAWSAccountId: str) -> dict[str, Any]:
        with _as_client_error("GetQueueUrl"):
            queue = self._backend(QueueOwnerAWSAccountId).get_queue_url(QueueName)
        return {"QueueUrl": f"{self._endpoint}/{queue.account_id}/{queue.name}"}

    def get_queue_attributes(self, *, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:
        backend, name = self._queue(QueueUrl)
        with _as_client_error("GetQueueAttributes"):
            attributes = backend.get_queue_attributes(name, AttributeNames)
        return {"Attributes": {key: str(value) for key, value in attributes.items()}}

    def receive_message(
        self,
        *,
        QueueUrl: str,
        MaxNumberOfMessages: int,
        WaitTimeSeconds: int,
        AttributeNames: list[str],
        MessageAttributeNames: list[str],
    ) -> dict[str, Any]:
        if not 1 <= MaxNumberOfMessages <= MAX_MESSAGES or not 0 <= WaitTimeSeconds <= MAX_WAIT_S:
            raise _client_error(
                "ReceiveMessage",
                "InvalidParameterValue",
                f"MaxNumberOfMessages {MaxNumberOfMessages} (1 to {MAX_MESSAGES}) or "
                f"WaitTimeSeconds {WaitTimeSeconds} (0 to {MAX_WAIT_S}) is invalid",
                400,
            )
        backend, name = self._queue(QueueUrl)
        with _as_client_error("ReceiveMessage"):
            queue = backend.get_queue(name)
            messages = backend.receive_message(
                name,
                MaxNumberOfMessages,
                WaitTimeSeconds,
                queue.visibility_timeout,
                MessageAttributeNames,
            )
        wanted = [
            attribute
            for attribute in SYSTEM_ATTRIBUTES
            if "All" in AttributeNames or attribute in AttributeNames
        ]
        received = [_message(message, wanted) for message in messages]
        return {"Messages": received} if received else {}

    def delete_message_batch(
        self, *, QueueUrl: str, Entries: list[dict[str, str]]
    ) -> dict[str, Any]:
        backend, name = self._queue(QueueUrl)
        with _as_client_error("DeleteMessageBatch"):
            deleted, failed = backend.delete_message_batch(name, Entries)
        return _batch_answer(deleted, failed)

    def change_message_visibility_batch(
        self, *, QueueUrl: str, Entries: list[dict[str, Any]]
    ) -> dict[str, Any]:
        backend, name = self._queue(QueueUrl)
        with _as_client_error("ChangeMessageVisibilityBatch"):
            changed, failed = backend.change_message_visibility_batch(name, Entries)
        return _batch_answer(changed, failed)

    def _backend(self, account: str) -> Any:
        from moto.sqs.models import sqs_backends

        return sqs_backends[account][self._region]

    def _queue(self, queue_url: str) -> tuple[Any, str]:
        account, _, name = urlsplit(queue_url).path.strip("/").partition("/")
        if not account or not name or "/" in name:
            raise _client_error(
                "SQS", "InvalidAddress", f"The address {queue_url} is not valid", 404
            )
        return self._backend(account), name


def _message(message: Any, wanted: list[str]) -> dict[str, Any]:
    """One message as boto3 returns it (moto's SQSResponse.receive_message, parsed)."""
    answer: dict[str, Any] = {
        "MessageId": message.id,
        "ReceiptHandle": message.receipt_handle,
        "MD5OfBody": message.body_md5,
        "Body": message.body,
    }
    if message.message_attributes:
        answer["MD5OfMessageAttributes"] = message.attribute_md5
        answer["MessageAttributes"] = message.message_attributes
    attributes = {}
    for attribute in wanted:
        value = _system_attribute(message, attribute)
        if value is not None:
            attributes[attribute] = value
    if wanted:
        answer["Attributes"] = attributes
    return answer


def _system_attribute(message: Any, attribute: str) -> str | None:
    if attribute == "AWSTraceHeader":
        header = (message.system_attributes or {}).get("AWSTraceHeader")
        return header.get("StringValue") if header else None
    value = {
        "ApproximateFirstReceiveTimestamp": message.approximate_first_receive_timestamp,
        "ApproximateReceiveCount": message.approximate_receive_count,
        "MessageDeduplicationId": message.deduplication_id,
        "MessageGroupId": message.group_id,
        "SenderId": message.sender_id,
        "SentTimestamp": message.sent_timestamp,
        "SequenceNumber": message.sequence_number,
    }[attribute]
    return None if value is None else str(value)


def _batch_answer(succeeded: list[str], failed: list[dict[str, Any]]) -> dict[str, Any]:
    answer: dict[str, Any] = {"Successful": [{"Id": entry} for entry in succeeded]}
    if failed:
        answer["Failed"] = failed
    return answer


@contextlib.contextmanager
def _as_client_error(operation: str) -> Iterator[None]:
    """Raise a moto error of the block as the ClientError botocore makes of its answer."""
    try:
        yield
    except ServiceException as error:  # SQS's own errors: all client errors, status 400
        raise _client_error(operation, error.code, error.message, 400) from None
    except RESTError as error:
        raise _client_error(operation, error.error_type, error.message, error.code) from None


def _client_error(operation: str, code: str, message: str, status: int) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": str(uuid.uuid4())},
        },
        operation,
    )
