"""embedded/direct_deploy.py applies the translated template.yaml through each service's API.

Against a real moto server (the embedded stack's patched one) in a process of its own: moto's
backends are process-wide, and the session's embedded stack lives in the test process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from serverless_testbed.deployment import STACK_OUTPUTS
from serverless_testbed.embedded import direct_deploy
from serverless_testbed.emulation import provision
from serverless_testbed.errors import UsageError

ROOT = Path(__file__).resolve().parents[3]
REGION = "us-east-1"
STACK = "dd"
GATEWAY = f"http://127.0.0.1:9/{STACK}"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="module")
def aws_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    record = tmp_path_factory.mktemp("moto") / "inline-invokes.txt"
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.embedded.patched_moto_server", str(record)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        assert url.startswith("http://"), f"the patched moto server did not start ({url!r})"
        yield url
    finally:
        assert server.stdin is not None
        server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def clients(aws_url: str) -> Callable[[str], Any]:
    session = boto3.Session(region_name=REGION, **CREDENTIALS)
    made: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in made:
            made[service] = session.client(service, endpoint_url=aws_url)
        return made[service]

    return client


@pytest.fixture(scope="module")
def translated(tmp_path_factory: pytest.TempPathFactory) -> provision.TranslatedStack:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        return provision.translate(
            ROOT / "template.yaml",
            {},
            region=REGION,
            iam_client=None,  # the template names no managed policy
            api_base_url=GATEWAY,
        )


@pytest.fixture(scope="module")
def applied(
    translated: provision.TranslatedStack, clients: Callable[[str], Any]
) -> direct_deploy.AppliedStack:
    return direct_deploy.apply_template(translated.template, STACK, {}, REGION, clients)


def test_the_outputs_every_target_reads_are_resolved(applied: direct_deploy.AppliedStack) -> None:
    outputs = applied.outputs
    assert set(STACK_OUTPUTS.values()) <= set(outputs)
    assert outputs["ApiUrl"] == f"{GATEWAY}/HttpApi/dev"
    assert outputs["StateMachineArn"] == applied.resources["PipelineStateMachine"].physical_id
    assert outputs["TableName"].startswith(f"{STACK}-RequestTable-")


def test_the_queues_exist_with_the_redrive_policy_to_the_dead_letter_queue(
    applied: direct_deploy.AppliedStack, clients: Callable[[str], Any]
) -> None:
    sqs = clients("sqs")
    queue = applied.outputs["RequestQueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    dead_letter = sqs.get_queue_attributes(
        QueueUrl=applied.outputs["DeadLetterQueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert attributes["VisibilityTimeout"] == "60"
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dead_letter
    assert int(redrive["maxReceiveCount"]) == 3
    assert attributes["QueueArn"] == applied.resources["RequestQueue"].attributes["Arn"]


def test_the_table_has_the_templates_key_and_billing(
    applied: direct_deploy.AppliedStack, clients: Callable[[str], Any]
) -> None:
    table = clients("dynamodb").describe_table(TableName=applied.outputs["TableName"])["Table"]
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TableArn"] == applied.resources["RequestTable"].attributes["Arn"]


def test_each_function_has_its_handler_role_and_resolved_environment(
    applied: direct_deploy.AppliedStack, clients: Callable[[str], Any]
) -> None:
    lambda_client = clients("lambda")
    api = lambda_client.get_function_configuration(FunctionName=applied.outputs["ApiFunctionName"])
    assert api["Handler"] == "serverless_testbed.handlers.api.handler"
    assert api["Timeout"] == 30
    assert api["Environment"]["Variables"] == {
        "STATE_MACHINE_ARN": applied.outputs["StateMachineArn"],
        "EXECUTION_DEADLINE_SECONDS": "25",
    }
    assert api["Role"] == applied.resources["ApiFunctionRole"].attributes["Arn"]
    worker = lambda_client.get_function_configuration(
        FunctionName=applied.outputs["WorkerFunctionName"]
    )
    assert worker["Environment"]["Variables"] == {"TABLE_NAME": applied.outputs["TableName"]}


def test_a_roles_inline_policy_names_the_resolved_resources(
    applied: direct_deploy.AppliedStack, clients: Callable[[str], Any]
) -> None:
    iam = clients("iam")
    role = applied.resources["WorkerFunctionRole"].physical_id
    (name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
    document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    if isinstance(document, str):
        document = json.loads(document)
    resources_by_action = {
        action: statement["Resource"]
        for statement in document["Statement"]
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }
    assert (
        resources_by_action["dynamodb:UpdateItem"]
        == (applied.resources["RequestTable"].attributes["Arn"])
    )
    assert resources_by_action["states:SendTaskSuccess"] == applied.outputs["StateMachineArn"]


def test_the_worker_is_mapped_to_the_request_queue(
    applied: direct_deploy.AppliedStack, clients: Callable[[str], Any]
) -> None:
    (mapping,) = clients("lambda").list_event_source_mappings(
        FunctionName=applied.outputs["WorkerFunctionName"]
    )["EventSourceMappings"]
    assert mapping["EventSourceArn"] == applied.resources["RequestQueue"].attributes["Arn"]
    assert mapping["BatchSize"] == 10
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_the_state_machine_calls_the_dispatcher_with_the_substituted_timeouts(
    applied: direct_deploy.AppliedStack, clients: Callable[[str], Any]
) -> None:
    machine = clients("stepfunctions").describe_state_machine(
        stateMachineArn=applied.outputs["StateMachineArn"]
    )
    dispatch = json.loads(machine["definition"])["States"]["Dispatch"]
    dispatcher = applied.resources["DispatcherFunction"].attributes["Arn"]
    assert dispatch["Parameters"]["FunctionName"] == dispatcher
    assert (dispatch["TimeoutSeconds"], dispatch["HeartbeatSeconds"]) == (30, 25)
    assert machine["roleArn"] == applied.resources["PipelineStateMachineRole"].attributes["Arn"]


def test_a_bad_parameter_is_refused_before_anything_is_created(
    translated: provision.TranslatedStack, clients: Callable[[str], Any]
) -> None:
    before = clients("sqs").list_queues().get("QueueUrls", [])
    with pytest.raises(UsageError, match=r"^unknown template parameter\(s\): Nope$"):
        direct_deploy.apply_template(translated.template, "other", {"Nope": "1"}, REGION, clients)
    with pytest.raises(UsageError, match=r"FunctionArchitecture='sparc': allowed are"):
        direct_deploy.apply_template(
            translated.template, "other", {"FunctionArchitecture": "sparc"}, REGION, clients
        )
    assert clients("sqs").list_queues().get("QueueUrls", []) == before
