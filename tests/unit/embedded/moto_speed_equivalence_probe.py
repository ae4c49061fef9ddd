"""Runs DynamoDB, Step Functions and SQS requests through moto's response classes, with
or without the service speed patches (embedded/moto/speed/{dynamodb,stepfunctions,sqs}.py;
every other speed patch applied), and prints the answers as JSON, for
test_moto_speed_equivalence.py to compare the two.

``python -m tests.unit.embedded.moto_speed_equivalence_probe with|without``: one process per
side, as the patches and moto's backends are process-wide.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

REGION = "us-east-1"
ACCOUNT = "123456789012"
SERVICE_MODULES = tuple(
    f"serverless_testbed.embedded.moto.speed.{name}"
    for name in ("dynamodb", "stepfunctions", "sqs")
)
# Volatile fields: differ between two runs of the same requests.
VOLATILE = {
    *("startDate", "stopDate", "timestamp", "creationDate", "CreationDateTime"),
    *("CreatedTimestamp", "LastModifiedTimestamp", "ReceiptHandle", "MessageId", "executionArn"),
    "SequenceNumber",  # random digits per FIFO message
}

Answer = dict[str, Any]


def dispatcher(response_class: Any, target_prefix: str, host: str) -> Callable[..., Answer]:
    from moto.core.exceptions import ServiceException
    from moto.moto_server.werkzeug_app import BackendRequest
    from werkzeug.exceptions import HTTPException
    from werkzeug.test import EnvironBuilder

    def call(action: str, body: dict[str, Any]) -> Answer:
        headers = [
            ("X-Amz-Target", f"{target_prefix}.{action}"),
            ("Content-Type", "application/x-amz-json-1.0"),
            ("Host", host),
            (
                "Authorization",
                f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/{REGION}/x/aws4_request, "
                "SignedHeaders=host, Signature=0",
            ),
        ]
        environ = EnvironBuilder(
            method="POST", path="/", headers=headers, data=json.dumps(body).encode()
        ).get_environ()
        request = BackendRequest(environ)
        try:
            status, _, payload = response_class.dispatch(
                request, f"http://{host}/", request.headers
            )
        except (HTTPException, ServiceException) as error:
            return {
                "error": type(error).__name__,
                "message": str(getattr(error, "message", None) or error.description or error),
                "item": getattr(error, "item", None),
            }
        except Exception as error:  # moto's own bugs answer 500: the same ones on both sides
            return {"error": type(error).__name__, "message": str(error)}
        text = payload.decode() if isinstance(payload, bytes) else payload
        return {"status": int(status), "body": scrub(json.loads(text) if text else {})}

    return call


def scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "*" if k in VOLATILE else scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def dynamodb_requests() -> list[Answer]:
    from moto.dynamodb.responses import DynamoHandler

    call = dispatcher(DynamoHandler, "DynamoDB_20120810", f"dynamodb.{REGION}.amazonaws.com")
    answers = [
        call(
            "CreateTable",
            {
                "TableName": "t",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST",
            },
        )
    ]

    def update(key: str, expression: str | None, **extra: Any) -> None:
        body: dict[str, Any] = {"TableName": "t", "Key": {"pk": {"S": key}}, **extra}
        if expression is not None:
            body["UpdateExpression"] = expression
        answers.append(call("UpdateItem", body))

    pipeline = (
        "SET #status = :status, execution_arn = :execution, payload = :payload, "
        "message_id = :message_id, worker_start = :worker_start"
    )
    condition = "attribute_not_exists(pk) OR (message_id = :message_id AND #status = :status)"

    def pipeline_values(message_id: str) -> dict[str, Any]:
        return {
            ":status": {"S": "DONE"},
            ":execution": {"S": "arn:x"},
            ":payload": {"S": "{}"},
            ":message_id": {"S": message_id},
            ":worker_start": {"N": "1.5"},
        }

    names = {"ExpressionAttributeNames": {"#status": "status"}}
    for message_id, returns in (("m1", "ALL_NEW"), ("m1", "UPDATED_OLD"), ("m2", "ALL_OLD")):
        update(
            "r1",
            pipeline,
            ConditionExpression=condition,
            ExpressionAttributeValues=pipeline_values(message_id),
            ReturnValues=returns,
            **names,
        )
    update(
        "r1",
        pipeline,
        ConditionExpression=condition,
        ExpressionAttributeValues=pipeline_values("m3"),
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
        **names,
    )
    one = {":v": {"N": "1"}}
    cases: list[tuple[str, dict[str, Any]]] = [
        (
            "SET n = :v, l = :l, s = :s, m = :m",
            {
                "ExpressionAttributeValues": {
                    ":v": {"N": "5"},
                    ":l": {"L": [{"N": "1"}, {"N": "2"}, {"N": "3"}, {"N": "4"}]},
                    ":s": {"SS": ["a", "b"]},
                    ":m": {"M": {"a": {"M": {}}}},
                },
                "ReturnValues": "ALL_NEW",
            },
        ),
        ("SET n = n + :v", {"ExpressionAttributeValues": one, "ReturnValues": "UPDATED_NEW"}),
        ("SET n = n - :v", {"ExpressionAttributeValues": one, "ReturnValues": "UPDATED_OLD"}),
        (
            "SET s2 = if_not_exists(s2, :v), n = if_not_exists(n, :v)",
            {"ExpressionAttributeValues": one, "ReturnValues": "ALL_NEW"},
        ),
        (
            "SET l = list_append(l, :l)",
            {"ExpressionAttributeValues": {":l": {"L": [{"S": "x"}]}}, "ReturnValues": "ALL_NEW"},
        ),
        (
            "SET missing = list_append(nothing, :l)",
            {"ExpressionAttributeValues": {":l": {"L": [{"S": "x"}]}}},
        ),
        ("SET l = list_append(n, :l)", {"ExpressionAttributeValues": {":l": {"L": []}}}),
        ("REMOVE l[0], l[2]", {"ReturnValues": "ALL_NEW"}),
        (
            "ADD n :v, s :s",
            {
                "ExpressionAttributeValues": {":v": {"N": "2"}, ":s": {"SS": ["c"]}},
                "ReturnValues": "ALL_NEW",
            },
        ),
        (
            "DELETE s :s",
            {"ExpressionAttributeValues": {":s": {"SS": ["a"]}}, "ReturnValues": "ALL_NEW"},
        ),
        ("SET m.a.b = :v", {"ExpressionAttributeValues": one, "ReturnValues": "ALL_NEW"}),
        ("SET m.x.y = :v", {"ExpressionAttributeValues": one}),
        (
            "SET #a = :undefined",
            {"ExpressionAttributeNames": {"#a": "a"}, "ExpressionAttributeValues": one},
        ),
        ("SET #undefined = :v", {"ExpressionAttributeValues": one}),
        ("SET a = :v", {"ExpressionAttributeValues": {":v": {"N": "1"}, ":unused": {"N": "2"}}}),
        ("SET pk = :v", {"ExpressionAttributeValues": {":v": {"S": "other"}}}),
        ("SET a = :v, a = :v", {"ExpressionAttributeValues": one}),
        ("SET a.b = :v, a = :v", {"ExpressionAttributeValues": one}),
        ("SET a = :v SET b = :v", {"ExpressionAttributeValues": one}),
        ("ADD a :v ADD b :v", {"ExpressionAttributeValues": one}),
        ("SET status = :v", {"ExpressionAttributeValues": one}),
        ("SET a = ", {}),
        ("SET s = s + :v", {"ExpressionAttributeValues": one}),
        ("SET a = :v", {"ExpressionAttributeValues": one, "ConditionExpression": "n > :w"}),
        (
            "SET a = :v",
            {
                "ExpressionAttributeValues": {":v": {"N": "1"}, ":w": {"N": "100"}},
                "ConditionExpression": "n > :w",
            },
        ),
        (
            "SET a = :v",
            {
                "ExpressionAttributeValues": {":v": {"N": "1"}, ":p": {"S": "x"}},
                "ConditionExpression": (
                    "attribute_exists(l) AND begins_with(pk, :p) AND size(l) > :v"
                ),
                "ReturnValues": "ALL_NEW",
            },
        ),
    ]
    for expression, extra in cases:
        update("r2", expression, **extra)
    for value in ("1", "2", "3"):  # one expression, other values each time: none kept
        update(
            "r3",
            "SET n = :v",
            ExpressionAttributeValues={":v": {"N": value}},
            ReturnValues="ALL_NEW",
        )
    update(
        "r4",
        "SET n = :v",
        ExpressionAttributeValues=one,
        ConditionExpression="attribute_exists(pk)",
    )
    update("r4", None, AttributeUpdates={"n": {"Action": "PUT", "Value": {"N": "1"}}})
    update("r4", "   ")
    answers.append(
        call(
            "PutItem",
            {
                "TableName": "t",
                "Item": {"pk": {"S": "r5"}},
                "ConditionExpression": "attribute_not_exists(pk)",
            },
        )
    )
    answers.append(
        call(
            "PutItem",
            {
                "TableName": "t",
                "Item": {"pk": {"S": "r5"}},
                "ConditionExpression": "attribute_not_exists(pk)",
            },
        )
    )
    answers.append(
        call(
            "TransactWriteItems",
            {
                "TransactItems": [
                    {
                        "Update": {
                            "TableName": "t",
                            "Key": {"pk": {"S": "r6"}},
                            "UpdateExpression": "SET n = :v",
                            "ConditionExpression": "attribute_not_exists(pk)",
                            "ExpressionAttributeValues": one,
                        }
                    },
                ]
            },
        )
    )
    answers.append(
        call(
            "TransactWriteItems",
            {
                "TransactItems": [
                    {
                        "Update": {
                            "TableName": "t",
                            "Key": {"pk": {"S": "r6"}},
                            "UpdateExpression": "SET n = :v",
                            "ConditionExpression": "attribute_not_exists(pk)",
                            "ExpressionAttributeValues": one,
                        }
                    },
                ]
            },
        )
    )
    answers.append(call("Scan", {"TableName": "t"}))
    return answers


def stepfunctions_requests() -> list[Answer]:
    from moto.core.config import default_user_config
    from moto.stepfunctions.responses import StepFunctionResponse

    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    call = dispatcher(StepFunctionResponse, "AWSStepFunctions", f"states.{REGION}.amazonaws.com")
    machine = call(
        "CreateStateMachine",
        {
            "name": "m",
            "definition": json.dumps(
                {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
            ),
            "roleArn": f"arn:aws:iam::{ACCOUNT}:role/r",
        },
    )
    arn = machine["body"]["stateMachineArn"]
    prefix = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:m:"
    answers = [machine]
    for name in ("e1", "e2", "e3"):
        answers.append(call("StartExecution", {"stateMachineArn": arn, "name": name}))
    deadline = time.monotonic() + 30
    while call("DescribeExecution", {"executionArn": prefix + "e3"})["body"]["status"] == "RUNNING":
        if time.monotonic() > deadline:
            raise SystemExit("the executions did not end within 30 s")
        time.sleep(0.01)
    for name in ("e1", "e3", "missing"):
        answers.append(call("DescribeExecution", {"executionArn": prefix + name}))
        answers.append(call("GetExecutionHistory", {"executionArn": prefix + name}))
    answers.append(
        call(
            "DescribeExecution",
            {"executionArn": f"arn:aws:states:{REGION}:{ACCOUNT}:execution:other:e1"},
        )
    )
    answers.append(call("DescribeExecution", {"executionArn": "not-an-arn"}))
    answers.append(call("SendTaskSuccess", {"taskToken": "no-such-token", "output": "{}"}))
    answers.append(call("SendTaskHeartbeat", {"taskToken": "no-such-token"}))
    answers.append(call("SendTaskFailure", {"taskToken": "no-such-token"}))
    answers.append(call("ListExecutions", {"stateMachineArn": arn}))
    # A name already used: ended (refused, whatever the input), or running (the same
    # execution again if the input is the same, refused if not).
    answers.append(call("StartExecution", {"stateMachineArn": arn, "name": "e2"}))
    answers.append(call("StartExecution", {"stateMachineArn": arn, "name": "e2", "input": "{}"}))
    waiting = call(
        "CreateStateMachine",
        {
            "name": "w",
            "definition": json.dumps(
                {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "End": True}}}
            ),
            "roleArn": f"arn:aws:iam::{ACCOUNT}:role/r",
        },
    )["body"]["stateMachineArn"]
    for start_input in ('{"a": 1}', '{"a": 1}', '{"a": 2}'):
        answers.append(
            call("StartExecution", {"stateMachineArn": waiting, "name": "x", "input": start_input})
        )
    answers.append(
        call(
            "DescribeExecution",
            {"executionArn": f"arn:aws:states:{REGION}:{ACCOUNT}:execution:w:x"},
        )
    )
    # Stopped once its interpreter waits: moto's StopExecution fails (None.set_stop) if it
    # comes before the execution's worker is set up, a moment that load can stretch.
    waiting_x = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:w:x"
    deadline = time.monotonic() + 30
    while "WaitStateEntered" not in {
        event["type"]
        for event in call("GetExecutionHistory", {"executionArn": waiting_x})["body"]["events"]
    }:
        if time.monotonic() > deadline:
            raise SystemExit("the waiting execution did not enter its Wait state within 30 s")
        time.sleep(0.01)
    answers.append(call("StopExecution", {"executionArn": waiting_x}))
    return answers


def sqs_requests() -> list[Answer]:
    from moto.sqs.models import sqs_backends
    from moto.sqs.responses import SQSResponse

    call = dispatcher(SQSResponse, "AmazonSQS", f"sqs.{REGION}.amazonaws.com")
    url = call("CreateQueue", {"QueueName": "q", "Attributes": {"MessageRetentionPeriod": "60"}})[
        "body"
    ]["QueueUrl"]
    answers = []
    for body in ("a", "b"):
        answers.append(call("SendMessage", {"QueueUrl": url, "MessageBody": body}))
    first = call("ReceiveMessage", {"QueueUrl": url, "VisibilityTimeout": 30})
    answers.append(first)
    answers.append(call("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10}))
    answers.append(call("ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 1}))  # none visible
    queue = sqs_backends[ACCOUNT][REGION].get_queue("q")
    for message in queue._messages:  # as if sent 61 s ago, visible again
        message.sent_timestamp -= 61_000
        message.visible_at = 0
    answers.append(call("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10}))
    answers.append(call("GetQueueAttributes", {"QueueUrl": url, "AttributeNames": ["All"]}))
    answers.extend(fifo_sends(call))
    return answers


def fifo_sends(call: Any) -> list[Answer]:
    """SendMessage's reads of ContentBasedDeduplication: deduplicated by content, refused
    without a deduplication id, accepted with one."""
    answers = []
    for deduplication in ("true", "false"):
        url = call(
            "CreateQueue",
            {
                "QueueName": f"content-{deduplication}.fifo",
                "Attributes": {"FifoQueue": "true", "ContentBasedDeduplication": deduplication},
            },
        )["body"]["QueueUrl"]
        for body in ("same", "same", "other"):
            answers.append(
                call("SendMessage", {"QueueUrl": url, "MessageBody": body, "MessageGroupId": "g"})
            )
        answers.append(call("SendMessage", {"QueueUrl": url, "MessageBody": "no group"}))
        answers.append(
            call(
                "SendMessage",
                {
                    "QueueUrl": url,
                    "MessageBody": "same",
                    "MessageGroupId": "g",
                    "MessageDeduplicationId": "d",
                },
            )
        )
        answers.append(call("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10}))
        answers.append(call("GetQueueAttributes", {"QueueUrl": url, "AttributeNames": ["All"]}))
    return answers


def main() -> None:
    from serverless_testbed.embedded.moto import speed

    service_patches = [
        applied
        for applied in speed.apply()
        if getattr(applied.new, "__module__", "") in SERVICE_MODULES
    ]
    if sys.argv[1] == "without":
        for applied in service_patches:
            applied.undo()
    json.dump(
        {
            "patches": sorted(applied.target for applied in service_patches if applied.applied),
            "dynamodb": dynamodb_requests(),
            "stepfunctions": stepfunctions_requests(),
            "sqs": sqs_requests(),
        },
        sys.stdout,
        default=str,
    )


if __name__ == "__main__":
    main()
