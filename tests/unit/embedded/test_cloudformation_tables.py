"""What an UpdateStack of an AWS::DynamoDB::Table asks of DynamoDB (cloudformation_tables.py):
the UpdateTable calls, in order, for the properties that changed; and the changes refused."""

from __future__ import annotations

from typing import Any

import pytest

from serverless_testbed.embedded.moto.cloudformation_tables import (
    TableUpdateNotSupported,
    changed_properties,
    tag_changes,
    update_table_requests,
)

KEY = {
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
}
WITH_G = [
    {"AttributeName": "pk", "AttributeType": "S"},
    {"AttributeName": "g", "AttributeType": "S"},
]


def _index(name: str, read: int = 1, attribute: str = "g") -> dict[str, Any]:
    return {
        "IndexName": name,
        "KeySchema": [{"AttributeName": attribute, "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "ALL"},
        "ProvisionedThroughput": {"ReadCapacityUnits": read, "WriteCapacityUnits": 1},
    }


def test_nothing_changed_asks_nothing() -> None:
    old = {**KEY, "BillingMode": "PROVISIONED"}
    assert changed_properties("t", old, dict(KEY)) == set()  # PROVISIONED is the default
    assert update_table_requests("t", old, dict(KEY)) == []


def test_settings_change_in_one_call() -> None:
    old = {**KEY, "BillingMode": "PAY_PER_REQUEST"}
    throughput = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 2}
    new = {**KEY, "ProvisionedThroughput": throughput, "DeletionProtectionEnabled": True}

    assert update_table_requests("t", old, new) == [
        {
            "BillingMode": "PROVISIONED",
            "ProvisionedThroughput": throughput,
            "DeletionProtectionEnabled": True,
        }
    ]


def test_a_stream_is_turned_on_and_off() -> None:
    on = {**KEY, "StreamSpecification": {"StreamViewType": "KEYS_ONLY"}}
    assert update_table_requests("t", KEY, on) == [
        {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}}
    ]
    assert update_table_requests("t", on, KEY) == [
        {"StreamSpecification": {"StreamEnabled": False}}
    ]


def test_a_streams_view_type_change_is_refused_naming_both() -> None:
    old = {**KEY, "StreamSpecification": {"StreamViewType": "KEYS_ONLY"}}
    new = {**KEY, "StreamSpecification": {"StreamViewType": "NEW_IMAGE"}}
    with pytest.raises(TableUpdateNotSupported, match="from KEYS_ONLY to NEW_IMAGE"):
        update_table_requests("orders", old, new)


def test_indexes_one_per_call_with_the_attribute_definitions_on_create() -> None:
    old = {**KEY, "AttributeDefinitions": WITH_G, "GlobalSecondaryIndexes": [_index("a")]}
    new = {
        **KEY,
        "AttributeDefinitions": WITH_G,
        "GlobalSecondaryIndexes": [_index("b"), _index("c")],
    }

    assert update_table_requests("t", old, new) == [
        {"GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": "a"}}]},
        {"AttributeDefinitions": WITH_G, "GlobalSecondaryIndexUpdates": [{"Create": _index("b")}]},
        {"AttributeDefinitions": WITH_G, "GlobalSecondaryIndexUpdates": [{"Create": _index("c")}]},
    ]


def test_an_indexs_throughput_is_updated_and_its_key_change_recreates_it() -> None:
    old = {**KEY, "AttributeDefinitions": WITH_G, "GlobalSecondaryIndexes": [_index("a")]}
    faster = {**old, "GlobalSecondaryIndexes": [_index("a", read=9)]}
    rekeyed = {**old, "GlobalSecondaryIndexes": [_index("a", attribute="pk")]}

    assert update_table_requests("t", old, faster) == [
        {
            "GlobalSecondaryIndexUpdates": [
                {
                    "Update": {
                        "IndexName": "a",
                        "ProvisionedThroughput": _index("a", 9)["ProvisionedThroughput"],
                    }
                }
            ]
        }
    ]
    assert [
        list(r["GlobalSecondaryIndexUpdates"][0]) for r in update_table_requests("t", old, rekeyed)
    ] == [["Delete"], ["Create"]]


def test_tags_set_and_removed() -> None:
    old = [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    new = [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "3"}, {"Key": "c", "Value": "4"}]
    assert tag_changes(old, new) == (
        [{"Key": "b", "Value": "3"}, {"Key": "c", "Value": "4"}],
        ["b"],
    )
    assert tag_changes(old, []) == ([], ["a", "b"])


def test_a_property_it_cannot_change_is_refused_naming_it_and_the_table() -> None:
    new = {**KEY, "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True}}
    with pytest.raises(TableUpdateNotSupported) as refused:
        changed_properties("orders", dict(KEY), new)
    message = str(refused.value)
    assert "orders" in message and "TimeToLiveSpecification" in message
    assert "\n" not in message


def test_key_and_name_changes_are_reported_for_replacement() -> None:
    new = {**KEY, "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}], "TableName": "x"}
    assert changed_properties("t", dict(KEY), new) == {"KeySchema", "TableName"}
