"""Where a wait scale applies, optional stack outputs, and attaching to a running stack."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from serverless_testbed.deployment import (
    OPTIONAL_STACK_OUTPUTS,
    STACK_OUTPUTS,
    deployment_from_outputs,
)
from serverless_testbed.errors import UsageError
from serverless_testbed.targets import TargetOptions, open_stack

OLD_OUTPUTS = {key: f"value-of-{key}" for key in STACK_OUTPUTS.values()}


def _refused(target: str, options: TargetOptions, message: str) -> None:
    """open_stack raises a UsageError matching ``message`` before anything is opened."""
    opened = open_stack(target, options)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=message):
        opened.__enter__()


@pytest.mark.parametrize(
    ("target", "message"),
    [("containers", "localstack issue 13099"), ("aws", "AWS waits in real time")],
)
def test_a_wait_scale_is_refused_where_waits_cannot_scale(target: str, message: str) -> None:
    _refused(target, TargetOptions(wait_scale=0.01), message)


@pytest.mark.parametrize("scale", [0.0, -1.0, float("inf"), float("nan")])
def test_a_bad_wait_scale_is_refused_before_anything_starts(scale: float) -> None:
    _refused("embedded", TargetOptions(wait_scale=scale), "wait scale")


def test_a_stack_deployed_before_the_delay_outputs_is_still_found() -> None:
    deployment = deployment_from_outputs(
        OLD_OUTPUTS,
        stack_name="old",
        target="aws",
        region="us-east-1",
        session=boto3.Session(region_name="us-east-1"),
    )

    assert deployment.delay_state_machine_arn is None
    with pytest.raises(UsageError, match="stack 'old' has no output DelayStateMachineArn"):
        deployment.require("delay_state_machine_arn")
    assert deployment.outputs() == OLD_OUTPUTS


def test_a_new_stack_carries_the_delay_outputs() -> None:
    outputs = OLD_OUTPUTS | {key: f"value-of-{key}" for key in OPTIONAL_STACK_OUTPUTS.values()}
    deployment = deployment_from_outputs(
        outputs,
        stack_name="new",
        target="aws",
        region="us-east-1",
        session=boto3.Session(region_name="us-east-1"),
    )

    assert deployment.require("delay_state_machine_arn") == "value-of-DelayStateMachineArn"
    assert deployment.outputs() == outputs


def _described(tmp_path: Path, **fields: object) -> Path:
    path = tmp_path / "stack.json"
    path.write_text(json.dumps(fields))
    return path


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"target": "containers"}, "describes a containers stack"),
        ({"target": "embedded", "outputs": {}}, "has no endpoints.aws or outputs"),
        (
            {"target": "embedded", "endpoints": {"aws": "http://127.0.0.1:9"}, "outputs": {}},
            "is `testbed up` still running",
        ),
    ],
)
def test_attaching_to_a_file_that_does_not_describe_a_running_stack_is_refused(
    tmp_path: Path, fields: dict[str, object], message: str
) -> None:
    _refused("embedded", TargetOptions(attach=_described(tmp_path, **fields)), message)


def test_attaching_refuses_a_missing_or_broken_file_and_a_wait_scale(tmp_path: Path) -> None:
    _refused("embedded", TargetOptions(attach=tmp_path / "none.json"), "not found")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    _refused("embedded", TargetOptions(attach=broken), "not readable JSON")
    _refused(
        "embedded", TargetOptions(attach=broken, wait_scale=0.5), "drop --wait-scale when attaching"
    )
