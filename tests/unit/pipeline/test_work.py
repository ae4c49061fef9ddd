"""The worker's domain code (pipeline/work.py): one conditional write, one callback, against
moto's SQS, DynamoDB and a real execution of the project's state machine waiting for its token."""

from __future__ import annotations

import json
from typing import Any

import pytest

from serverless_testbed.pipeline.contract import (
    DISPATCHER_START,
    INJECTED_FAULT_ERROR,
    SQS_FIRST_RECEIVE,
    SQS_SENT,
    STAGE_TIMESTAMPS,
)
from serverless_testbed.pipeline.dispatch import dispatch
from serverless_testbed.pipeline.work import (
    CallbackNotDelivered,
    PoisonMessage,
    WorkOutcome,
    process_record,
)
from tests.integration.helpers import ended_execution
from tests.unit.pipeline.conftest import Aws, Queue, WaitingExecution, start_waiting_execution
from tests.unit.pipeline.support import (
    FakeClock,
    RecordingSfn,
    lambda_sqs_record,
    receive_records,
)


class Pipeline:
    """A waiting execution per request, its message in the queue, the worker's clients."""

    def __init__(self, aws: Aws, machine: str, queue: Queue, table: str, clock: FakeClock):
        self.aws, self.machine, self.queue, self.table, self.clock = (
            aws,
            machine,
            queue,
            table,
            clock,
        )
        self.sfn = RecordingSfn(aws.sfn)

    def deliver(self, request: dict[str, Any]) -> tuple[WaitingExecution, dict[str, Any]]:
        execution = start_waiting_execution(self.aws, self.machine, request)
        dispatch(
            self.aws.sqs,
            self.queue.url,
            execution.dispatcher_event,
            started_ms=self.clock.now_ms(),
            clock=self.clock,
        )
        (record,) = receive_records(self.aws.sqs, self.queue.url, self.queue.arn)
        return execution, record

    def work(self, record: dict[str, Any], table: str | None = None) -> WorkOutcome:
        return process_record(
            record,
            dynamodb=self.aws.dynamodb,
            sfn=self.sfn,
            table_name=table or self.table,
            clock=self.clock,
        )

    def ended(self, execution: WaitingExecution) -> dict[str, Any]:
        return ended_execution(self.aws.sfn, execution.arn, timeout_s=10, interval_s=0.005)

    def items(self) -> list[dict[str, Any]]:
        return self.aws.dynamodb.scan(TableName=self.table, ConsistentRead=True)["Items"]


@pytest.fixture
def pipeline(
    aws: Aws, pipeline_machine: str, queue: Queue, table: str, clock: FakeClock
) -> Pipeline:
    return Pipeline(aws, pipeline_machine, queue, table, clock)


def test_success_writes_once_and_sends_one_success_with_every_stage_timestamp(
    pipeline: Pipeline,
) -> None:
    execution, record = pipeline.deliver({"request_id": "ok-1", "payload": {"n": 1}})

    outcome = pipeline.work(record)

    assert outcome.kind == "succeeded"
    ((method, call),) = pipeline.sfn.calls
    assert method == "send_task_success"
    assert call["taskToken"] == execution.dispatcher_event["task_token"]
    output = json.loads(call["output"])
    assert output["request_id"] == "ok-1"
    assert output["execution"] == execution.arn
    assert output["queue"] == pipeline.queue.name
    assert output["message_id"] == record["messageId"]
    stamps = output["timestamps"]
    assert list(stamps) == list(STAGE_TIMESTAMPS)
    assert stamps[SQS_SENT] == float(record["attributes"]["SentTimestamp"])
    assert stamps[SQS_FIRST_RECEIVE] == float(
        record["attributes"]["ApproximateFirstReceiveTimestamp"]
    )
    clocked = [
        stamps[name] for name in STAGE_TIMESTAMPS if name not in (SQS_SENT, SQS_FIRST_RECEIVE)
    ]
    assert clocked == sorted(clocked) and stamps[DISPATCHER_START] > 0
    (item,) = pipeline.items()
    assert item["pk"] == {"S": "ok-1"}
    assert json.loads(item["payload"]["S"]) == {"n": 1}


def test_the_execution_output_is_the_worker_output(pipeline: Pipeline) -> None:
    execution, record = pipeline.deliver({"request_id": "shaped", "payload": {}})

    outcome = pipeline.work(record)

    described = pipeline.ended(execution)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == outcome.output


def test_a_redelivered_message_changes_the_table_once_and_sends_one_callback(
    pipeline: Pipeline,
) -> None:
    _, record = pipeline.deliver({"request_id": "twice", "payload": {}})
    first = pipeline.work(record)
    item_after_first = pipeline.items()

    second = pipeline.work({**record, "messageId": "redelivered-copy"})

    assert (first.kind, second.kind) == ("succeeded", "duplicate")
    assert [method for method, _ in pipeline.sfn.calls] == ["send_task_success"]
    assert pipeline.items() == item_after_first


def test_a_worker_fault_sends_a_task_failure_with_its_name_and_cause_and_writes_nothing(
    pipeline: Pipeline,
) -> None:
    execution, record = pipeline.deliver({"request_id": "doomed", "fail_at": "worker"})

    outcome = pipeline.work(record)

    assert outcome.kind == "failed"
    ((method, call),) = pipeline.sfn.calls
    assert method == "send_task_failure"
    assert call["error"] == INJECTED_FAULT_ERROR
    assert "doomed" in call["cause"] and "worker" in call["cause"]
    assert pipeline.ended(execution)["error"] == INJECTED_FAULT_ERROR
    assert pipeline.items() == []


def test_a_dynamodb_error_fails_the_task_with_the_prefixed_error_code(pipeline: Pipeline) -> None:
    execution, record = pipeline.deliver({"request_id": "no-table", "payload": {}})

    outcome = pipeline.work(record, table="missing-table")

    assert (outcome.kind, outcome.error) == ("failed", "DynamoDB.ResourceNotFoundException")
    ((method, call),) = pipeline.sfn.calls
    assert method == "send_task_failure"
    assert call["error"] == "DynamoDB.ResourceNotFoundException"
    assert call["cause"]
    assert pipeline.ended(execution)["error"] == "DynamoDB.ResourceNotFoundException"


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '{"request": {"request_id": "x"}}'])
def test_a_message_without_a_task_token_is_poison(pipeline: Pipeline, body: str) -> None:
    pipeline.aws.sqs.send_message(QueueUrl=pipeline.queue.url, MessageBody=body)
    (record,) = receive_records(pipeline.aws.sqs, pipeline.queue.url, pipeline.queue.arn)

    with pytest.raises(PoisonMessage):
        pipeline.work(record)

    assert pipeline.sfn.calls == []
    assert pipeline.items() == []


def test_a_message_with_a_token_but_no_request_id_fails_its_task(pipeline: Pipeline) -> None:
    execution = start_waiting_execution(
        pipeline.aws, pipeline.machine, {"request_id": "anonymous", "payload": {}}
    )
    body = {"task_token": execution.dispatcher_event["task_token"], "request": {}}
    message = {"MessageId": "m-1", "ReceiptHandle": "h", "Body": json.dumps(body)}

    outcome = pipeline.work(lambda_sqs_record(message, pipeline.queue.arn))

    assert (outcome.kind, outcome.error) == ("failed", "InvalidMessage")
    assert pipeline.ended(execution)["status"] == "FAILED"


@pytest.mark.parametrize("code", ["TaskTimedOut", "InvalidToken", "TaskDoesNotExist"])
def test_a_callback_for_a_token_that_is_gone_is_dropped(pipeline: Pipeline, code: str) -> None:
    _, record = pipeline.deliver({"request_id": f"late-{code}", "payload": {}})
    pipeline.sfn.refuse_with = code

    outcome = pipeline.work(record)

    assert (outcome.kind, outcome.error) == ("token_gone", code)


def test_an_undelivered_callback_is_retried_by_redelivery_and_then_applies_once(
    pipeline: Pipeline,
) -> None:
    execution, record = pipeline.deliver({"request_id": "throttled", "payload": {}})
    pipeline.sfn.refuse_with = "ThrottlingException"

    with pytest.raises(CallbackNotDelivered):
        pipeline.work(record)
    assert pipeline.items() == [], "this delivery's write is undone for the redelivery"

    pipeline.sfn.refuse_with = None
    assert pipeline.work(record).kind == "succeeded"
    assert len(pipeline.items()) == 1
    assert pipeline.ended(execution)["status"] == "SUCCEEDED"


def test_a_failed_failure_callback_is_retried_by_redelivery(pipeline: Pipeline) -> None:
    _, record = pipeline.deliver({"request_id": "fault-throttled", "fail_at": "worker"})
    pipeline.sfn.refuse_with = "ServiceUnavailable"

    with pytest.raises(CallbackNotDelivered):
        pipeline.work(record)


class _DiesBeforeItsCallback(RecordingSfn):
    """A worker process killed between its DynamoDB write and its callback."""

    def send_task_success(self, **kwargs: Any) -> Any:
        raise SystemExit("killed")


def test_a_delivery_that_died_after_its_write_is_called_back_by_the_redelivery(
    pipeline: Pipeline,
) -> None:
    execution, record = pipeline.deliver({"request_id": "died-mid-way", "payload": {}})
    with pytest.raises(SystemExit):
        process_record(
            record,
            dynamodb=pipeline.aws.dynamodb,
            sfn=_DiesBeforeItsCallback(pipeline.aws.sfn),
            table_name=pipeline.table,
            clock=pipeline.clock,
        )
    assert pipeline.items()[0]["status"] == {"S": "DONE"}

    redelivered = pipeline.work(record)  # SQS redelivers the same message (same id)

    assert redelivered.kind == "succeeded"
    assert pipeline.ended(execution)["status"] == "SUCCEEDED"
    assert len(pipeline.items()) == 1


def test_a_callback_refused_after_the_execution_ended_writes_its_end_on_the_item(
    pipeline: Pipeline,
) -> None:
    execution, record = pipeline.deliver({"request_id": "too-late", "payload": {}})
    # The execution ended without this delivery (as by its heartbeat timeout).
    pipeline.aws.sfn.send_task_failure(
        taskToken=execution.dispatcher_event["task_token"],
        error="WorkerTimeout",
        cause="worker: no callback",
    )
    assert pipeline.ended(execution)["status"] == "FAILED"
    pipeline.sfn.refuse_with = "TaskTimedOut"

    outcome = pipeline.work(record)

    assert (outcome.kind, outcome.error) == ("token_gone", "TaskTimedOut")
    assert "the item now says FAILED" in str(outcome.cause)
    (item,) = pipeline.items()
    assert item["status"] == {"S": "FAILED"}
    assert item["execution_error"] == {"S": "WorkerTimeout"}

    again = pipeline.work(record)  # one more redelivery of the same message

    assert again.kind == "duplicate"
    assert pipeline.items() == [item], "a reconciled item is never set back to DONE"


def test_a_refused_callback_of_another_messages_item_leaves_that_item_alone(
    pipeline: Pipeline,
) -> None:
    execution, record = pipeline.deliver({"request_id": "theirs", "payload": {}})
    assert pipeline.work(record).kind == "succeeded"
    pipeline.ended(execution)

    copy = pipeline.work({**record, "messageId": "a-copy"})

    assert copy.kind == "duplicate"
    assert pipeline.items()[0]["status"] == {"S": "DONE"}
