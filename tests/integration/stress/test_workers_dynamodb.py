"""`testbed worker --db dynamodb` against the embedded stack's DynamoDB (moto, over HTTP)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
import redis

from serverless_testbed.embedded.redis_server import RedisServer
from serverless_testbed.stress.work.backends.dynamodb import create_table
from serverless_testbed.stress.work.expand import Expander
from tests.integration.stress.worker_helpers import Workers, publish, specs, summed_totals

DATA = {"col_": {"r": 3, "len": 16}, "blob": 40, "note": "text"}


@pytest.fixture
def dynamodb_endpoint(embedded_stack: Any) -> str:
    return embedded_stack.urls["aws"]


@pytest.fixture
def credentials(embedded_stack: Any) -> dict[str, str]:
    return embedded_stack.credentials  # the stack's endpoint accepts no other


@pytest.fixture
def table_name() -> str:
    return f"stress-test-{uuid.uuid4().hex[:8]}"  # the stack lives for the whole session


def aws_env(endpoint: str, credentials: dict[str, str]) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL_DYNAMODB": endpoint, "AWS_REGION": "us-east-1", **credentials}


def test_the_dynamodb_backend_writes_the_expanded_items_and_counts_capacity(
    server: RedisServer,
    client: redis.Redis,
    workers: Workers,
    tmp_path: Path,
    dynamodb_endpoint: str,
    table_name: str,
    credentials: dict[str, str],
) -> None:
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=dynamodb_endpoint,
        region_name="us-east-1",
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
    )
    assert create_table(dynamodb, table_name)
    for _ in range(2):
        workers.start("--db", "dynamodb", env=aws_env(dynamodb_endpoint, credentials))
    config = {"table_name": table_name, "region": "eu-west-1", "threads": 2}
    traffic = [
        {"action": "updateItem", "seed": 11, "qps": 200, "times": 200, "data": DATA},
        [
            {"action": "getItem", "seed": 11, "qps": 100, "times": 50},
            {"action": "query", "seed": 11, "qps": 100, "times": 50},
        ],
        {"action": "deleteItem", "seed": 11, "qps": 100, "times": 20},
    ]
    summary = publish(server, tmp_path, config, traffic)

    assert summary["complete"] is True
    totals = summed_totals(client)
    for row in summary["tasks"]:
        assert row["executed"] == row["scheduled"] > 0, row
        assert totals[f"{row['task']}:consumed_capacity"] > 0
    (update,) = [s for s in specs(client).values() if s.action == "updateItem"]
    for operation in Expander(update).operations(20, 180):  # 0..19 were deleted after
        item = dynamodb.get_item(TableName=table_name, Key={"pk": {"S": operation.key}})["Item"]
        expected = {
            k: ({"S": v} if isinstance(v, str) else {"B": v}) for k, v in operation.item.items()
        }
        assert item == {"pk": {"S": operation.key}, **expected}
    assert dynamodb.scan(TableName=table_name, Select="COUNT")["Count"] == 180
    assert workers.stop_all() == [0, 0]
