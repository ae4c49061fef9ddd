"""Receivers working one queue at once, through the stack's endpoint and the poller's
in-process client together, while more messages are sent: each message is received once,
every receive and delete answers, and no message sent meanwhile is lost."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from serverless_testbed.embedded.moto.in_process_sqs import InProcessSqs
from serverless_testbed.embedded.stack import EmbeddedStack

FIRST, LATER = 200, 200  # messages sent before the receivers start, and while they run
RECEIVERS = 6
DEADLINE_S = 60


def test_each_message_goes_to_one_receiver_and_none_sent_meanwhile_is_lost(
    embedded_stack: EmbeddedStack,
) -> None:
    sqs = embedded_stack.client("sqs")
    queue = sqs.create_queue(
        QueueName=f"receivers-{uuid.uuid4().hex[:12]}", Attributes={"VisibilityTimeout": "120"}
    )["QueueUrl"]
    in_process = InProcessSqs(embedded_stack.urls["aws"], embedded_stack.region)

    def send(first: int, count: int) -> None:
        for start in range(first, first + count, 10):
            entries = [{"Id": str(i), "MessageBody": f"m{i}"} for i in range(start, start + 10)]
            sqs.send_message_batch(QueueUrl=queue, Entries=entries)

    received: Counter[str] = Counter()
    failures: list[Any] = []
    lock = threading.Lock()
    deadline = time.monotonic() + DEADLINE_S

    def receive(receiver: int) -> None:
        client: Any = in_process if receiver % 2 else embedded_stack.client("sqs")
        while time.monotonic() < deadline:
            with lock:
                if sum(received.values()) >= FIRST + LATER:
                    return
            answer = client.receive_message(
                QueueUrl=queue,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                AttributeNames=[],
                MessageAttributeNames=[],
            )
            messages = answer.get("Messages", [])
            with lock:
                received.update(message["Body"] for message in messages)
            if messages:
                entries = [
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ]
                deleted = client.delete_message_batch(QueueUrl=queue, Entries=entries)
                with lock:
                    failures.extend(deleted.get("Failed", []))

    try:
        send(0, FIRST)
        with ThreadPoolExecutor(RECEIVERS + 1) as pool:
            receivers = [pool.submit(receive, i) for i in range(RECEIVERS)]
            pool.submit(send, FIRST, LATER).result()
            for receiver in receivers:
                receiver.result()
        left = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    finally:
        sqs.delete_queue(QueueUrl=queue)

    assert failures == []
    assert [body for body, times in received.items() if times > 1] == []
    assert set(received) == {f"m{i}" for i in range(FIRST + LATER)}
    assert (left["ApproximateNumberOfMessages"], left["ApproximateNumberOfMessagesNotVisible"]) == (
        "0",
        "0",
    )
