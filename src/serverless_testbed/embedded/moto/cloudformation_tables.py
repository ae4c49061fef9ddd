"""CloudFormation's DynamoDB tables made where DynamoDB is served.

When the embedded stack serves DynamoDB from a child process (``service_process.py``), moto's
CloudFormation in the stack's process would still create an ``AWS::DynamoDB::Table`` in its
own DynamoDB backend, which no request reaches any more: every DynamoDB call is forwarded to
the child. While ``set_table_client`` holds a client of the child, the table is created
(CreateTable) and deleted (DeleteTable) there instead; the resource CloudFormation keeps is
moto's own ``Table`` object, built as before but not kept in the local backend, so ``Ref``
and ``GetAtt Arn`` resolve as they did. Without a client, moto's behaviour is unchanged.
"""

from __future__ import annotations

import contextlib
from typing import Any

from serverless_testbed.embedded.moto.patching import Patch, replace

# CreateTable parameters that a table resource's properties carry under the same name.
SAME_NAME_PROPERTIES = (
    "KeySchema",
    "AttributeDefinitions",
    "BillingMode",
    "ProvisionedThroughput",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "Tags",
    "DeletionProtectionEnabled",
)

_table_client: Any = None


def set_table_client(client: Any) -> None:
    """A boto3 DynamoDB client of the server that holds the tables (None: moto's own)."""
    global _table_client
    _table_client = client


def apply() -> list[Patch]:
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.table import Table

    original_create = Table.create_from_cloudformation_json
    original_delete = Table.delete_from_cloudformation_json

    def create(
        cls: type,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        table = original_create(
            resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        client = _table_client
        if client is None:
            return table
        dynamodb_backends[account_id][region_name].tables.pop(table.name, None)
        created = client.create_table(
            TableName=table.name, **create_table_parameters(cloudformation_json["Properties"])
        )["TableDescription"]
        if created.get("LatestStreamLabel"):  # GetAtt StreamArn names the child's stream
            table.latest_stream_label = created["LatestStreamLabel"]
        return table

    def delete(
        cls: type,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        client = _table_client
        if client is None:
            original_delete(resource_name, cloudformation_json, account_id, region_name)
            return
        with contextlib.suppress(client.exceptions.ResourceNotFoundException):
            client.delete_table(TableName=resource_name)

    return [
        replace(Table, "create_from_cloudformation_json", classmethod(create)),
        replace(Table, "delete_from_cloudformation_json", classmethod(delete)),
    ]


def create_table_parameters(properties: dict[str, Any]) -> dict[str, Any]:
    """CreateTable's parameters for an ``AWS::DynamoDB::Table``'s properties."""
    parameters = {name: properties[name] for name in SAME_NAME_PROPERTIES if name in properties}
    stream = properties.get("StreamSpecification")
    if stream:
        parameters["StreamSpecification"] = {"StreamEnabled": True, **stream}
    sse = properties.get("SSESpecification")
    if sse:
        renamed = {"Enabled": bool(sse.get("SSEEnabled"))}
        parameters["SSESpecification"] = {
            **renamed,
            **{k: v for k, v in sse.items() if k in ("SSEType", "KMSMasterKeyId")},
        }
    return parameters
