"""The dispatcher's domain code (pipeline/dispatch.py) against SQS in moto."""

from __future__ import annotations

import json

import pytest

from serverless_testbed.pipeline.contract import (
    DISPATCHER_START,
    INJECTED_FAULT_ERROR,
    MESSAGE_SENT,
)
from serverless_testbed.pipeline.dispatch import InvalidDispatchEvent, dispatch
from serverless_testbed.pipeline.faults import InjectedFault
from tests.unit.pipeline.conftest import Aws, Queue
from tests.unit.pipeline.support import FakeClock

EVENT = {
    "task_token": "token-1",
    "execution": "arn:aws:states:us-east-1:123456789012:execution:pipeline:r1",
    "request": {"request_id": "r1", "payload": {"n": 1}},
}


def _queued(aws: Aws, queue: Queue) -> list[dict]:
    return aws.sqs.receive_message(
        QueueUrl=queue.url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", [])


def test_one_message_carries_the_token_the_request_and_the_dispatcher_timestamps(
    aws: Aws, queue: Queue, clock: FakeClock
) -> None:
    sent = dispatch(aws.sqs, queue.url, EVENT, started_ms=1000.0, clock=clock)

    (message,) = _queued(aws, queue)
    body = json.loads(message["Body"])
    assert body["task_token"] == "token-1"
    assert body["execution"] == EVENT["execution"]
    assert body["request"] == EVENT["request"]
    assert body["timestamps"][DISPATCHER_START] == 1000.0
    assert body["timestamps"][MESSAGE_SENT] > 1000.0
    assert message["MessageId"] == sent.message_id
    assert message["MessageAttributes"]["request_id"]["StringValue"] == "r1"


def test_a_dispatcher_fault_raises_injected_fault_and_sends_nothing(
    aws: Aws, queue: Queue, clock: FakeClock
) -> None:
    event = {**EVENT, "request": {**EVENT["request"], "fail_at": "dispatcher"}}

    with pytest.raises(InjectedFault, match="r1"):
        dispatch(aws.sqs, queue.url, event, started_ms=1.0, clock=clock)

    assert _queued(aws, queue) == []


def test_a_worker_fault_is_not_the_dispatchers_business(
    aws: Aws, queue: Queue, clock: FakeClock
) -> None:
    event = {**EVENT, "request": {**EVENT["request"], "fail_at": "worker"}}

    dispatch(aws.sqs, queue.url, event, started_ms=1.0, clock=clock)

    assert len(_queued(aws, queue)) == 1


@pytest.mark.parametrize(
    "event",
    [
        {"execution": "e", "request": {"request_id": "r"}},
        {"task_token": "", "request": {"request_id": "r"}},
        {"task_token": "t", "request": "not an object"},
        ["not", "an", "object"],
    ],
)
def test_an_event_without_token_or_request_is_refused_and_sends_nothing(
    aws: Aws, queue: Queue, clock: FakeClock, event: object
) -> None:
    with pytest.raises(InvalidDispatchEvent):
        dispatch(aws.sqs, queue.url, event, started_ms=1.0, clock=clock)  # type: ignore[arg-type]

    assert _queued(aws, queue) == []


def test_the_fault_exception_is_named_as_the_contract_says() -> None:
    # Lambda reports the exception's class name as errorType: Step Functions' error name.
    assert InjectedFault.__name__ == INJECTED_FAULT_ERROR
