"""A state machine keeps its newest ended executions and forgets older ones (as Step Functions
does past its retention), so a stack under sustained load stops growing; executions that have
not ended are never forgotten."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from serverless_testbed.embedded.stack import EmbeddedStack
from tests.integration.helpers import ended_execution

ROLE = "arn:aws:iam::123456789012:role/retention"
HOLD_OR_PASS = {
    "StartAt": "HoldOrPass",
    "States": {
        "HoldOrPass": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.hold", "BooleanEquals": True, "Next": "Hold"}],
            "Default": "Done",
        },
        "Hold": {"Type": "Wait", "Seconds": 3600, "Next": "Done"},
        "Done": {"Type": "Pass", "End": True},
    },
}
KEPT = 5


@pytest.fixture
def keeping_five(embedded_stack: EmbeddedStack) -> Iterator[EmbeddedStack]:
    before = embedded_stack.ended_executions_kept
    embedded_stack.set_ended_executions_kept(KEPT)
    try:
        yield embedded_stack
    finally:
        embedded_stack.set_ended_executions_kept(before)


@pytest.fixture
def machine(keeping_five: EmbeddedStack) -> Iterator[str]:
    """A state machine that holds (a one-hour Wait) or passes, as its input says."""
    sfn = keeping_five.client("stepfunctions")
    arn: str = sfn.create_state_machine(
        name=f"retention-{uuid.uuid4().hex[:8]}", definition=json.dumps(HOLD_OR_PASS), roleArn=ROLE
    )["stateMachineArn"]
    yield arn
    sfn.delete_state_machine(stateMachineArn=arn)


def test_only_the_newest_ended_executions_are_kept_and_running_ones_always(
    keeping_five: EmbeddedStack, machine: str
) -> None:
    sfn = keeping_five.client("stepfunctions")

    def start(**execution_input: object) -> str:
        arn: str = sfn.start_execution(stateMachineArn=machine, input=json.dumps(execution_input))[
            "executionArn"
        ]
        return arn

    def exists(arn: str) -> bool:
        try:
            sfn.describe_execution(executionArn=arn)
        except ClientError as error:
            assert error.response["Error"]["Code"] == "ExecutionDoesNotExist"
            return False
        return True

    held = [start(hold=True)]
    passed = []
    try:
        for run in range(12):
            passed.append(start(hold=False, run=run))
            ended_execution(sfn, passed[-1])
        held.append(start(hold=True))  # its start looks again, with all twelve ended

        listed = {
            e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]
        }
        survivors = [arn for arn in passed if exists(arn)]
        outputs = [json.loads(ended_execution(sfn, arn)["output"])["run"] for arn in survivors]
        held_status = [sfn.describe_execution(executionArn=arn)["status"] for arn in held]
    finally:
        for arn in held:
            sfn.stop_execution(executionArn=arn)

    assert survivors == passed[-KEPT:]
    assert outputs == list(range(12 - KEPT, 12))
    assert held_status == ["RUNNING", "RUNNING"]
    assert listed == set(held) | set(passed[-KEPT:])


def test_a_limit_turned_off_keeps_every_execution_again(
    keeping_five: EmbeddedStack, machine: str
) -> None:
    keeping_five.set_ended_executions_kept(None)
    sfn = keeping_five.client("stepfunctions")

    arns = []
    for run in range(3 * KEPT):
        started = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"run": run}))
        arns.append(started["executionArn"])
        ended_execution(sfn, arns[-1])
    statuses = [sfn.describe_execution(executionArn=arn)["status"] for arn in arns]

    assert statuses == ["SUCCEEDED"] * 3 * KEPT
