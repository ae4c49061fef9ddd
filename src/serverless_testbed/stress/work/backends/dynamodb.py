"""The DynamoDB backend: boto3's low-level client, partition key ``pk`` (string).

The endpoint comes from boto3's own settings (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL,
config files); the region from AWS_REGION / AWS_DEFAULT_REGION if set, else config.json's
``region``. Every call asks for ReturnConsumedCapacity=TOTAL. Throttled attempts are counted
from botocore's retry hook (so throttles that a retry then hid still count); retries from the
response's RetryAttempts. Nothing is created unless ``create_table`` is called (--create-table).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from serverless_testbed.stress.work.backends import PARTITION_KEY
from serverless_testbed.stress.work.expand import Operation, Value
from serverless_testbed.stress.work.stats import Outcome

THROTTLE_CODES = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "Throttling",
    }
)


def region_for(config_region: str) -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or config_region


def dynamodb_client(config_region: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "dynamodb",
        region_name=region_for(config_region),
        config=Config(retries={"mode": "standard"}, max_pool_connections=64),
    )


def create_table(client: Any, table_name: str) -> bool:
    """Create ``table_name`` (pk: S, on demand) if it does not exist; True if created."""
    try:
        client.create_table(
            TableName=table_name,
            KeySchema=[{"AttributeName": PARTITION_KEY, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": PARTITION_KEY, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except client.exceptions.ResourceInUseException:
        return False
    client.get_waiter("table_exists").wait(TableName=table_name)
    return True


def attribute(value: Value) -> dict[str, Any]:
    return {"S": value} if isinstance(value, str) else {"B": value}


class DynamoDBBackend:
    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.table_name = table_name
        self._throttled = threading.local()
        client.meta.events.register("needs-retry.dynamodb", self._count_throttle)

    def execute(self, operations: Sequence[Operation]) -> list[Outcome]:
        return [self._one(operation) for operation in operations]

    def close(self) -> None:
        self.client.close()

    def _one(self, operation: Operation) -> Outcome:
        from botocore.exceptions import BotoCoreError, ClientError

        self._throttled.count = 0
        try:
            response = self._call(operation)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "ClientError")
            retries = error.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
            return Outcome(ok=False, error=code, throttles=self._throttled.count, retries=retries)
        except BotoCoreError as error:
            return Outcome(ok=False, error=type(error).__name__, throttles=self._throttled.count)
        capacity = response.get("ConsumedCapacity", {}).get("CapacityUnits", 0.0)
        return Outcome(
            ok=True,
            throttles=self._throttled.count,
            retries=response["ResponseMetadata"].get("RetryAttempts", 0),
            capacity=float(capacity),
        )

    def _call(self, operation: Operation) -> dict[str, Any]:
        key = {PARTITION_KEY: {"S": operation.key}}
        common = {"TableName": self.table_name, "ReturnConsumedCapacity": "TOTAL"}
        action = operation.action
        if action == "updateItem":
            item = operation.item or {}
            if not item:
                return self.client.update_item(Key=key, **common)
            names = {f"#c{n}": column for n, column in enumerate(item)}
            values = {f":v{n}": attribute(value) for n, value in enumerate(item.values())}
            expression = "SET " + ", ".join(f"#c{n} = :v{n}" for n in range(len(item)))
            return self.client.update_item(
                Key=key,
                UpdateExpression=expression,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                **common,
            )
        if action == "putItem":
            attributes = {name: attribute(value) for name, value in (operation.item or {}).items()}
            return self.client.put_item(Item={**attributes, **key}, **common)
        if action == "getItem":
            return self.client.get_item(Key=key, **common)
        if action == "deleteItem":
            return self.client.delete_item(Key=key, **common)
        if action == "query":
            return self.client.query(
                KeyConditionExpression="#pk = :pk",
                ExpressionAttributeNames={"#pk": PARTITION_KEY},
                ExpressionAttributeValues={":pk": {"S": operation.key}},
                **common,
            )
        raise ValueError(f"unknown action {action!r}")

    def _count_throttle(self, response: Any = None, **_: Any) -> None:
        if response is None:
            return None
        parsed = response[1] if isinstance(response, tuple) and len(response) > 1 else {}
        if (parsed or {}).get("Error", {}).get("Code") in THROTTLE_CODES:
            self._throttled.count = getattr(self._throttled, "count", 0) + 1
        return None
