"""Where the concurrency limits come from: the template's ReservedConcurrentExecutions reaches
Lambda's API in the direct deploy, and `testbed up --lambda-concurrency` refuses a limit < 1."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from serverless_testbed.cli import main
from serverless_testbed.embedded.direct_deploy import apply_template
from tests.integration.helpers import LAMBDA_TRUST_POLICY

ROLE = {
    "Type": "AWS::IAM::Role",
    "Properties": {"AssumeRolePolicyDocument": LAMBDA_TRUST_POLICY},
}


def test_the_templates_reserved_concurrency_is_put_on_the_function() -> None:
    template = {
        "Resources": {
            "Role": ROLE,
            "Probe": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Handler": "index.handler",
                    "Runtime": "python3.11",
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Code": {"ZipFile": "def handler(event, context): return event"},
                    "ReservedConcurrentExecutions": 3,
                },
            },
        }
    }
    with mock_aws():
        clients: dict[str, Any] = {}

        def client(service: str) -> Any:
            return clients.setdefault(service, boto3.client(service, region_name="us-east-1"))

        applied = apply_template(json.loads(json.dumps(template)), "st", {}, "us-east-1", client)
        name = applied.resources["Probe"].physical_id
        concurrency = client("lambda").get_function_concurrency(FunctionName=name)

    assert concurrency["ReservedConcurrentExecutions"] == 3


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_up_refuses_a_lambda_concurrency_below_one(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["up", "--lambda-concurrency", value])

    assert exited.value.code == 2
    assert "--lambda-concurrency" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--api-rate-limit", "nan"),
        ("--api-rate-limit", "inf"),
        ("--api-rate-limit", "-1"),
        ("--api-burst-limit", "-1"),
        ("--api-burst-limit", "1.5"),
    ],
)
def test_up_refuses_a_throttle_that_is_not_a_finite_non_negative_number(
    flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["up", flag, value])

    assert exited.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if ": error: " in line]
    assert len(errors) == 1
    assert flag in errors[0] and repr(value) in errors[0]
