"""The aws target: session checks, and no endpoint setting from the shell unless asked for."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from serverless_testbed.deployment import STACK_OUTPUTS
from serverless_testbed.errors import UsageError
from serverless_testbed.targets.aws import aws_deployment, aws_session, configured_endpoints

EMULATOR = "http://127.0.0.1:4566"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "STACK_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def deploy_stack(name: str, outputs: dict[str, str]) -> None:
    template = {
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    boto3.client("cloudformation", region_name="eu-west-1").create_stack(
        StackName=name, TemplateBody=json.dumps(template)
    )


ALL_OUTPUTS = {key: f"value-of-{key}" for key in STACK_OUTPUTS.values()}
ALL_OUTPUTS["RequestQueueUrl"] = "https://sqs.eu-west-1.amazonaws.com/123456789012/q-1"


def test_endpoint_settings_are_found_by_boto3s_own_names() -> None:
    env = {"AWS_ENDPOINT_URL": EMULATOR, "AWS_ENDPOINT_URL_SQS": EMULATOR, "HOME": "/x"}
    assert set(configured_endpoints(env)) == {"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS"}


def test_no_region_is_a_usage_error(aws_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError, match="no AWS region: pass --region"):
        aws_session(None, None)


def test_no_credentials_is_a_usage_error(aws_env: pytest.MonkeyPatch) -> None:
    aws_env.delenv("AWS_ACCESS_KEY_ID")
    aws_env.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(UsageError, match="no AWS credentials: run `aws configure`"):
        aws_session("eu-west-1", None)


def test_an_unknown_profile_is_a_usage_error(aws_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError, match="AWS profile 'ghost' not found"):
        aws_session("eu-west-1", "ghost")


@mock_aws
def test_the_stack_is_found_from_samconfig_with_its_region(aws_env: pytest.MonkeyPatch) -> None:
    deploy_stack("testsqs-dev", ALL_OUTPUTS)
    Path("samconfig.toml").write_text(
        '[dev.deploy.parameters]\nstack_name = "testsqs-dev"\nregion = "eu-west-1"\n'
    )
    deployment = aws_deployment(stack_name=None, stage="dev", region=None, profile=None)
    assert (deployment.target, deployment.stack_name) == ("aws", "testsqs-dev")
    assert deployment.region == "eu-west-1"
    assert deployment.queue_name == "q-1"


@mock_aws
def test_an_unknown_stack_says_how_to_name_one(aws_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError, match="stack 'ghost' not found in eu-west-1: pass --stack-name"):
        aws_deployment(stack_name="ghost", stage=None, region="eu-west-1", profile=None)


@mock_aws
def test_missing_outputs_are_named(aws_env: pytest.MonkeyPatch) -> None:
    deploy_stack("partial", {"ApiUrl": "https://x"})
    with pytest.raises(UsageError, match=r"lacks output.*StateMachineArn"):
        aws_deployment(stack_name="partial", stage=None, region="eu-west-1", profile=None)


@mock_aws
def test_endpoint_settings_from_the_shell_do_not_leak_into_an_aws_run(
    aws_env: pytest.MonkeyPatch,
) -> None:
    deploy_stack("s", ALL_OUTPUTS)
    aws_env.setenv("AWS_ENDPOINT_URL", EMULATOR)
    aws_env.setenv("AWS_ENDPOINT_URL_SFN", EMULATOR)
    deployment = aws_deployment(stack_name="s", stage=None, region="eu-west-1", profile=None)
    assert deployment.client("stepfunctions").meta.endpoint_url == (
        "https://states.eu-west-1.amazonaws.com"
    )


@mock_aws
def test_endpoint_settings_are_used_when_asked_for(aws_env: pytest.MonkeyPatch) -> None:
    deploy_stack("s", ALL_OUTPUTS)
    aws_env.setenv("AWS_ENDPOINT_URL_SFN", EMULATOR)  # CloudFormation stays on (mocked) AWS
    asked = aws_deployment(
        stack_name="s", stage=None, region="eu-west-1", profile=None, use_configured_endpoints=True
    )
    assert asked.client("stepfunctions").meta.endpoint_url == EMULATOR
