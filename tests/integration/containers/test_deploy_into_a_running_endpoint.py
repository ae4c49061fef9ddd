"""ContainersStack attached to an AWS endpoint that already runs (``aws_url``: what a
`docker compose up` LocalStack gives). Here, with no Docker engine, the endpoint is a moto
server in its own process: it checks everything the stack does besides starting containers,
over real HTTP: the Lambda zip uploaded to S3, template.yaml translated and created through the
CloudFormation API, the deployment discovered from the stack outputs, and POST /run reaching
the api function through Lambda Invoke.

moto's Lambda only echoes an invocation's payload without Docker, so the api function's answer
here is its own event: proof of the route, not of the handler (the Docker test runs that).
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator

import pytest

from serverless_testbed.containers import ContainersStack
from serverless_testbed.errors import UsageError
from tests.integration.helpers import http_post


@pytest.fixture(scope="module")
def attached_stack(moto_server: str) -> Iterator[ContainersStack]:
    with ContainersStack(stack_name="attached", aws_url=moto_server, with_redis=False) as stack:
        yield stack


def test_the_deployment_is_discovered_from_the_stack_outputs(
    attached_stack: ContainersStack, moto_server: str
) -> None:
    deployment = attached_stack.deployment

    assert deployment.target == "containers"
    assert deployment.stack_name == "attached"
    assert deployment.endpoint_url == moto_server
    assert attached_stack.urls["aws"] == attached_stack.urls["stepfunctions"] == moto_server
    assert attached_stack.urls["api"] == deployment.api_url
    described = deployment.client("stepfunctions").describe_state_machine(
        stateMachineArn=deployment.state_machine_arn
    )
    assert "waitForTaskToken" in described["definition"]


def test_every_function_runs_the_uploaded_zip_with_its_handler_module(
    attached_stack: ContainersStack,
) -> None:
    deployment = attached_stack.deployment
    body = deployment.client("cloudformation").get_template(StackName="attached")["TemplateBody"]
    template = body if isinstance(body, dict) else json.loads(body)
    functions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    s3 = deployment.client("s3")
    lambda_client = deployment.client("lambda")

    assert len(functions) == 5
    for function in functions:
        code = function["Properties"]["Code"]
        archive = s3.get_object(Bucket=code["S3Bucket"], Key=code["S3Key"])["Body"].read()
        names = zipfile.ZipFile(io.BytesIO(archive)).namelist()
        handler = function["Properties"]["Handler"]
        assert handler.rsplit(".", 1)[0].replace(".", "/") + ".py" in names, handler
        assert "aws_lambda_powertools/__init__.py" in names
    deployed = {
        lambda_client.get_function(FunctionName=name)["Configuration"]["Handler"]
        for name in (
            deployment.api_function,
            deployment.dispatcher_function,
            deployment.worker_function,
            deployment.require("delayed_task_function"),
            attached_stack.resource_ids()["ProbeFunction"],
        )
    }
    assert deployed == {f["Properties"]["Handler"] for f in functions}


def test_post_run_reaches_the_api_function_through_lambda_invoke(
    attached_stack: ContainersStack,
) -> None:
    status, echoed_event = http_post(
        f"{attached_stack.deployment.api_url}/run", {"payload": {"n": 1}}
    )

    assert status == 200, echoed_event
    assert echoed_event["routeKey"] == "POST /run"
    assert json.loads(echoed_event["body"]) == {"payload": {"n": 1}}


def test_the_client_environment_points_boto3_at_the_stack(
    attached_stack: ContainersStack, moto_server: str
) -> None:
    environment = attached_stack.client_environment()

    assert environment["AWS_ENDPOINT_URL"] == moto_server
    assert "AWS_ENDPOINT_URL_SFN" not in environment, "the state machine is not in SFN Local"
    assert environment["AWS_ACCESS_KEY_ID"] == "testing"


def test_step_functions_local_cannot_be_asked_for_beside_an_attached_endpoint() -> None:
    with pytest.raises(UsageError, match="with_stepfunctions_local"):
        ContainersStack(aws_url="http://127.0.0.1:4566", with_stepfunctions_local=True)


def test_the_worker_event_source_is_paused_through_the_lambda_api(
    attached_stack: ContainersStack,
) -> None:
    deployment = attached_stack.deployment
    lambda_client = deployment.client("lambda")

    def states() -> set[str]:
        mappings = lambda_client.list_event_source_mappings(
            FunctionName=deployment.worker_function
        )["EventSourceMappings"]
        return {mapping["State"] for mapping in mappings}

    with attached_stack.event_source_paused(deployment.worker_function):
        assert states() == {"Disabled"}
    assert states() == {"Enabled"}


def test_a_functions_logs_are_read_from_cloudwatch_logs(attached_stack: ContainersStack) -> None:
    deployment = attached_stack.deployment
    logs = deployment.client("logs")
    group = f"/aws/lambda/{deployment.dispatcher_function}"
    assert attached_stack.logs(deployment.dispatcher_function) == [], "no group: no lines yet"

    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now_ms = int(time.time() * 1000)  # CloudWatch Logs refuses events older than 14 days
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[
            {"timestamp": now_ms, "message": "START\n"},
            {"timestamp": now_ms + 1, "message": '{"outcome": "succeeded"}'},
        ],
    )

    assert attached_stack.logs(deployment.dispatcher_function) == [
        "START",
        '{"outcome": "succeeded"}',
    ]


def test_the_stack_deploys_outside_us_east_1(moto_server: str) -> None:
    """S3 refuses a bucket without a LocationConstraint outside us-east-1 (moto as AWS)."""
    with ContainersStack(
        stack_name="frankfurt", region="eu-central-1", aws_url=moto_server, with_redis=False
    ) as stack:
        deployment = stack.deployment
        code = [
            bucket["Name"]
            for bucket in deployment.client("s3").list_buckets()["Buckets"]
            if bucket["Name"].startswith("testbed-lambda-code-")
        ]
        locations = {
            deployment.client("s3").get_bucket_location(Bucket=name)["LocationConstraint"]
            for name in code
        }

    assert deployment.region == "eu-central-1"
    assert ":eu-central-1:" in deployment.state_machine_arn
    assert "eu-central-1" in locations
