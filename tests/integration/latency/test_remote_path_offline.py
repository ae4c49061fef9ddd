"""The remote path, offline: template.yaml deployed into the embedded stack through its
CloudFormation API under a stack name, then tests/remote run unchanged against it, with only
boto3's endpoint settings (and the stack's credentials) differing from a run on AWS."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .cli import clean_environment, run_testbed

REPO = Path(__file__).resolve().parents[3]
STACK_NAME = "remote-proof"


@pytest.fixture(scope="module")
def proof_stack(embedded_stack: Any) -> Any:
    deployment = embedded_stack.deploy(STACK_NAME)  # CloudFormation CreateStack, not direct
    assert deployment.stack_name == STACK_NAME
    return embedded_stack


def test_the_remote_tests_pass_unchanged_against_a_stack_deployed_by_cloudformation(
    proof_stack: Any, tmp_path: Path
) -> None:
    env = clean_environment(
        {
            **proof_stack.client_environment(),
            "RUN_REMOTE_TESTS": "1",
            "STACK_NAME": STACK_NAME,
            "REPEAT": "3",
        }
    )
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "tests" / "remote"), "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    assert "6 passed" in completed.stdout
    assert "skipped" not in completed.stdout


def test_the_aws_target_ignores_endpoint_settings_from_the_shell(
    proof_stack: Any, tmp_path: Path
) -> None:
    env = clean_environment({**proof_stack.client_environment(), "STACK_NAME": STACK_NAME})
    completed = run_testbed("latency", "--target", "aws", "--repeat", "1", cwd=tmp_path, env=env)
    assert completed.returncode == 2
    assert "note: ignoring AWS_ENDPOINT_URL for --target aws" in completed.stderr
    assert proof_stack.urls["aws"] not in completed.stderr  # it never went there
    assert completed.stdout == ""


def test_the_aws_target_reaches_a_stack_through_an_explicit_endpoint(
    proof_stack: Any, tmp_path: Path
) -> None:
    env = clean_environment({"AWS_DEFAULT_REGION": proof_stack.region, **proof_stack.credentials})
    completed = run_testbed(
        "latency", "--target", "aws", "--stack-name", STACK_NAME, "--repeat", "4",
        "--concurrency", "2", "--endpoint-url", proof_stack.urls["aws"],
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert f"# Latency run: aws / {STACK_NAME}" in completed.stdout
    assert f"queue={STACK_NAME}-RequestQueue-" in completed.stdout
    assert "- N: 4 (concurrency=2)" in completed.stdout
    assert completed.stdout.count(" status=SUCCEEDED") == 4
