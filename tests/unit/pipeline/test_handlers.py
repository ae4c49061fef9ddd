"""The three Lambda entry points with their clients injected (settings objects), against moto.

The callback chain runs for real here: the api handler starts the project's state machine and
waits; the test plays Lambda's part, invoking the dispatcher handler with the payload Step
Functions built and the worker handler with the SQS event the queue delivers."""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
from typing import Any

import pytest

from serverless_testbed.handlers import api, dispatcher, worker
from serverless_testbed.pipeline.clock import SYSTEM_CLOCK
from serverless_testbed.pipeline.contract import INJECTED_FAULT_ERROR, STAGE_TIMESTAMPS
from serverless_testbed.pipeline.execution import execution_arn_of
from serverless_testbed.pipeline.faults import InjectedFault
from tests.unit.pipeline.conftest import (
    Aws,
    Queue,
    dispatcher_event_once_waiting,
    stop_once_waiting,
)
from tests.unit.pipeline.support import FakeClock, StartSignallingSfn, receive_records


def http_event(body: str | bytes | None, *, base64_encoded: bool = False) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event for POST /run."""
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "POST /run",
        "rawPath": "/dev/run",
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": "POST", "path": "/dev/run"},
            "stage": "dev",
            "routeKey": "POST /run",
        },
        "isBase64Encoded": base64_encoded,
    }
    if body is not None:
        raw = body.encode() if isinstance(body, str) else body
        event["body"] = base64.b64encode(raw).decode() if base64_encoded else raw.decode()
    return event


def body_of(response: dict[str, Any]) -> dict[str, Any]:
    assert response["headers"]["content-type"] == "application/json"
    return json.loads(response["body"])


class Settings:
    def __init__(self, aws: Aws, machine: str, queue: Queue, table: str) -> None:
        self.aws = aws
        self.api = api.ApiSettings(sfn=aws.sfn, state_machine_arn=machine, deadline_s=10)
        self.dispatcher = dispatcher.DispatcherSettings(sqs=aws.sqs, queue_url=queue.url)
        self.worker = worker.WorkerSettings(dynamodb=aws.dynamodb, sfn=aws.sfn, table_name=table)
        self.machine, self.queue = machine, queue

    def executions(self) -> list[dict[str, Any]]:
        return self.aws.sfn.list_executions(stateMachineArn=self.machine)["executions"]


@pytest.fixture
def settings(aws: Aws, pipeline_machine: str, queue: Queue, table: str) -> Settings:
    return Settings(aws, pipeline_machine, queue, table)


def call_api_while_playing_lambda(settings: Settings, body: dict[str, Any]) -> dict[str, Any]:
    """POST /run through the api handler; meanwhile invoke the dispatcher with what Step
    Functions scheduled and the worker with what the queue holds, as Lambda would."""
    answer: dict[str, Any] = {}
    sfn = StartSignallingSfn(settings.aws.sfn)
    api_settings = dataclasses.replace(settings.api, sfn=sfn)
    caller = threading.Thread(
        target=lambda: answer.update(api.handle(http_event(json.dumps(body)), api_settings))
    )
    caller.start()
    assert sfn.started.wait(timeout=10), "the api started no execution"
    execution_arn = execution_arn_of(settings.machine, body["request_id"])
    payload = dispatcher_event_once_waiting(settings.aws, execution_arn)
    dispatcher.handle(payload, settings.dispatcher)
    records = receive_records(settings.aws.sqs, settings.queue.url, settings.queue.arn)
    assert worker.handle({"Records": records}, settings.worker) == {"batchItemFailures": []}
    caller.join(timeout=10)
    return answer


# -- api -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "status"),
    [
        (None, 400),
        ("{not json", 400),
        ('["a", "list"]', 400),
        ('{"payload": "not an object"}', 400),
        ('{"request_id": "has spaces in it"}', 400),
        ('{"fail_at": "nowhere"}', 400),
        ('{"surprise": 1}', 400),
        (json.dumps({"payload": {"blob": "x" * 40_000}}), 413),
    ],
)
def test_a_bad_body_gets_a_4xx_naming_the_problem_and_starts_nothing(
    settings: Settings, body: str | None, status: int
) -> None:
    response = api.handle(http_event(body), settings.api)

    assert response["statusCode"] == status
    answer = body_of(response)
    assert answer["error"] in ("InvalidRequest", "RequestTooLarge")
    assert answer["message"]
    assert settings.executions() == []


def test_a_base64_encoded_body_is_decoded(settings: Settings) -> None:
    response = api.handle(http_event(b'{"surprise": 1}', base64_encoded=True), settings.api)

    assert "surprise" in body_of(response)["message"]


def test_a_run_answers_200_with_the_worker_output_and_the_api_timestamps(
    settings: Settings,
) -> None:
    response = call_api_while_playing_lambda(settings, {"request_id": "ok", "payload": {"n": 1}})

    assert response["statusCode"] == 200
    answer = body_of(response)
    assert (answer["request_id"], answer["status"]) == ("ok", "SUCCEEDED")
    assert answer["execution_arn"] == settings.executions()[0]["executionArn"]
    output = answer["output"]
    assert output["request_id"] == "ok"
    assert output["queue"] == settings.queue.name
    assert set(output["timestamps"]) == set(STAGE_TIMESTAMPS)
    stamps = answer["api"]
    assert stamps["received"] <= stamps["execution_started"] <= stamps["execution_done"]


def test_a_worker_fault_answers_502_with_the_error_name(settings: Settings) -> None:
    response = call_api_while_playing_lambda(settings, {"request_id": "bad", "fail_at": "worker"})

    assert response["statusCode"] == 502
    answer = body_of(response)
    assert (answer["status"], answer["error"]) == ("FAILED", INJECTED_FAULT_ERROR)
    # In-process moto drops SendTaskFailure's cause (the embedded stack patches that); the
    # cause's path to the body is covered by the next test.
    assert "cause" in answer


def test_a_failed_execution_answers_502_with_error_and_cause(aws: Aws) -> None:
    definition = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E", "Cause": "C"}}}
    machine = aws.sfn.create_state_machine(
        name="fails", definition=json.dumps(definition), roleArn=aws.role_arn
    )["stateMachineArn"]
    settings = api.ApiSettings(sfn=aws.sfn, state_machine_arn=machine, deadline_s=10)

    response = api.handle(http_event('{"request_id": "f"}'), settings)

    assert response["statusCode"] == 502
    assert body_of(response) | {"execution_arn": "-"} == {
        "request_id": "f",
        "execution_arn": "-",
        "status": "FAILED",
        "error": "E",
        "cause": "C",
    }


def test_an_execution_past_the_deadline_answers_504(settings: Settings) -> None:
    clock = FakeClock()
    slow = api.ApiSettings(
        sfn=settings.aws.sfn, state_machine_arn=settings.machine, deadline_s=3, clock=clock
    )

    response = api.handle(http_event('{"request_id": "slow"}'), slow)

    assert response["statusCode"] == 504
    answer = body_of(response)
    assert (answer["status"], answer["error"]) == ("RUNNING", "ExecutionDeadlineExceeded")
    assert "3 s" in answer["cause"]
    stop_once_waiting(settings.aws, answer["execution_arn"])


def test_the_deadline_leaves_time_to_answer_before_the_function_times_out(
    settings: Settings,
) -> None:
    clock = FakeClock()
    slow = api.ApiSettings(
        sfn=settings.aws.sfn, state_machine_arn=settings.machine, deadline_s=25, clock=clock
    )

    response = api.handle(http_event('{"request_id": "short"}'), slow, remaining_s=3.0)

    assert response["statusCode"] == 504
    assert sum(clock.sleeps) == pytest.approx(3.0 - api.RESPONSE_MARGIN_S)
    stop_once_waiting(settings.aws, body_of(response)["execution_arn"])


def test_a_request_id_reused_with_another_input_answers_409(aws: Aws) -> None:
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    machine = aws.sfn.create_state_machine(
        name="passes", definition=json.dumps(definition), roleArn=aws.role_arn
    )["stateMachineArn"]
    settings = api.ApiSettings(sfn=aws.sfn, state_machine_arn=machine, deadline_s=10)
    first = api.handle(http_event('{"request_id": "same", "payload": {"a": 1}}'), settings)

    second = api.handle(http_event('{"request_id": "same", "payload": {"a": 2}}'), settings)

    assert first["statusCode"] == 200
    assert second["statusCode"] == 409
    assert body_of(second)["error"] == "ExecutionAlreadyExists"
    assert len(aws.sfn.list_executions(stateMachineArn=machine)["executions"]) == 1


# -- dispatcher ------------------------------------------------------------------------------
def test_the_dispatcher_sends_the_message_and_returns_its_id(settings: Settings) -> None:
    event = {"task_token": "t", "execution": "e", "request": {"request_id": "r", "payload": {}}}

    returned = dispatcher.handle(event, settings.dispatcher)

    (record,) = receive_records(settings.aws.sqs, settings.queue.url, settings.queue.arn)
    assert returned == {"message_id": record["messageId"], "request_id": "r"}


def test_a_dispatcher_fault_propagates_as_a_function_error(settings: Settings) -> None:
    event = {
        "task_token": "t",
        "execution": "e",
        "request": {"request_id": "r", "fail_at": "dispatcher"},
    }

    with pytest.raises(InjectedFault):
        dispatcher.handle(event, settings.dispatcher)

    assert receive_records(settings.aws.sqs, settings.queue.url, settings.queue.arn) == []


# -- worker ----------------------------------------------------------------------------------
def test_the_worker_reports_only_poison_records_as_batch_item_failures(
    settings: Settings,
) -> None:
    sqs, queue = settings.aws.sqs, settings.queue
    sqs.send_message(QueueUrl=queue.url, MessageBody="poison")
    sqs.send_message(
        QueueUrl=queue.url,
        MessageBody=json.dumps({"task_token": "gone", "request": {"request_id": "late"}}),
    )
    records = receive_records(sqs, queue.url, queue.arn)
    poison_id = next(r["messageId"] for r in records if r["body"] == "poison")

    response = worker.handle({"Records": records}, settings.worker)

    # The second record's token is unknown to Step Functions (InvalidToken): dropped, done.
    assert response == {"batchItemFailures": [{"itemIdentifier": poison_id}]}


def test_an_all_poison_batch_is_answered_not_raised(settings: Settings) -> None:
    settings.aws.sqs.send_message(QueueUrl=settings.queue.url, MessageBody="poison")
    records = receive_records(settings.aws.sqs, settings.queue.url, settings.queue.arn)

    response = worker.handle({"Records": records}, settings.worker)

    assert response == {"batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]}


def test_a_duplicate_record_counts_as_done(settings: Settings) -> None:
    settings.aws.dynamodb.put_item(TableName=settings.worker.table_name, Item={"pk": {"S": "seen"}})
    body = {"task_token": "t", "request": {"request_id": "seen"}}
    settings.aws.sqs.send_message(QueueUrl=settings.queue.url, MessageBody=json.dumps(body))
    records = receive_records(settings.aws.sqs, settings.queue.url, settings.queue.arn)

    assert worker.handle({"Records": records}, settings.worker) == {"batchItemFailures": []}


# -- the Lambda entry points themselves --------------------------------------------------------
def test_settings_come_from_the_environment_the_template_sets(
    monkeypatch: pytest.MonkeyPatch, aws: Aws
) -> None:
    monkeypatch.setenv("STATE_MACHINE_ARN", "arn:aws:states:us-east-1:123456789012:stateMachine:x")
    monkeypatch.setenv("EXECUTION_DEADLINE_SECONDS", "7")
    monkeypatch.setenv("QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/q")
    monkeypatch.setenv("TABLE_NAME", "t")

    assert api.ApiSettings.from_environment().deadline_s == 7
    assert dispatcher.DispatcherSettings.from_environment().queue_url.endswith("/q")
    assert worker.WorkerSettings.from_environment().table_name == "t"
    assert api.ApiSettings.from_environment().clock is SYSTEM_CLOCK


def test_a_missing_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUEUE_URL", raising=False)

    with pytest.raises(RuntimeError, match="QUEUE_URL"):
        dispatcher.DispatcherSettings.from_environment()
