"""Backend outcomes: what a DynamoDB response or error turns into (botocore Stubber, no network)."""

from __future__ import annotations

import boto3
from botocore.stub import Stubber

from serverless_testbed.stress.work.backends.dynamodb import DynamoDBBackend
from serverless_testbed.stress.work.expand import Operation


def backend() -> tuple[DynamoDBBackend, Stubber]:
    client = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return DynamoDBBackend(client, "stress-test"), Stubber(client)


def test_consumed_capacity_and_retry_attempts_are_read_from_the_response() -> None:
    dynamodb, stub = backend()
    stub.add_response(
        "update_item",
        {
            "ConsumedCapacity": {"TableName": "stress-test", "CapacityUnits": 2.0},
            "ResponseMetadata": {"RetryAttempts": 1},
        },
        {
            "TableName": "stress-test",
            "Key": {"pk": {"S": "k1"}},
            "UpdateExpression": "SET #c0 = :v0, #c1 = :v1",
            "ExpressionAttributeNames": {"#c0": "a", "#c1": "b"},
            "ExpressionAttributeValues": {":v0": {"S": "x"}, ":v1": {"B": b"\x01"}},
            "ReturnConsumedCapacity": "TOTAL",
        },
    )
    with stub:
        (outcome,) = dynamodb.execute([Operation(0, "updateItem", "k1", {"a": "x", "b": b"\x01"})])
    assert outcome.ok and outcome.capacity == 2.0 and outcome.retries == 1


def test_a_throttling_error_is_a_failure_of_that_kind() -> None:
    dynamodb, stub = backend()
    stub.add_client_error(
        "get_item",
        service_error_code="ProvisionedThroughputExceededException",
        http_status_code=400,
    )
    with stub:
        (outcome,) = dynamodb.execute([Operation(0, "getItem", "k1", None)])
    assert not outcome.ok
    assert outcome.error == "ProvisionedThroughputExceededException"


def test_throttled_attempts_seen_by_the_retry_hook_are_counted() -> None:
    dynamodb, _ = backend()
    dynamodb._throttled.count = 0
    throttled = (None, {"Error": {"Code": "ThrottlingException"}})
    dynamodb._count_throttle(response=throttled)
    dynamodb._count_throttle(response=(None, {"Error": {"Code": "ValidationException"}}))
    dynamodb._count_throttle(response=None)
    assert dynamodb._throttled.count == 1
