"""direct_deploy's own logic, without a service: parameters, order, intrinsic functions.

Lambda permissions are the one resource type the direct deploy creates without a client, so
templates of permissions and outputs exercise everything between the template and the calls.
"""

from __future__ import annotations

from typing import Any

import pytest

from serverless_testbed.embedded.direct_deploy import ACCOUNT_ID, apply_template
from serverless_testbed.errors import UsageError

PERMISSION = "AWS::Lambda::Permission"


def no_clients(service: str) -> Any:
    raise AssertionError(f"no {service} call expected")


def apply(template: dict[str, Any], **parameters: str) -> Any:
    return apply_template(template, "st", parameters, "eu-west-1", no_clients)


def test_outputs_resolve_parameters_pseudo_parameters_and_resource_names() -> None:
    template = {
        "Parameters": {"Stage": {"Type": "String", "Default": "dev"}},
        "Resources": {"Allow": {"Type": PERMISSION, "Properties": {}}},
        "Outputs": {
            "Sub": {"Value": {"Fn::Sub": "${AWS::Region}/${AWS::AccountId}/${Stage}/${!Kept}"}},
            "SubWithVariables": {"Value": {"Fn::Sub": ["${X}-${Stage}", {"X": {"Ref": "Stage"}}]}},
            "Join": {"Value": {"Fn::Join": ["-", ["a", {"Ref": "AWS::StackName"}, "c"]]}},
            "Select": {"Value": {"Fn::Select": ["1", ["zero", {"Ref": "Stage"}]]}},
            "NoValue": {"Value": {"Fn::Join": [",", ["a", {"Ref": "AWS::NoValue"}, "b"]]}},
            "Name": {"Value": {"Ref": "Allow"}},
        },
    }
    outputs = apply(template, Stage="prod").outputs
    assert outputs["Sub"] == f"eu-west-1/{ACCOUNT_ID}/prod/${{Kept}}"
    assert outputs["SubWithVariables"] == "prod-prod"
    assert outputs["Join"] == "a-st-c"
    assert outputs["Select"] == "prod"
    assert outputs["NoValue"] == "a,b"
    assert outputs["Name"].startswith("st-Allow-") and len(outputs["Name"]) == len("st-Allow-") + 12


def test_a_default_fills_in_and_allowed_values_are_enforced() -> None:
    template = {
        "Parameters": {
            "Arch": {"Type": "String", "Default": "x86_64", "AllowedValues": ["x86_64"]}
        },
        "Resources": {},
        "Outputs": {"Arch": {"Value": {"Ref": "Arch"}}},
    }
    assert apply(template).outputs == {"Arch": "x86_64"}
    with pytest.raises(UsageError, match=r"^template parameter Arch='arm': allowed are"):
        apply(template, Arch="arm")


@pytest.mark.parametrize(
    ("template", "parameters", "message"),
    [
        ({"Resources": {}}, {"Nope": "1"}, r"^unknown template parameter\(s\): Nope$"),
        (
            {"Parameters": {"Needed": {"Type": "String"}}, "Resources": {}},
            {},
            r"^template parameter Needed has no default: give a value$",
        ),
        (
            {"Resources": {"B": {"Type": "AWS::S3::Bucket"}}},
            {},
            r"^resource B: type AWS::S3::Bucket is not supported",
        ),
        (
            {
                "Resources": {
                    "A": {"Type": PERMISSION, "Properties": {"X": {"Ref": "B"}}},
                    "B": {"Type": PERMISSION, "Properties": {"X": {"Fn::GetAtt": ["A", "Arn"]}}},
                }
            },
            {},
            r"^circular dependency between resources: ",
        ),
        (
            {"Resources": {}, "Outputs": {"O": {"Value": {"Ref": "Missing"}}}},
            {},
            r"^Ref to unknown name Missing$",
        ),
        (
            {
                "Resources": {"A": {"Type": PERMISSION}},
                "Outputs": {"O": {"Value": {"Fn::GetAtt": ["A", "Arn"]}}},
            },
            {},
            r"^Fn::GetAtt A\.Arn is not available$",
        ),
        (
            {"Resources": {}, "Outputs": {"O": {"Value": {"Fn::If": ["c", "a", "b"]}}}},
            {},
            r"^intrinsic Fn::If is not supported by the direct deploy$",
        ),
    ],
)
def test_what_cannot_be_applied_is_a_one_line_usage_error(
    template: dict[str, Any], parameters: dict[str, str], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        apply(template, **parameters)


def test_resources_are_created_after_what_they_refer_to() -> None:
    template = {
        "Resources": {
            "Last": {"Type": PERMISSION, "Properties": {"P": {"Fn::Sub": "${Middle}"}}},
            "Middle": {"Type": PERMISSION, "DependsOn": "First"},
            "First": {"Type": PERMISSION},
        }
    }
    created = list(apply(template).resources)  # in creation order
    assert created.index("First") < created.index("Middle") < created.index("Last")
