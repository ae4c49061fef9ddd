"""CloudFormation's DynamoDB tables made, updated and deleted where DynamoDB is served.

When the embedded stack serves DynamoDB from a child process (``service_process.py``), moto's
CloudFormation in the stack's process would still create an ``AWS::DynamoDB::Table`` in its
own DynamoDB backend, which no request reaches any more: every DynamoDB call is forwarded to
the child. While ``set_table_client`` holds a client of the child, the table is created
(CreateTable) and deleted (DeleteTable) there instead; the resource CloudFormation keeps is
moto's own ``Table`` object, built as before but not kept in the local backend, so ``Ref``
and ``GetAtt Arn`` resolve as they did. Without a client, creating and deleting are moto's own.

Updating (UpdateStack) is this module's in both cases: moto 5.2 has no update for a table
(the stack kept its old table and lost the resource). As CloudFormation does, a change of
``TableName``, ``KeySchema`` or ``LocalSecondaryIndexes`` replaces the table (a new one, then
the old one deleted; refused for a table named in the template, as AWS refuses it), and the
properties UpdateTable changes are changed in place (billing mode, throughput, streams turned
on or off, global secondary indexes, deletion protection, and tags). Any other change fails
the update with a line naming the property, rather than leaving the table as it was.
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

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
# AWS::DynamoDB::Table properties whose change replaces the table.
REPLACING = frozenset({"TableName", "KeySchema", "LocalSecondaryIndexes"})
# Those changed in place (UpdateTable; Tags with TagResource and UntagResource).
IN_PLACE = frozenset(
    {
        "AttributeDefinitions",
        "BillingMode",
        "ProvisionedThroughput",
        "StreamSpecification",
        "GlobalSecondaryIndexes",
        "DeletionProtectionEnabled",
        "Tags",
    }
)
# Where the properties a table was last made or updated from are kept, on moto's Table.
PROPERTIES_ATTRIBUTE = "_testbed_cloudformation_properties"

_table_client: Any = None


class TableUpdateNotSupported(ValueError):
    """A change to an ``AWS::DynamoDB::Table`` the embedded stack cannot make."""


def set_table_client(client: Any) -> None:
    """A boto3 DynamoDB client of the server that holds the tables (None: moto's own)."""
    global _table_client
    _table_client = client


class Tables(Protocol):
    """Where tables live: the child's server (a client) or this process's moto backend."""

    def update_table(self, name: str, request: dict[str, Any]) -> None: ...

    def tag(self, name: str, tags: list[dict[str, str]], untag: list[str]) -> None: ...

    def stream_label(self, name: str) -> str | None: ...


class ServedTables:
    """The tables of the server a boto3 client calls."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def update_table(self, name: str, request: dict[str, Any]) -> None:
        self._client.update_table(TableName=name, **request)

    def tag(self, name: str, tags: list[dict[str, str]], untag: list[str]) -> None:
        arn = self._client.describe_table(TableName=name)["Table"]["TableArn"]
        if untag:
            self._client.untag_resource(ResourceArn=arn, TagKeys=untag)
        if tags:
            self._client.tag_resource(ResourceArn=arn, Tags=tags)

    def stream_label(self, name: str) -> str | None:
        label = self._client.describe_table(TableName=name)["Table"].get("LatestStreamLabel")
        return None if label is None else str(label)


class BackendTables:
    """The tables of this process's moto backend."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def update_table(self, name: str, request: dict[str, Any]) -> None:
        self._backend.update_table(
            name=name,
            attr_definitions=request.get("AttributeDefinitions"),
            global_index=request.get("GlobalSecondaryIndexUpdates"),
            throughput=request.get("ProvisionedThroughput"),
            billing_mode=request.get("BillingMode"),
            stream_spec=request.get("StreamSpecification"),
            deletion_protection_enabled=request.get("DeletionProtectionEnabled"),
            warm_throughput=None,
        )

    def tag(self, name: str, tags: list[dict[str, str]], untag: list[str]) -> None:
        arn = self._backend.get_table(name).table_arn
        if untag:
            self._backend.untag_resource(arn, untag)
        if tags:
            self._backend.tag_resource(arn, {tag["Key"]: tag["Value"] for tag in tags})

    def stream_label(self, name: str) -> str | None:
        label = self._backend.get_table(name).latest_stream_label
        return None if label is None else str(label)


def apply() -> list[Patch]:
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.table import Table

    original_create = Table.create_from_cloudformation_json
    original_delete = Table.delete_from_cloudformation_json
    original_delete_resource = Table.delete

    def create(
        cls: type,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties = cloudformation_json["Properties"]
        table = original_create(
            resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        setattr(table, PROPERTIES_ATTRIBUTE, properties)
        client = _table_client
        if client is None:
            return table
        dynamodb_backends[account_id][region_name].tables.pop(table.name, None)
        created = client.create_table(TableName=table.name, **create_table_parameters(properties))[
            "TableDescription"
        ]
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

    def delete_resource(table: Any, account_id: str, region_name: str) -> None:
        """What DeleteStack calls on the table CloudFormation kept."""
        if _table_client is None:
            original_delete_resource(table, account_id, region_name)
            return
        delete(type(table), table.name, {}, account_id, region_name)

    def update(
        cls: type,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        # Any failure answers UpdateStack with CloudFormation's 400 ValidationError: raised
        # as it is, it would be a 500, which boto3 retries, and moto's second try, finding
        # the template already taken, would "succeed" with the table left as it was.
        try:
            return update_in(
                cls,
                original_resource,
                new_resource_name,
                cloudformation_json,
                account_id,
                region_name,
            )
        except Exception as error:
            # Imported here: moto.cloudformation's package imports every service's models
            # (~0.2 s at the stack's start); by now CloudFormation is running.
            from moto.cloudformation.exceptions import ValidationError

            name = original_resource.name
            message = (
                str(error)
                if isinstance(error, TableUpdateNotSupported)
                else (f"AWS::DynamoDB::Table {name}: the update failed: {error}")
            )
            raise ValidationError(message=message) from error

    def update_in(
        cls: type,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        name = original_resource.name
        old = getattr(original_resource, PROPERTIES_ATTRIBUTE, None) or {}
        new = cloudformation_json["Properties"]
        changed = changed_properties(name, old, new)
        if changed & REPLACING:
            if new_resource_name == name:
                raise TableUpdateNotSupported(
                    f"AWS::DynamoDB::Table {name}: changing {_listed(changed & REPLACING)} "
                    "replaces the table, which CloudFormation cannot do for a table named in "
                    "the template (TableName): rename it too, or drop TableName"
                )
            table = create(cls, new_resource_name, cloudformation_json, account_id, region_name)
            delete(cls, name, cloudformation_json, account_id, region_name)
            return table
        client = _table_client
        tables: Tables = (
            ServedTables(client)
            if client is not None
            else BackendTables(dynamodb_backends[account_id][region_name])
        )
        for request in update_table_requests(name, old, new):  # all checked before the first
            tables.update_table(name, request)
        if "Tags" in changed:
            tags, untag = tag_changes(old.get("Tags") or [], new.get("Tags") or [])
            tables.tag(name, tags, untag)
        if "StreamSpecification" in changed and client is not None:
            original_resource.set_stream_specification(_stream_specification(new))
            original_resource.latest_stream_label = tables.stream_label(name)
        setattr(original_resource, PROPERTIES_ATTRIBUTE, new)
        return original_resource

    return [
        replace(Table, "create_from_cloudformation_json", classmethod(create)),
        replace(Table, "delete_from_cloudformation_json", classmethod(delete)),
        replace(Table, "update_from_cloudformation_json", classmethod(update)),
        replace(Table, "delete", delete_resource),
    ]


def changed_properties(name: str, old: dict[str, Any], new: dict[str, Any]) -> set[str]:
    """The properties that differ, failing on one the embedded stack cannot change."""
    changed = {name for name in old.keys() | new.keys() if old.get(name) != new.get(name)}
    if "BillingMode" in changed and _billing_mode(old) == _billing_mode(new):
        changed.discard("BillingMode")  # absent and PROVISIONED are the same
    unsupported = changed - REPLACING - IN_PLACE
    if unsupported:
        raise TableUpdateNotSupported(
            f"AWS::DynamoDB::Table {name}: changing {_listed(unsupported)} is not supported by the "
            f"embedded stack (it changes {_listed(IN_PLACE)} in place and replaces the table "
            f"for {_listed(REPLACING)})"
        )
    return changed


def update_table_requests(
    name: str, old: dict[str, Any], new: dict[str, Any]
) -> list[dict[str, Any]]:
    """UpdateTable's parameters (without TableName), one call each, taking the table from
    ``old`` properties to ``new``: as on AWS, at most one index created or deleted per call."""
    requests: list[dict[str, Any]] = []
    settings: dict[str, Any] = {}
    if _billing_mode(old) != _billing_mode(new):
        settings["BillingMode"] = _billing_mode(new)
    if new.get("ProvisionedThroughput") and old.get("ProvisionedThroughput") != new.get(
        "ProvisionedThroughput"
    ):
        settings["ProvisionedThroughput"] = new["ProvisionedThroughput"]
    if bool(old.get("DeletionProtectionEnabled")) != bool(new.get("DeletionProtectionEnabled")):
        settings["DeletionProtectionEnabled"] = bool(new.get("DeletionProtectionEnabled"))
    if settings:
        requests.append(settings)

    old_view, new_view = _stream_view(old), _stream_view(new)
    if old_view != new_view:
        if old_view is not None and new_view is not None:
            raise TableUpdateNotSupported(
                f"AWS::DynamoDB::Table {name}: changing StreamViewType from {old_view} to "
                f"{new_view} is not supported by the embedded stack (moto does not turn a "
                "table's stream on again once it was on): replace the table (rename it)"
            )
        requests.append({"StreamSpecification": _stream_specification(new)})

    attributes = new.get("AttributeDefinitions")
    old_indexes = {i["IndexName"]: i for i in old.get("GlobalSecondaryIndexes") or []}
    new_indexes = {i["IndexName"]: i for i in new.get("GlobalSecondaryIndexes") or []}
    for index_name, index in old_indexes.items():
        wanted = new_indexes.get(index_name)
        if wanted is None or _without_throughput(wanted) != _without_throughput(index):
            requests.append(
                {"GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": index_name}}]}
            )
        elif wanted.get("ProvisionedThroughput") and wanted.get(
            "ProvisionedThroughput"
        ) != index.get("ProvisionedThroughput"):
            update = {
                "IndexName": index_name,
                "ProvisionedThroughput": wanted["ProvisionedThroughput"],
            }
            requests.append({"GlobalSecondaryIndexUpdates": [{"Update": update}]})
    for index_name, index in new_indexes.items():
        before = old_indexes.get(index_name)
        if before is None or _without_throughput(before) != _without_throughput(index):
            create = {"GlobalSecondaryIndexUpdates": [{"Create": index}]}
            requests.append({"AttributeDefinitions": attributes, **create})
    if attributes != old.get("AttributeDefinitions") and not any(
        "AttributeDefinitions" in request for request in requests
    ):
        requests.append({"AttributeDefinitions": attributes})
    return requests


def tag_changes(
    old: list[dict[str, str]], new: list[dict[str, str]]
) -> tuple[list[dict[str, str]], list[str]]:
    """(tags to set, tag keys to remove first) from the ``old`` tags to the ``new``: a changed
    value is removed and set again (moto's TagResource adds a second tag of the same key)."""
    before = {tag["Key"]: tag["Value"] for tag in old}
    after = {tag["Key"]: tag["Value"] for tag in new}
    tags = [
        {"Key": key, "Value": value} for key, value in after.items() if before.get(key) != value
    ]
    changed = {tag["Key"] for tag in tags}
    return tags, sorted((before.keys() - after.keys()) | (changed & before.keys()))


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


def _billing_mode(properties: dict[str, Any]) -> str:
    return str(properties.get("BillingMode") or "PROVISIONED")


def _stream_view(properties: dict[str, Any]) -> str | None:
    stream = properties.get("StreamSpecification") or {}
    view = stream.get("StreamViewType")
    return None if view is None else str(view)


def _stream_specification(properties: dict[str, Any]) -> dict[str, Any]:
    view = _stream_view(properties)
    if view is None:
        return {"StreamEnabled": False}
    return {"StreamEnabled": True, "StreamViewType": view}


def _without_throughput(index: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in index.items() if key != "ProvisionedThroughput"}


def _listed(names: frozenset[str] | set[str]) -> str:
    return ", ".join(sorted(names))
