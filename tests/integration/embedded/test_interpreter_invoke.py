"""Step Functions' lambda:invoke tasks call the Lambda backend in process
(embedded/moto/interpreter_invoke.py); the same task with one more parameter
(InvocationType=RequestResponse, which changes nothing on AWS) still goes through moto's HTTP
layer. Both ways, a state sees the same output, the same function error and the same
Lambda.<Code> failure."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from serverless_testbed.embedded.stack import EmbeddedStack
from tests.integration.helpers import ended_execution

ROLE = "arn:aws:iam::123456789012:role/interpreter-invoke"
THROUGH_CLIENT = {"InvocationType": "RequestResponse"}


def run_invoke_task(
    stack: EmbeddedStack, function_name: str, payload: Any, extra: dict[str, str]
) -> dict[str, Any]:
    """Run a one-task state machine that invokes the function; its DescribeExecution, ended."""
    stepfunctions = stack.client("stepfunctions")
    definition = {
        "StartAt": "Invoke",
        "States": {
            "Invoke": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": function_name, "Payload": payload, **extra},
                "End": True,
            }
        },
    }
    machine = stepfunctions.create_state_machine(
        name=f"invoke-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]
    execution = stepfunctions.start_execution(stateMachineArn=machine)["executionArn"]
    return ended_execution(stepfunctions, execution)


@pytest.fixture(scope="module")
def probe(embedded_stack: EmbeddedStack) -> str:
    return embedded_stack.resource_ids()["ProbeFunction"]


@pytest.mark.parametrize("extra", [{}, THROUGH_CLIENT], ids=["in process", "through the client"])
def test_an_invoke_task_outputs_the_status_code_and_the_parsed_payload(
    embedded_stack: EmbeddedStack, probe: str, extra: dict[str, str]
) -> None:
    described = run_invoke_task(embedded_stack, probe, {"sleep_ms": 0}, extra)

    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert sorted(output) == ["Payload", "StatusCode"]
    assert output["StatusCode"] == 200
    assert output["Payload"]["invocations"] >= 1


def test_a_function_error_fails_the_task_alike_both_ways(
    embedded_stack: EmbeddedStack, probe: str
) -> None:
    in_process, through_client = (
        run_invoke_task(embedded_stack, probe, {"sleep_ms": "soon"}, extra)
        for extra in ({}, THROUGH_CLIENT)
    )

    assert in_process["status"] == through_client["status"] == "FAILED"
    assert in_process["error"] == through_client["error"] == "ValueError"
    in_process_cause, through_client_cause = (
        json.loads(ended["cause"]) for ended in (in_process, through_client)
    )
    assert in_process_cause.pop("requestId") != through_client_cause.pop("requestId")
    assert in_process_cause == through_client_cause
    assert in_process_cause["errorType"] == "ValueError"


def test_an_unknown_function_fails_the_task_with_lambdas_error_both_ways(
    embedded_stack: EmbeddedStack,
) -> None:
    in_process, through_client = (
        run_invoke_task(embedded_stack, "no-such-function", {}, extra)
        for extra in ({}, THROUGH_CLIENT)
    )

    assert in_process["status"] == through_client["status"] == "FAILED"
    assert in_process["error"] == through_client["error"] == "Lambda.ResourceNotFoundException"
    # The cause ends with the request id, which differs: compare what comes before it.
    assert (
        in_process["cause"].split("Request ID")[0] == through_client["cause"].split("Request ID")[0]
    )
