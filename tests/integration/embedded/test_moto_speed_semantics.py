"""What the DynamoDB, Step Functions and SQS speed patches (embedded/moto/speed/) touch, as a
client of the running embedded stack sees it: conditional updates pass and fail, validation
errors keep their text, executions are found (or not) among many, task tokens are checked,
and SQS receives wait, hide and show messages as before; SQS's errors keep the query-protocol
codes moto adds to botocore's model, so boto3 raises the modeled exception, as against AWS."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from serverless_testbed.embedded.stack import EmbeddedStack
from tests.integration.helpers import ended_execution, wait_until
from tests.state_machines import MAP_AND_PARALLEL

UPDATE = (
    "SET #status = :status, execution_arn = :execution, payload = :payload, "
    "message_id = :message_id, worker_start = :worker_start"
)
CONDITION = "attribute_not_exists(pk) OR (message_id = :message_id AND #status = :status)"
ROLE = "arn:aws:iam::123456789012:role/speed-semantics"


def error_of(call: Any, **parameters: Any) -> dict[str, str]:
    with pytest.raises(ClientError) as raised:
        call(**parameters)
    error: dict[str, str] = raised.value.response["Error"]
    return error


@pytest.fixture(scope="module")
def table(embedded_stack: EmbeddedStack) -> Iterator[str]:
    dynamodb = embedded_stack.client("dynamodb")
    name = f"speed-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield name
    dynamodb.delete_table(TableName=name)


def pipeline_update(dynamodb: Any, table: str, key: str, message_id: str, **extra: Any) -> Any:
    return dynamodb.update_item(
        TableName=table,
        Key={"pk": {"S": key}},
        UpdateExpression=UPDATE,
        ConditionExpression=CONDITION,
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={
            ":status": {"S": "DONE"},
            ":execution": {"S": f"arn:{message_id}"},
            ":payload": {"S": "{}"},
            ":message_id": {"S": message_id},
            ":worker_start": {"N": "1.25"},
        },
        **extra,
    )


def test_a_conditional_update_passes_once_per_message_and_fails_for_another(
    embedded_stack: EmbeddedStack, table: str
) -> None:
    dynamodb = embedded_stack.client("dynamodb")
    key = uuid.uuid4().hex

    first = pipeline_update(dynamodb, table, key, "m1", ReturnValues="ALL_NEW")
    again = pipeline_update(dynamodb, table, key, "m1", ReturnValues="UPDATED_OLD")
    other = error_of(
        pipeline_update,
        dynamodb=dynamodb,
        table=table,
        key=key,
        message_id="m2",
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )

    assert first["Attributes"]["message_id"] == {"S": "m1"}
    assert first["Attributes"]["worker_start"] == {"N": "1.25"}
    assert "Attributes" not in again  # nothing changed: no attribute was updated
    assert other["Code"] == "ConditionalCheckFailedException"
    assert other["Message"] == "The conditional request failed"
    stored = dynamodb.get_item(TableName=table, Key={"pk": {"S": key}})["Item"]
    assert stored["message_id"] == {"S": "m1"} and stored["execution_arn"] == {"S": "arn:m1"}


def test_one_expression_with_other_values_each_time_stores_each_value(
    embedded_stack: EmbeddedStack, table: str
) -> None:
    dynamodb = embedded_stack.client("dynamodb")
    key = uuid.uuid4().hex
    stored = []
    for value in ("1", "2", "3"):
        answer = dynamodb.update_item(
            TableName=table,
            Key={"pk": {"S": key}},
            UpdateExpression="SET n = :v, l = list_append(if_not_exists(l, :empty), :one)",
            ExpressionAttributeValues={
                ":v": {"N": value},
                ":empty": {"L": []},
                ":one": {"L": [{"N": value}]},
            },
            ReturnValues="ALL_NEW",
        )
        stored.append(answer["Attributes"])

    assert [item["n"] for item in stored] == [{"N": "1"}, {"N": "2"}, {"N": "3"}]
    assert stored[-1]["l"] == {"L": [{"N": "1"}, {"N": "2"}, {"N": "3"}]}


@pytest.mark.parametrize(
    ("expression", "values", "message"),
    [
        (
            "SET a = :v, a = :v",
            {":v": {"N": "1"}},
            "Invalid UpdateExpression: Two document paths overlap with each other; must remove "
            "or rewrite one of these paths; path one: [a], path two: [a]",
        ),
        (
            "SET pk = :v",
            {":v": {"S": "x"}},
            "One or more parameter values were invalid: Cannot update attribute pk. This "
            "attribute is part of the key",
        ),
        (
            "SET status = :v",
            {":v": {"N": "1"}},
            "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: "
            "status",
        ),
        (
            "SET a = :v SET b = :v",
            {":v": {"N": "1"}},
            'Invalid UpdateExpression: The "SET" section can only be used once in an update '
            "expression;",
        ),
        (
            "SET a = list_append(absent, :v)",
            {":v": {"L": []}},
            "The provided expression refers to an attribute that does not exist in the item",
        ),
        (
            "SET a = :v",
            {":v": {"N": "1"}, ":unused": {"N": "2"}},
            "Value provided in ExpressionAttributeValues unused in expressions: keys: {:unused}",
        ),
    ],
)
def test_a_bad_update_expression_is_refused_with_moto_s_message(
    embedded_stack: EmbeddedStack, table: str, expression: str, values: Any, message: str
) -> None:
    dynamodb = embedded_stack.client("dynamodb")

    error = error_of(
        dynamodb.update_item,
        TableName=table,
        Key={"pk": {"S": uuid.uuid4().hex}},
        UpdateExpression=expression,
        ExpressionAttributeValues=values,
    )

    assert error["Code"] == "ValidationException"
    assert message in error["Message"]


@pytest.fixture(scope="module")
def callback_machine(embedded_stack: EmbeddedStack) -> Iterator[tuple[str, str]]:
    """A state machine that sends its task token to a queue and waits for the callback."""
    sqs = embedded_stack.client("sqs")
    sfn = embedded_stack.client("stepfunctions")
    queue_url = sqs.create_queue(QueueName=f"speed-tokens-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    definition = {
        "StartAt": "Wait for callback",
        "States": {
            "Wait for callback": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {
                    "QueueUrl": queue_url,
                    "MessageBody": {"token.$": "$$.Task.Token", "input.$": "$"},
                },
                "TimeoutSeconds": 60,
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(
        name=f"speed-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]
    yield machine, queue_url
    sfn.delete_state_machine(stateMachineArn=machine)
    sqs.delete_queue(QueueUrl=queue_url)


def test_executions_are_found_among_many_and_a_missing_one_is_not(
    embedded_stack: EmbeddedStack,
) -> None:
    sfn = embedded_stack.client("stepfunctions")
    name = f"speed-pass-{uuid.uuid4().hex[:8]}"
    machine = sfn.create_state_machine(
        name=name,
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn=ROLE,
    )["stateMachineArn"]
    try:
        arns = [
            sfn.start_execution(stateMachineArn=machine, name=f"e{i}", input=json.dumps({"i": i}))[
                "executionArn"
            ]
            for i in range(30)
        ]
        described = [ended_execution(sfn, arn) for arn in arns]
        missing = arns[0].rsplit(":", 1)[0] + ":never-started"
        error = error_of(sfn.describe_execution, executionArn=missing)
        history_error = error_of(sfn.get_execution_history, executionArn=missing)
        history = sfn.get_execution_history(executionArn=arns[17])["events"]
    finally:
        sfn.delete_state_machine(stateMachineArn=machine)

    assert [d["executionArn"] for d in described] == arns
    assert [json.loads(d["output"]) for d in described] == [{"i": i} for i in range(30)]
    assert {d["status"] for d in described} == {"SUCCEEDED"}
    assert error["Code"] == history_error["Code"] == "ExecutionDoesNotExist"
    assert error["Message"] == f"Execution Does Not Exist: '{missing}'"
    assert history[0]["type"] == "ExecutionStarted" and history[-1]["type"] == "ExecutionSucceeded"


def test_a_task_token_completes_its_execution_and_a_bad_token_is_refused(
    embedded_stack: EmbeddedStack, callback_machine: tuple[str, str]
) -> None:
    sfn = embedded_stack.client("stepfunctions")
    sqs = embedded_stack.client("sqs")
    machine, queue_url = callback_machine
    arns = [
        sfn.start_execution(
            stateMachineArn=machine, name=f"n{n}-{uuid.uuid4().hex[:8]}", input=json.dumps({"n": n})
        )["executionArn"]
        for n in range(3)
    ]
    tokens: dict[int, str] = {}

    def all_tokens() -> bool:
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in answer.get("Messages", []):
            body = json.loads(message["Body"])
            tokens[body["input"]["n"]] = body["token"]
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(tokens) == 3

    wait_until(all_tokens, timeout_s=30, what="the three task tokens arrive")
    bad = error_of(sfn.send_task_success, taskToken="not-a-token", output="{}")
    bad_heartbeat = error_of(sfn.send_task_heartbeat, taskToken="not-a-token")
    for n in (2, 0, 1):
        sfn.send_task_success(taskToken=tokens[n], output=json.dumps({"answer": n}))
    ended = [ended_execution(sfn, arn) for arn in arns]
    used = error_of(sfn.send_task_success, taskToken=tokens[0], output="{}")

    assert bad["Code"] == bad_heartbeat["Code"] == "InvalidToken"
    assert [d["status"] for d in ended] == ["SUCCEEDED"] * 3
    assert [json.loads(d["output"]) for d in ended] == [{"answer": n} for n in range(3)]
    assert used["Code"] == "InvalidToken"  # its execution is no longer RUNNING


@pytest.fixture
def queue(embedded_stack: EmbeddedStack) -> Iterator[str]:
    sqs = embedded_stack.client("sqs")
    url: str = sqs.create_queue(QueueName=f"speed-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    yield url
    sqs.delete_queue(QueueUrl=url)


def test_a_long_poll_returns_a_message_sent_while_it_waits(
    embedded_stack: EmbeddedStack, queue: str
) -> None:
    import threading

    sqs = embedded_stack.client("sqs")
    sender = embedded_stack.client("sqs")
    answers: list[Any] = []
    polling = threading.Thread(
        target=lambda: answers.append(sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=10))
    )
    started = time.monotonic()
    polling.start()
    time.sleep(0.3)  # the poll is waiting when the message is sent (not a race: a later
    # start would only receive the message sooner)
    sender.send_message(QueueUrl=queue, MessageBody="while waiting")
    polling.join(timeout=15)
    waited = time.monotonic() - started

    assert [m["Body"] for m in answers[0]["Messages"]] == ["while waiting"]
    assert waited < 9, "the poll ended when the message came, not at WaitTimeSeconds"


def test_a_received_message_is_hidden_for_its_visibility_timeout_then_received_again(
    embedded_stack: EmbeddedStack, queue: str
) -> None:
    sqs = embedded_stack.client("sqs")
    sqs.send_message(QueueUrl=queue, MessageBody="once")

    first = sqs.receive_message(QueueUrl=queue, VisibilityTimeout=1)["Messages"]
    hidden = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0)
    again = sqs.receive_message(
        QueueUrl=queue, WaitTimeSeconds=5, AttributeNames=["ApproximateReceiveCount"]
    )["Messages"]
    empty_long_poll_started = time.monotonic()
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=again[0]["ReceiptHandle"])
    empty = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)
    empty_waited = time.monotonic() - empty_long_poll_started

    assert [m["Body"] for m in first] == ["once"]
    assert "Messages" not in hidden
    assert [m["Body"] for m in again] == ["once"]
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    assert "Messages" not in empty and empty_waited >= 0.9


def test_deleting_a_message_again_with_either_of_its_receipt_handles_succeeds(
    embedded_stack: EmbeddedStack, queue: str
) -> None:
    sqs = embedded_stack.client("sqs")
    sqs.send_message(QueueUrl=queue, MessageBody="twice")
    first = sqs.receive_message(QueueUrl=queue, VisibilityTimeout=0)["Messages"][0]
    second = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5)["Messages"][0]

    sqs.delete_message(QueueUrl=queue, ReceiptHandle=second["ReceiptHandle"])
    again = sqs.delete_message_batch(
        QueueUrl=queue,
        Entries=[
            {"Id": "first", "ReceiptHandle": first["ReceiptHandle"]},
            {"Id": "second", "ReceiptHandle": second["ReceiptHandle"]},
        ],
    )
    forged = error_of(sqs.delete_message, QueueUrl=queue, ReceiptHandle="not-a-handle")

    assert first["ReceiptHandle"] != second["ReceiptHandle"]
    assert sorted(entry["Id"] for entry in again["Successful"]) == ["first", "second"]
    assert forged["Code"] == "ReceiptHandleIsInvalid"


def test_sqs_errors_are_the_modeled_exceptions_with_their_query_codes(
    embedded_stack: EmbeddedStack,
) -> None:
    sqs = embedded_stack.client("sqs")
    name = f"speed-{uuid.uuid4().hex[:8]}"
    sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "5"})

    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as missing:
        sqs.get_queue_url(QueueName=name + "-missing")
    with pytest.raises(sqs.exceptions.QueueNameExists) as exists:
        sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "9"})

    assert missing.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert exists.value.response["Error"]["Code"] == "QueueAlreadyExists"
    assert [
        answer.response["ResponseMetadata"]["HTTPStatusCode"]
        for answer in (missing.value, exists.value)
    ] == [400, 400]


def test_executions_of_one_definition_running_at_once_each_compute_from_their_own_input(
    embedded_stack: EmbeddedStack,
) -> None:
    sfn = embedded_stack.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"speed-shared-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(MAP_AND_PARALLEL),
        roleArn=ROLE,
    )["stateMachineArn"]
    runs = range(16)
    try:
        arns = [
            sfn.start_execution(
                stateMachineArn=machine,
                input=json.dumps({"run": run, "items": [run * 10 + i for i in range(6)]}),
            )["executionArn"]
            for run in runs
        ]
        outputs = [json.loads(ended_execution(sfn, arn)["output"]) for arn in arns]
    finally:
        sfn.delete_state_machine(stateMachineArn=machine)

    assert outputs == [
        {
            "run": run,
            "items": [run * 10 + i for i in range(6)],
            "mapped": [{"value": run * 10 + i, "run": run} for i in range(6)],
            "branches": [{"run": run, "branch": "a"}, {"run": run, "branch": "b"}],
        }
        for run in runs
    ]
