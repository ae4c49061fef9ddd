"""The event-source poller's in-process SQS client (embedded/moto/in_process_sqs.py) answers
as a boto3 client of the stack's own server does: the same queue URL, attributes, messages,
batch results and errors, read from the same queues."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from serverless_testbed.embedded.moto.in_process_sqs import InProcessSqs
from serverless_testbed.embedded.stack import EmbeddedStack

ACCOUNT = "123456789012"
ALL = ["All"]
# Differ between two receives of one message: the second receive counts one more.
PER_RECEIVE = ("ReceiptHandle",)


@pytest.fixture
def sqs(embedded_stack: EmbeddedStack) -> Any:
    return embedded_stack.client("sqs")


@pytest.fixture
def direct(embedded_stack: EmbeddedStack) -> InProcessSqs:
    return InProcessSqs(embedded_stack.urls["aws"], embedded_stack.region)


@pytest.fixture
def new_queue(sqs: Any) -> Callable[..., str]:
    def create(fifo: bool = False) -> str:
        name = f"in-process-{uuid.uuid4().hex[:12]}" + (".fifo" if fifo else "")
        attributes = {"FifoQueue": "true"} if fifo else {}
        return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])

    return create


def without_metadata(answer: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in answer.items() if key != "ResponseMetadata"}


def error_of(call: Callable[[], Any]) -> tuple[str, int]:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"], raised.value.response["ResponseMetadata"][
        "HTTPStatusCode"
    ]


def receive(client: Any, url: str, attribute_names: list[str] = ALL) -> dict[str, Any]:
    return without_metadata(
        client.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            AttributeNames=attribute_names,
            MessageAttributeNames=ALL,
        )
    )


def receive_again_in_process(sqs: Any, direct: InProcessSqs, url: str, names: list[str]) -> tuple:
    """The message received through boto3, then (made visible again) in process."""
    through_boto3 = receive(sqs, url, names)
    handles = [m["ReceiptHandle"] for m in through_boto3["Messages"]]
    for handle in handles:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    in_process = receive(direct, url, names)
    return through_boto3, in_process


def comparable(answer: dict[str, Any]) -> list[dict[str, Any]]:
    messages = []
    for message in answer["Messages"]:
        kept = {k: v for k, v in message.items() if k not in PER_RECEIVE}
        if "ApproximateReceiveCount" in kept.get("Attributes", {}):
            kept["Attributes"] = {**kept["Attributes"], "ApproximateReceiveCount": "n"}
        messages.append(kept)
    return messages


def test_the_queue_url_is_the_one_boto3_gets(sqs: Any, direct: InProcessSqs, new_queue) -> None:
    url = new_queue()
    name = url.rsplit("/", 1)[1]

    answer = direct.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=ACCOUNT)

    assert answer == {"QueueUrl": url}


# moto's serializer warns that SQS's model names this error differently; the answer is right.
@pytest.mark.filterwarnings("ignore:Exception\\(QueueDoesNotExist\\)")
def test_an_unknown_queue_is_the_client_error_boto3_raises(sqs: Any, direct: InProcessSqs) -> None:
    name = f"missing-{uuid.uuid4().hex[:8]}"

    raised_in_process = error_of(
        lambda: direct.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=ACCOUNT)
    )

    assert raised_in_process == error_of(
        lambda: sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=ACCOUNT)
    )


def test_queue_attributes_are_the_strings_boto3_gets(
    sqs: Any, direct: InProcessSqs, new_queue
) -> None:
    url = new_queue()
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "7"})
    names = ["VisibilityTimeout", "MessageRetentionPeriod"]

    answer = direct.get_queue_attributes(QueueUrl=url, AttributeNames=names)

    assert answer == without_metadata(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names))
    assert answer["Attributes"]["VisibilityTimeout"] == "7"


def test_a_message_with_every_kind_of_attribute_is_received_as_boto3_receives_it(
    sqs: Any, direct: InProcessSqs, new_queue
) -> None:
    url = new_queue()
    sqs.send_message(
        QueueUrl=url,
        MessageBody='{"hello": "world"}',
        MessageAttributes={
            "text": {"DataType": "String", "StringValue": "value"},
            "count": {"DataType": "Number", "StringValue": "12"},
            "bytes": {"DataType": "Binary", "BinaryValue": b"\x00\x01binary"},
        },
        MessageSystemAttributes={
            "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5e1b4151-5ac6c58f"}
        },
    )

    through_boto3, in_process = receive_again_in_process(sqs, direct, url, ALL)

    assert comparable(in_process) == comparable(through_boto3)
    assert in_process["Messages"][0]["Attributes"]["ApproximateReceiveCount"] == "2"
    assert in_process["Messages"][0]["MessageAttributes"]["bytes"]["BinaryValue"] == (
        b"\x00\x01binary"
    )


def test_a_fifo_message_is_received_with_its_group_deduplication_and_sequence(
    sqs: Any, direct: InProcessSqs, new_queue
) -> None:
    url = new_queue(fifo=True)
    sqs.send_message(
        QueueUrl=url, MessageBody="first", MessageGroupId="g", MessageDeduplicationId="d1"
    )

    through_boto3, in_process = receive_again_in_process(sqs, direct, url, ALL)

    assert comparable(in_process) == comparable(through_boto3)
    assert {"MessageGroupId", "MessageDeduplicationId", "SequenceNumber"} <= set(
        in_process["Messages"][0]["Attributes"]
    )


def test_only_the_system_attributes_asked_for_are_returned(
    sqs: Any, direct: InProcessSqs, new_queue
) -> None:
    url = new_queue()
    sqs.send_message(QueueUrl=url, MessageBody="body")

    through_boto3, in_process = receive_again_in_process(sqs, direct, url, ["SentTimestamp"])

    assert comparable(in_process) == comparable(through_boto3)
    assert list(in_process["Messages"][0]["Attributes"]) == ["SentTimestamp"]


def test_an_empty_queue_answers_no_messages(sqs: Any, direct: InProcessSqs, new_queue) -> None:
    url = new_queue()

    assert receive(direct, url) == receive(sqs, url) == {}


def test_received_messages_stay_invisible_for_the_queues_visibility_timeout(
    sqs: Any, direct: InProcessSqs, new_queue
) -> None:
    url = new_queue()
    sqs.send_message(QueueUrl=url, MessageBody="once")

    assert len(receive(direct, url)["Messages"]) == 1
    assert receive(sqs, url) == {}


def test_a_batch_delete_deletes_and_reports_an_invalid_handle_as_boto3_does(
    sqs: Any, direct: InProcessSqs, new_queue
) -> None:
    url = new_queue()
    sqs.send_message(QueueUrl=url, MessageBody="to delete")
    handle = receive(direct, url)["Messages"][0]["ReceiptHandle"]
    entries = [{"Id": "0", "ReceiptHandle": handle}, {"Id": "1", "ReceiptHandle": "not-a-handle"}]

    answer = direct.delete_message_batch(QueueUrl=url, Entries=entries)

    assert answer["Successful"] == [{"Id": "0"}]
    bogus = [{"Id": "1", "ReceiptHandle": "not-a-handle"}]
    assert answer["Failed"] == sqs.delete_message_batch(QueueUrl=url, Entries=bogus)["Failed"]
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=ALL)["Attributes"][
        "ApproximateNumberOfMessagesNotVisible"
    ] == ("0")


def test_a_visibility_change_returns_messages_at_once_and_reports_failures_as_boto3_does(
    sqs: Any, direct: InProcessSqs, new_queue
) -> None:
    url = new_queue()
    sqs.send_message(QueueUrl=url, MessageBody="hand back")
    handle = receive(direct, url)["Messages"][0]["ReceiptHandle"]
    entries = [
        {"Id": "0", "ReceiptHandle": handle, "VisibilityTimeout": 0},
        {"Id": "1", "ReceiptHandle": "not-a-handle", "VisibilityTimeout": 0},
    ]

    answer = direct.change_message_visibility_batch(QueueUrl=url, Entries=entries)

    assert answer["Successful"] == [{"Id": "0"}]
    assert (
        answer["Failed"]
        == sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries[1:])["Failed"]
    )
    assert [m["Body"] for m in receive(sqs, url)["Messages"]] == ["hand back"]


def test_an_invalid_receive_is_refused_as_moto_refuses_it(
    sqs: Any, direct: InProcessSqs, new_queue
) -> None:
    url = new_queue()
    too_many = {
        "QueueUrl": url,
        "MaxNumberOfMessages": 11,
        "WaitTimeSeconds": 0,
        "AttributeNames": ALL,
        "MessageAttributeNames": ALL,
    }

    code, status = error_of(lambda: direct.receive_message(**too_many))

    assert (code, status) == error_of(lambda: sqs.receive_message(**too_many))
