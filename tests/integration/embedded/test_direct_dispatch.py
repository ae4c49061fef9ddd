"""The direct dispatch of JSON-protocol calls (embedded/moto/dispatch.py), with cheroot_io's
reading and writing, answers what moto's own route on plain cheroot answers, byte for byte
but for the two values that differ on every answer (the request id moto draws, and the
Date), and still refuses requests not signed with the server's credentials.

Two real servers over sockets: one with both, one with neither. moto's backends are
process-wide, so both serve the same resources: one signed request, sent to each, must get
the same answer.
"""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from serverless_testbed.embedded.moto.server import MotoServer

CREDENTIALS = Credentials("AKIADIRECT0000000001", "the-direct-secret")
REGION = "us-east-1"
HOST = "127.0.0.1"
DIFFERS_EACH_TIME = {"x-amzn-requestid", "date"}
NAME = f"direct-{uuid.uuid4().hex[:8]}"
PASS_MACHINE = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


@dataclass(frozen=True)
class Answer:
    status_line: str
    headers: list[tuple[str, str]]  # in the order sent
    body: bytes

    def comparable(self) -> tuple[str, list[tuple[str, str]], bytes]:
        headers = [
            (name, "*" if name.lower() in DIFFERS_EACH_TIME else value)
            for name, value in self.headers
        ]
        return self.status_line, headers, self.body


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[MotoServer, MotoServer]]:
    # moto's route as cheroot alone serves it, against everything this project adds.
    moto_route = MotoServer(
        credentials=CREDENTIALS, direct_json_dispatch=False, lean_io=False
    ).start()
    direct = MotoServer(credentials=CREDENTIALS, direct_json_dispatch=True, lean_io=True).start()
    yield moto_route, direct
    direct.stop()
    moto_route.stop()


@pytest.fixture(scope="module")
def resources(servers: tuple[MotoServer, MotoServer]) -> dict[str, str]:
    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=servers[0].url,
            region_name=REGION,
            aws_access_key_id=CREDENTIALS.access_key,
            aws_secret_access_key=CREDENTIALS.secret_key,
            config=Config(retries={"max_attempts": 1}),
        )

    dynamodb, sqs, sfn = client("dynamodb"), client("sqs"), client("stepfunctions")
    dynamodb.create_table(
        TableName=NAME,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(TableName=NAME, Item={"pk": {"S": "run"}, "state": {"S": "DONE"}})
    queue_url = sqs.create_queue(QueueName=NAME)["QueueUrl"]
    machine = sfn.create_state_machine(name=NAME, definition=PASS_MACHINE, roleArn=_role())
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"]
    return {"queue_url": queue_url, "execution": execution}


def _role() -> str:
    return "arn:aws:iam::123456789012:role/direct-dispatch"


def _send(server: MotoServer, request: AWSRequest) -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(request.method, "/", body=request.body, headers=dict(request.headers))
        response = connection.getresponse()
        return Answer(
            f"{response.status} {response.reason}", response.getheaders(), response.read()
        )
    finally:
        connection.close()


def _signed(service: str, target: str, payload: dict[str, Any] | bytes) -> AWSRequest:
    """Signed for, and sent with, a Host without a port: the same bytes suit both servers."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    request = AWSRequest(
        method="POST",
        url=f"http://{HOST}/",
        data=body,
        headers={
            "Host": HOST,
            "X-Amz-Target": target,
            "Content-Type": "application/x-amz-json-1.0",
        },
    )
    SigV4Auth(CREDENTIALS, service, REGION).add_auth(request)
    return request


def _both(servers: tuple[MotoServer, MotoServer], request: AWSRequest) -> tuple[Answer, Answer]:
    return _send(servers[0], request), _send(servers[1], request)


CALLS: dict[str, tuple[str, str, Any]] = {
    # name: (signing service, X-Amz-Target, body: a dict, or a function of the resources)
    "describe_execution": (
        "states",
        "AWSStepFunctions.DescribeExecution",
        lambda r: {"executionArn": r["execution"]},
    ),
    "describe_missing_execution": (
        "states",
        "AWSStepFunctions.DescribeExecution",
        lambda r: {"executionArn": r["execution"] + "-missing"},
    ),
    "get_item": (
        "dynamodb",
        "DynamoDB_20120810.GetItem",
        {"TableName": NAME, "Key": {"pk": {"S": "run"}}, "ConsistentRead": True},
    ),
    "conditional_check_failed": (
        "dynamodb",
        "DynamoDB_20120810.UpdateItem",
        {
            "TableName": NAME,
            "Key": {"pk": {"S": "run"}},
            "UpdateExpression": "SET #s = :new",
            "ConditionExpression": "#s = :expected",
            "ExpressionAttributeNames": {"#s": "state"},
            "ExpressionAttributeValues": {":new": {"S": "AGAIN"}, ":expected": {"S": "NEW"}},
        },
    ),
    "missing_table": (
        "dynamodb",
        "DynamoDB_20120810.GetItem",
        {"TableName": NAME + "-missing", "Key": {"pk": {"S": "run"}}},
    ),
    "not_json": ("dynamodb", "DynamoDB_20120810.GetItem", b"{not json"),
    "get_queue_url": ("sqs", "AmazonSQS.GetQueueUrl", {"QueueName": NAME}),
    "missing_queue": ("sqs", "AmazonSQS.GetQueueUrl", {"QueueName": NAME + "-missing"}),
    "queue_attributes": (
        "sqs",
        "AmazonSQS.GetQueueAttributes",
        lambda r: {"QueueUrl": r["queue_url"], "AttributeNames": ["QueueArn"]},
    ),
    "unknown_action": ("sqs", "AmazonSQS.NoSuchAction", {}),
}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_direct_dispatch_answers_as_moto_does(
    servers: tuple[MotoServer, MotoServer], resources: dict[str, str], call: str
) -> None:
    service, target, payload = CALLS[call]
    body = payload(resources) if callable(payload) else payload
    via_moto, direct = _both(servers, _signed(service, target, body))
    assert direct.comparable() == via_moto.comparable()
    assert not direct.status_line.startswith("403")  # the signature was accepted


def test_the_answers_compared_include_errors(
    servers: tuple[MotoServer, MotoServer], resources: dict[str, str]
) -> None:
    # The comparison above would also pass if both servers failed alike: pin what moto says.
    service, target, payload = CALLS["conditional_check_failed"]
    direct = _send(servers[1], _signed(service, target, payload))
    assert direct.status_line == "400 BAD REQUEST"
    assert b"ConditionalCheckFailedException" in direct.body
    headers = {name.lower() for name, _ in direct.headers}
    assert {"x-amzn-requestid", "x-amz-crc32", "access-control-allow-origin"} <= headers
    _, target, payload = CALLS["describe_missing_execution"]
    missing = _send(servers[1], _signed("states", target, payload(resources)))
    assert missing.status_line == "400 BAD REQUEST"
    assert b"ExecutionDoesNotExist" in missing.body
    _, target, payload = CALLS["describe_execution"]
    found = _send(servers[1], _signed("states", target, payload(resources)))
    assert found.status_line == "200 OK"
    assert json.loads(found.body)["executionArn"] == resources["execution"]


@pytest.mark.parametrize(
    ("service", "target"),
    [
        ("dynamodb", "DynamoDB_20120810.ListTables"),
        ("states", "AWSStepFunctions.ListStateMachines"),
    ],
)
def test_direct_dispatch_still_refuses_unsigned_and_wrongly_signed_requests(
    servers: tuple[MotoServer, MotoServer], service: str, target: str
) -> None:
    unsigned = AWSRequest(
        method="POST",
        url=f"http://{HOST}/",
        data=b"{}",
        headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.0"},
    )
    refused = _send(servers[1], unsigned)
    assert refused.status_line == "403 Forbidden"
    assert dict(refused.headers)["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"

    forged = _signed(service, target, {})
    forged.headers.replace_header("X-Amz-Target", target.replace("List", "Describe"))
    refused = _send(servers[1], forged)  # a signed header changed after signing
    assert refused.status_line == "403 Forbidden"
    assert dict(refused.headers)["x-amzn-ErrorType"] == "InvalidSignatureException"
