"""template.yaml and statemachine/pipeline.asl.json: lint-clean, translatable offline, scoped
to their own resources, with the outputs every target's discovery reads."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from serverless_testbed.deployment import OPTIONAL_STACK_OUTPUTS, STACK_OUTPUTS

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ASL = ROOT / "statemachine" / "pipeline.asl.json"
DELAY_ASL = ROOT / "statemachine" / "delay.asl.json"
FIXED_NAME_PROPERTIES = {
    "QueueName",
    "TableName",
    "FunctionName",
    "StateMachineName",
    "RoleName",
    "Name",
    "LogGroupName",
}
BASIC_EXECUTION_ROLE = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(TEMPLATE.read_text())


@pytest.fixture(scope="module")
def cfn(sam: dict[str, Any]) -> dict[str, Any]:
    """The template as `sam package` hands it to CloudFormation, translated offline."""
    import os

    from samtranslator.translator.transform import transform

    packaged = copy.deepcopy(sam)
    packaged["Globals"]["Function"]["CodeUri"] = "s3://bucket/code.zip"
    machine = packaged["Resources"]["PipelineStateMachine"]["Properties"]
    machine["DefinitionUri"] = {"Bucket": "bucket", "Key": "pipeline.asl.json"}
    delay = packaged["Resources"]["DelayStateMachine"]["Properties"]
    delay["DefinitionUri"] = {"Bucket": "bucket", "Key": "delay.asl.json"}

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return transform(packaged, {}, NoManagedPolicies())  # type: ignore[arg-type]


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == kind}


def test_the_template_passes_cfn_lint() -> None:
    from cfnlint.api import lint_file

    assert [str(match) for match in lint_file(TEMPLATE)] == []


def test_the_template_has_exactly_the_outputs_deployment_discovery_reads(
    sam: dict[str, Any],
) -> None:
    assert set(sam["Outputs"]) == set(STACK_OUTPUTS.values()) | set(OPTIONAL_STACK_OUTPUTS.values())


def test_no_resource_has_a_fixed_name(cfn: dict[str, Any]) -> None:
    # A name property given as a literal fixes the name; a Ref/GetAtt only points elsewhere.
    for logical_id, resource in cfn["Resources"].items():
        properties = resource.get("Properties", {})
        fixed = {
            key
            for key in FIXED_NAME_PROPERTIES & set(properties)
            if not isinstance(properties[key], dict)
        }
        assert not fixed, f"{logical_id} fixes {fixed}"


def _grants(role: dict[str, Any]) -> set[tuple[str, str]]:
    grants = set()
    for policy in role["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"]
            for action in [actions] if isinstance(actions, str) else actions:
                grants.add((action, json.dumps(statement["Resource"], sort_keys=True)))
    return grants


def _ref(name: str) -> str:
    return json.dumps({"Ref": name})


def _arn(name: str) -> str:
    return json.dumps({"Fn::GetAtt": [name, "Arn"]})


EXECUTIONS = json.dumps(
    {
        "Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:"
        "execution:${PipelineStateMachine.Name}:*"
    }
)


def test_every_role_is_granted_exactly_what_its_code_calls_on_this_stacks_resources(
    cfn: dict[str, Any],
) -> None:
    roles = resources_of_type(cfn, "AWS::IAM::Role")

    assert {role: _grants(definition) for role, definition in roles.items()} == {
        "ApiFunctionRole": {
            ("states:StartExecution", _ref("PipelineStateMachine")),
            ("states:DescribeExecution", EXECUTIONS),
        },
        "DispatcherFunctionRole": {("sqs:SendMessage", _arn("RequestQueue"))},
        "WorkerFunctionRole": {
            ("dynamodb:UpdateItem", _arn("RequestTable")),
            ("dynamodb:DeleteItem", _arn("RequestTable")),
            ("states:DescribeExecution", EXECUTIONS),
            # Scoped to the state machine as SAM's StepFunctionsCallbackPolicy does; see the
            # comment in template.yaml on why not "*".
            ("states:SendTaskSuccess", _ref("PipelineStateMachine")),
            ("states:SendTaskFailure", _ref("PipelineStateMachine")),
            ("sqs:ReceiveMessage", _arn("RequestQueue")),
            ("sqs:DeleteMessage", _arn("RequestQueue")),
            ("sqs:ChangeMessageVisibility", _arn("RequestQueue")),
            ("sqs:GetQueueAttributes", _arn("RequestQueue")),
        },
        "PipelineStateMachineRole": {("lambda:InvokeFunction", _arn("DispatcherFunction"))},
        "DelayedTaskFunctionRole": {("dynamodb:PutItem", _arn("DelayedTaskTable"))},
        "DelayStateMachineRole": {("lambda:InvokeFunction", _arn("DelayedTaskFunction"))},
        "ProbeFunctionRole": set(),  # the probe calls no AWS API: logging only
    }


def test_no_policy_allows_every_resource_and_only_logging_is_aws_managed(
    cfn: dict[str, Any],
) -> None:
    for logical_id, role in resources_of_type(cfn, "AWS::IAM::Role").items():
        assert all(resource != '"*"' for _, resource in _grants(role)), logical_id
        managed = role["Properties"].get("ManagedPolicyArns", [])
        state_machine_roles = ("PipelineStateMachineRole", "DelayStateMachineRole")
        expected = [] if logical_id in state_machine_roles else [BASIC_EXECUTION_ROLE]
        assert managed == expected, logical_id


def test_the_functions_are_zip_packaged_python_on_the_chosen_architecture(
    sam: dict[str, Any],
) -> None:
    import importlib

    function_globals = sam["Globals"]["Function"]
    assert function_globals["Runtime"] in ("python3.11", "python3.12")
    assert function_globals["CodeUri"] == "src/"
    assert function_globals["Architectures"] == [{"Ref": "FunctionArchitecture"}]
    assert sam["Parameters"]["FunctionArchitecture"]["AllowedValues"] == ["x86_64", "arm64"]
    functions = resources_of_type(sam, "AWS::Serverless::Function")
    assert set(functions) == {
        "ApiFunction",
        "DispatcherFunction",
        "WorkerFunction",
        "DelayedTaskFunction",
        "ProbeFunction",
    }
    for function in functions.values():
        properties = function["Properties"]
        assert properties.get("PackageType", "Zip") == "Zip"
        module, _, name = properties["Handler"].rpartition(".")
        assert callable(getattr(importlib.import_module(module), name))
        assert "AWS_REGION" not in properties.get("Environment", {}).get("Variables", {})


def test_each_function_gets_the_settings_its_handler_reads(sam: dict[str, Any]) -> None:
    def variables(function: str) -> set[str]:
        return set(sam["Resources"][function]["Properties"]["Environment"]["Variables"])

    assert {"STATE_MACHINE_ARN", "EXECUTION_DEADLINE_SECONDS"} <= variables("ApiFunction")
    assert "QUEUE_URL" in variables("DispatcherFunction")
    assert "TABLE_NAME" in variables("WorkerFunction")
    assert sam["Resources"]["DelayedTaskFunction"]["Properties"]["Environment"]["Variables"] == {
        "TABLE_NAME": {"Ref": "DelayedTaskTable"}
    }


def test_the_request_queue_redrives_to_the_dead_letter_queue_and_outlasts_the_worker(
    sam: dict[str, Any],
) -> None:
    queue = sam["Resources"]["RequestQueue"]["Properties"]
    worker_timeout = sam["Resources"]["WorkerFunction"]["Properties"].get(
        "Timeout", sam["Globals"]["Function"]["Timeout"]
    )

    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
        "maxReceiveCount": 3,
    }
    visibility = sam["Parameters"][queue["VisibilityTimeout"]["Ref"]]
    assert visibility["Default"] >= 6 * worker_timeout
    assert visibility["MinValue"] >= worker_timeout  # Lambda refuses a shorter one


def test_the_worker_is_triggered_by_the_queue_with_partial_batch_failures(
    sam: dict[str, Any],
) -> None:
    (mapping,) = resources_of_type(sam, "AWS::Lambda::EventSourceMapping").values()

    assert mapping["Properties"]["EventSourceArn"] == {"Fn::GetAtt": ["RequestQueue", "Arn"]}
    assert mapping["Properties"]["FunctionName"] == {"Ref": "WorkerFunction"}
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_the_table_is_on_demand_keyed_by_a_string_pk(sam: dict[str, Any]) -> None:
    table = sam["Resources"]["RequestTable"]["Properties"]

    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]


def test_post_run_routes_to_the_api_function_on_the_stage_parameter(
    cfn: dict[str, Any],
) -> None:
    (api,) = resources_of_type(cfn, "AWS::ApiGatewayV2::Api").values()
    (stage,) = resources_of_type(cfn, "AWS::ApiGatewayV2::Stage").values()

    integration = api["Properties"]["Body"]["paths"]["/run"]["post"][
        "x-amazon-apigateway-integration"
    ]
    assert "${ApiFunction.Arn}" in integration["uri"]["Fn::Sub"]
    assert integration["payloadFormatVersion"] == "2.0"
    assert stage["Properties"]["StageName"] == {"Ref": "StageName"}


def test_post_run_is_iam_authorized_never_anonymous(cfn: dict[str, Any]) -> None:
    (api,) = resources_of_type(cfn, "AWS::ApiGatewayV2::Api").values()
    body = api["Properties"]["Body"]

    (requirement,) = body["paths"]["/run"]["post"]["security"]
    (scheme,) = requirement
    assert body["components"]["securitySchemes"][scheme]["x-amazon-apigateway-authtype"] == (
        "awsSigv4"
    )


def _substituted_asl(sam: dict[str, Any]) -> dict[str, Any]:
    machine = sam["Resources"]["PipelineStateMachine"]["Properties"]
    defaults = {name: str(spec.get("Default", "")) for name, spec in sam["Parameters"].items()}
    values = {}
    for key, value in machine["DefinitionSubstitutions"].items():
        if "Ref" in value:
            values[key] = defaults[value["Ref"]]
        else:
            values[key] = "arn:aws:lambda:us-east-1:123456789012:function:dispatcher"
    text = ASL.read_text()
    assert set(re.findall(r"\$\{(\w+)\}", text)) == set(values), "every placeholder substituted"
    for key, value in values.items():
        text = text.replace("${" + key + "}", value)
    return json.loads(text)


def test_the_state_machine_is_one_callback_task_that_cannot_hang(sam: dict[str, Any]) -> None:
    machine = sam["Resources"]["PipelineStateMachine"]["Properties"]
    assert machine["Type"] == "STANDARD"
    assert machine["DefinitionUri"] == "statemachine/pipeline.asl.json"
    definition = _substituted_asl(sam)

    assert definition["StartAt"] == "Dispatch"
    assert list(definition["States"]) == ["Dispatch", "WorkerSilent"]
    task = definition["States"]["Dispatch"]
    assert task["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert task["Parameters"]["Payload"] == {
        "task_token.$": "$$.Task.Token",
        "execution.$": "$$.Execution.Id",
        "request.$": "$",
    }
    assert 0 < task["HeartbeatSeconds"] < task["TimeoutSeconds"]
    assert task.get("End") is True
    # The execution output is the worker's SendTaskSuccess output, unchanged.
    assert task.get("ResultPath", "$") == "$" and task.get("OutputPath", "$") == "$"
    assert "ResultSelector" not in task
    retried = {name for rule in task.get("Retry", []) for name in rule["ErrorEquals"]}
    assert "InjectedFault" not in retried and "States.ALL" not in retried


def test_a_task_timeout_fails_with_a_cause_that_names_the_silent_stage(sam: dict) -> None:
    definition = _substituted_asl(sam)
    (catch,) = definition["States"]["Dispatch"]["Catch"]

    assert set(catch["ErrorEquals"]) == {"States.HeartbeatTimeout", "States.Timeout"}
    silent = definition["States"][catch["Next"]]
    assert silent["Type"] == "Fail" and silent["Error"] == "WorkerTimeout"
    assert silent["Cause"].startswith("worker: no callback")


def test_the_delay_state_machine_waits_by_seconds_or_timestamp_then_runs_one_task(
    sam: dict[str, Any],
) -> None:
    machine = sam["Resources"]["DelayStateMachine"]["Properties"]
    assert machine["Type"] == "STANDARD"  # up to a year; Express stops at 5 minutes
    assert machine["DefinitionUri"] == "statemachine/delay.asl.json"
    assert machine["DefinitionSubstitutions"] == {
        "DelayedTaskFunctionArn": {"Fn::GetAtt": ["DelayedTaskFunction", "Arn"]}
    }
    text = DELAY_ASL.read_text()
    assert set(re.findall(r"\$\{(\w+)\}", text)) == {"DelayedTaskFunctionArn"}
    states = json.loads(text.replace("${DelayedTaskFunctionArn}", "arn:function"))["States"]

    choose = states["ChooseWait"]
    assert {(c["Variable"], c["Next"]) for c in choose["Choices"]} == {
        ("$.delay_seconds", "WaitSeconds"),
        ("$.fire_at", "WaitUntil"),
    }
    assert states[choose["Default"]]["Type"] == "Fail"
    assert states["WaitSeconds"] == {
        "Type": "Wait",
        "SecondsPath": "$.delay_seconds",
        "Next": "Fire",
    }
    assert states["WaitUntil"] == {"Type": "Wait", "TimestampPath": "$.fire_at", "Next": "Fire"}
    fire = states["Fire"]
    assert fire["Resource"] == "arn:aws:states:::lambda:invoke"
    assert fire["Parameters"]["Payload"] == {
        "execution.$": "$$.Execution.Id",
        "started_at.$": "$$.Execution.StartTime",
        "task.$": "$",
    }
    assert fire["End"] is True


def test_the_delayed_task_table_is_on_demand_keyed_by_a_string_pk(sam: dict[str, Any]) -> None:
    table = sam["Resources"]["DelayedTaskTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]


def test_the_lambda_zip_installs_only_powertools() -> None:
    lines = (ROOT / "src" / "requirements.txt").read_text().splitlines()
    packages = [line.split(">")[0].split("=")[0].strip() for line in lines if line.strip()]

    assert packages == ["aws-lambda-powertools"]


def test_an_installed_copy_carries_the_template_and_what_it_points_at() -> None:
    """`pip install .` (not editable) puts these under share/serverless-testbed, the same
    layout as the checkout, so find_template() and requirements_for() work from either."""
    import tomllib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    data_files = pyproject["tool"]["setuptools"]["data-files"]
    installed = {
        f"{directory.removeprefix('share/serverless-testbed').strip('/')}/{Path(f).name}".lstrip(
            "/"
        )
        for directory, files in data_files.items()
        for f in files
    }

    assert installed == {
        "template.yaml",
        "statemachine/pipeline.asl.json",
        "statemachine/delay.asl.json",
        "src/requirements.txt",
    }
    for path in installed:
        assert (ROOT / path).is_file()
