"""The SQS event-source poller triggers functions the way Lambda's event source mapping does:
asynchronously, in batches, deleting only what succeeded, leaving the rest to SQS's redrive.

Everything is real: moto's server over HTTP (with its inline SQS -> Lambda mapping switched
off by the stack's own patches), the local Lambda runtime running the handler in a container
process, and the poller in between.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from serverless_testbed.embedded.lambda_runtime.code import FunctionCode
from serverless_testbed.embedded.lambda_runtime.runtime import FunctionConfig, LambdaRuntime
from serverless_testbed.embedded.sqs_poller import EventSourcePoller
from tests.integration.helpers import LAMBDA_TRUST_POLICY, wait_until, zip_of

REGION = "us-east-1"
HANDLER = "tests.integration.embedded.fixtures_handlers.sqs_batches.record_batch"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="module")
def inline_invokes_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("moto") / "inline-invokes.txt"
    path.touch()
    return path


@pytest.fixture
def inline_invokes(inline_invokes_file: Path) -> Callable[[], list[str]]:
    """Functions moto itself tried to run (it must never: the poller is the only trigger)."""
    return lambda: inline_invokes_file.read_text().split()


@pytest.fixture(scope="module")
def aws_url(inline_invokes_file: Path) -> Iterator[str]:
    """A patched moto server in its own process: moto's backends are process-wide, and the
    session's embedded stack (other tests) must neither see this module's mappings nor lose
    its Lambda invoker to this module's."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.embedded.patched_moto_server",
            inline_invokes_file,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        assert url.startswith("http://"), f"the patched moto server did not start ({url!r})"
        yield url
    finally:
        assert server.stdin is not None
        server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def clients(aws_url: str) -> dict[str, Any]:
    session = boto3.Session(region_name=REGION, **CREDENTIALS)
    return {s: session.client(s, endpoint_url=aws_url) for s in ("sqs", "lambda", "iam")}


@pytest.fixture(scope="module")
def role_arn(clients: dict[str, Any]) -> str:
    role = clients["iam"].create_role(
        RoleName="poller-test", AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST_POLICY)
    )
    return role["Role"]["Arn"]


@pytest.fixture(scope="module")
def runtime(aws_url: str) -> Iterator[LambdaRuntime]:
    environment = {"AWS_ENDPOINT_URL": aws_url, "AWS_REGION": REGION}
    with LambdaRuntime(environment) as runtime:
        yield runtime


@dataclass
class MappedQueue:
    """A queue (with a DLQ) mapped to a recording function, and the poller serving it."""

    sqs: Any
    lambda_client: Any
    queue_url: str
    dlq_url: str
    mapping_uuid: str
    records_dir: Path
    poller: EventSourcePoller

    def send(self, outcome: str = "ok", **extra: Any) -> str:
        body = json.dumps({"outcome": outcome, "id": uuid.uuid4().hex})
        return self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body, **extra)[
            "MessageId"
        ]

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted(self.records_dir.glob("*.json"))]

    def records(self) -> list[dict[str, Any]]:
        return [record for event in self.events() for record in event["Records"]]

    def counts(self, queue_url: str | None = None) -> tuple[int, int]:
        """(visible, in flight) messages of the queue (or of the DLQ)."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=queue_url or self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        )

    def stats(self) -> dict[str, int]:
        return self.poller.active_mappings()[self.mapping_uuid]

    def disable(self) -> None:
        """Disable the mapping, once its pollers have stopped."""
        self.lambda_client.update_event_source_mapping(UUID=self.mapping_uuid, Enabled=False)
        wait_until(
            lambda: self.poller.polling_threads(self.mapping_uuid) == 0,
            timeout_s=10,
            what="the pollers of the disabled mapping to stop",
        )

    def enable(self) -> None:
        """Enable the mapping, once its pollers have started."""
        self.lambda_client.update_event_source_mapping(UUID=self.mapping_uuid, Enabled=True)
        wait_until(
            lambda: self.poller.polling_threads(self.mapping_uuid) > 0,
            timeout_s=10,
            what="the pollers of the enabled mapping to start",
        )


@pytest.fixture
def mapped_queue(
    clients: dict[str, Any], role_arn: str, runtime: LambdaRuntime, tmp_path: Path
) -> Iterator[Callable[..., MappedQueue]]:
    created: list[MappedQueue] = []

    def create(
        *,
        visibility_timeout_s: int = 60,
        max_receive_count: int = 2,
        report_batch_item_failures: bool = False,
        batching_window_s: int = 0,
        pollers: int = 2,
        max_concurrency: int | None = None,
        reserved_concurrency: int | None = None,
    ) -> MappedQueue:
        sqs, lambda_client = clients["sqs"], clients["lambda"]
        name = f"t{uuid.uuid4().hex[:12]}"
        dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = _queue_arn(sqs, dlq_url)
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
        queue_url = sqs.create_queue(
            QueueName=name,
            Attributes={
                "VisibilityTimeout": str(visibility_timeout_s),
                "RedrivePolicy": json.dumps(redrive),
            },
        )["QueueUrl"]
        records_dir = tmp_path / name
        records_dir.mkdir()
        function = lambda_client.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=role_arn,
            Handler=HANDLER,
            Code={"ZipFile": _tiny_zip()},
            Timeout=30,
            Environment={"Variables": {"RECORD_DIR": str(records_dir)}},
        )
        runtime.register(
            FunctionConfig(
                name=function["FunctionName"],
                arn=function["FunctionArn"],
                handler=function["Handler"],
                timeout_s=float(function["Timeout"]),
                memory_mb=int(function["MemorySize"]),
                environment=function["Environment"]["Variables"],
                code=FunctionCode.of_package("tests.integration.embedded.fixtures_handlers"),
                reserved_concurrency=reserved_concurrency,
            )
        )
        scaling = {"ScalingConfig": {"MaximumConcurrency": max_concurrency}}
        mapping = lambda_client.create_event_source_mapping(
            EventSourceArn=_queue_arn(sqs, queue_url),
            FunctionName=name,
            BatchSize=10,
            MaximumBatchingWindowInSeconds=batching_window_s,
            FunctionResponseTypes=["ReportBatchItemFailures"] if report_batch_item_failures else [],
            **(scaling if max_concurrency else {}),
        )
        poller = EventSourcePoller(
            lambda_client=lambda_client,
            sqs_client=sqs,
            invoke=runtime.invoke,
            region=REGION,
            refresh_interval_s=0.2,
            pollers_per_mapping=pollers,
        )
        queue = MappedQueue(
            sqs, lambda_client, queue_url, dlq_url, mapping["UUID"], records_dir, poller
        )
        created.append(queue)
        poller.start()
        wait_until(
            lambda: poller.polling_threads(mapping["UUID"]) > 0,
            timeout_s=10,
            what="the poller to pick up the mapping",
        )
        return queue

    yield create
    for queue in created:
        queue.poller.stop()
        queue.lambda_client.delete_event_source_mapping(UUID=queue.mapping_uuid)


def _queue_arn(sqs: Any, queue_url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]


def _tiny_zip() -> bytes:
    # The runtime loads handlers by module path; moto only needs some code to store.
    return zip_of({"placeholder.py": ""})


def test_message_is_delivered_as_a_lambda_sqs_event_then_deleted(
    mapped_queue: Callable[..., MappedQueue], inline_invokes: Callable[[], list[str]]
):
    queue = mapped_queue()

    message_id = queue.send(
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "order"},
            "count": {"DataType": "Number", "StringValue": "3"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        }
    )

    (record,) = wait_until(queue.records, timeout_s=20, what="the function to get the message")
    wait_until(lambda: queue.counts() == (0, 0), timeout_s=20, what="the message to be deleted")
    assert record["messageId"] == message_id
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == _queue_arn(queue.sqs, queue.queue_url)
    assert record["awsRegion"] == REGION
    assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()
    assert record["receiptHandle"]
    assert json.loads(record["body"])["outcome"] == "ok"
    assert set(record["attributes"]) >= {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    }
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["kind"] == {
        "stringValue": "order",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert record["messageAttributes"]["count"]["dataType"] == "Number"
    assert record["messageAttributes"]["blob"]["binaryValue"] == "AAE="
    assert queue.stats()["deleted"] == 1
    assert inline_invokes() == []


def test_send_returns_before_the_function_runs(mapped_queue: Callable[..., MappedQueue]):
    queue = mapped_queue()

    message_id = queue.send("block")  # the handler blocks until the test releases it

    wait_until(
        lambda: (queue.records_dir / f"started-{message_id}").exists(),
        timeout_s=20,
        what="the function to start after SendMessage returned",
    )
    assert queue.counts() == (0, 1)  # received, in flight, not deleted while the function runs
    (queue.records_dir / "release").touch()
    wait_until(lambda: queue.counts() == (0, 0), timeout_s=20, what="the message to be deleted")


def test_partial_batch_failure_deletes_only_the_successful_messages(
    mapped_queue: Callable[..., MappedQueue],
):
    queue = mapped_queue(report_batch_item_failures=True, batching_window_s=1)

    entries = [
        {"Id": str(i), "MessageBody": json.dumps({"outcome": outcome})}
        for i, outcome in enumerate(["ok", "fail-item", "ok"])
    ]
    queue.sqs.send_message_batch(QueueUrl=queue.queue_url, Entries=entries)

    wait_until(
        lambda: queue.stats()["deleted"] + queue.stats()["returned"] == 3,
        timeout_s=20,
        what="all three messages to be processed",
    )
    assert queue.stats()["deleted"] == 2
    assert queue.stats()["returned"] == 1
    assert queue.counts() == (0, 1)  # the failed one waits for its visibility timeout


def test_batching_window_gathers_messages_sent_one_by_one(
    mapped_queue: Callable[..., MappedQueue],
):
    queue = mapped_queue(batching_window_s=3, pollers=1)

    sent = [queue.send() for _ in range(3)]  # well within the window

    wait_until(lambda: len(queue.records()) == 3, timeout_s=20, what="three deliveries")
    (event,) = queue.events()
    assert [record["messageId"] for record in event["Records"]] == sent


def test_invalid_batch_response_fails_the_whole_batch(mapped_queue: Callable[..., MappedQueue]):
    queue = mapped_queue(report_batch_item_failures=True)

    queue.send("bad-response")

    wait_until(lambda: queue.stats()["returned"] == 1, timeout_s=20, what="the batch to fail")
    assert queue.stats()["deleted"] == 0
    assert queue.counts() == (0, 1)


def test_function_error_keeps_the_messages(mapped_queue: Callable[..., MappedQueue]):
    queue = mapped_queue()

    queue.send("raise")

    wait_until(lambda: queue.stats()["function_errors"] == 1, timeout_s=20, what="the error")
    assert queue.stats()["deleted"] == 0
    assert queue.counts() == (0, 1)


def test_poison_message_ends_in_the_dead_letter_queue(mapped_queue: Callable[..., MappedQueue]):
    queue = mapped_queue(visibility_timeout_s=1, max_receive_count=2)

    queue.send("raise")

    wait_until(
        lambda: queue.counts(queue.dlq_url) == (1, 0),
        timeout_s=30,
        what="the poison message to reach the dead-letter queue",
    )
    assert queue.counts() == (0, 0)
    receive_counts = sorted(r["attributes"]["ApproximateReceiveCount"] for r in queue.records())
    assert receive_counts == ["1", "2"]


def test_disabled_mapping_stops_deliveries_and_enabling_resumes_them(
    mapped_queue: Callable[..., MappedQueue],
):
    queue = mapped_queue()
    queue.disable()

    message_id = queue.send()

    received = queue.sqs.receive_message(QueueUrl=queue.queue_url, WaitTimeSeconds=1)
    assert [m["MessageId"] for m in received["Messages"]] == [message_id]
    assert queue.records() == []
    queue.sqs.change_message_visibility(
        QueueUrl=queue.queue_url,
        ReceiptHandle=received["Messages"][0]["ReceiptHandle"],
        VisibilityTimeout=0,
    )
    queue.enable()
    (record,) = wait_until(queue.records, timeout_s=20, what="delivery after re-enabling")
    assert record["messageId"] == message_id


def test_stop_ends_every_poller_thread(mapped_queue: Callable[..., MappedQueue]):
    queue = mapped_queue()

    queue.poller.stop()

    assert queue.poller.polling_threads(queue.mapping_uuid) == 0


def _with_a_backlog(queue: MappedQueue, messages: int, outcome: str) -> None:
    """Send ``messages`` while the mapping is disabled, then enable it: its first receive finds
    them all waiting."""
    queue.disable()
    for _ in range(messages):
        queue.send(outcome)
    queue.enable()


def _started(queue: MappedQueue) -> int:
    return len(list(queue.records_dir.glob("started-*")))


def test_a_backlog_brings_more_pollers_which_leave_once_it_is_gone(
    mapped_queue: Callable[..., MappedQueue],
):
    queue = mapped_queue(pollers=1)
    _with_a_backlog(queue, 25, "block")  # each batch holds its poller until released

    # One poller holds at most one batch of 10: 25 at once takes three.
    try:
        wait_until(lambda: _started(queue) == 25, timeout_s=30, what="three batches at once")
        assert queue.poller.polling_threads(queue.mapping_uuid) == 3
    finally:
        (queue.records_dir / "release").touch()

    wait_until(lambda: queue.stats()["deleted"] == 25, timeout_s=30, what="every delete")
    wait_until(
        lambda: queue.poller.polling_threads(queue.mapping_uuid) == 1,
        timeout_s=10,
        what="the pollers the backlog brought to leave",
    )
    assert queue.counts() == (0, 0)


def test_maximum_concurrency_caps_the_pollers_a_backlog_brings(
    mapped_queue: Callable[..., MappedQueue],
):
    queue = mapped_queue(pollers=1, max_concurrency=2)
    _with_a_backlog(queue, 30, "block")

    try:
        wait_until(lambda: _started(queue) == 20, timeout_s=30, what="two batches at once")
        # The second poller asked for a third before invoking: none was started.
        assert queue.poller.polling_threads(queue.mapping_uuid) == 2
        assert queue.counts() == (10, 20)
    finally:
        (queue.records_dir / "release").touch()

    wait_until(lambda: queue.stats()["deleted"] == 30, timeout_s=30, what="every delete")


def test_no_poller_joins_while_the_function_throttles(mapped_queue: Callable[..., MappedQueue]):
    # One batch runs at a time; each poller past the second would hold one more batch back.
    queue = mapped_queue(pollers=1, reserved_concurrency=1)
    _with_a_backlog(queue, 80, "block")

    try:
        wait_until(lambda: queue.stats()["throttles"] >= 5, timeout_s=30, what="throttles")
        # The first poller runs its batch, the one it brought is throttled, and the one or two
        # that may have joined before that throttle was seen: not one per batch waiting (8).
        assert queue.poller.polling_threads(queue.mapping_uuid) <= 4
    finally:
        (queue.records_dir / "release").touch()

    wait_until(lambda: queue.stats()["deleted"] == 80, timeout_s=90, what="every delete")
    assert queue.counts(queue.dlq_url) == (0, 0)
