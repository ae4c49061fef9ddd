"""The DynamoDB, Step Functions and SQS speed patches answer every request as moto does:
the same requests (moto_speed_equivalence_probe.py: conditional updates passing and
failing, validation errors, every update action, missing executions, unknown task tokens,
receives with visibility and retention, FIFO sends deduplicated by content or refused without
a deduplication id) run with and without them, one process each, and
every answer is compared, errors and their messages included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPOSITORY = Path(__file__).resolve().parents[3]
SERVICES = ("dynamodb", "stepfunctions", "sqs")


def answers(side: str) -> dict[str, Any]:
    probe = subprocess.run(
        [sys.executable, "-m", "tests.unit.embedded.moto_speed_equivalence_probe", side],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert probe.returncode == 0, probe.stderr
    result: dict[str, Any] = json.loads(probe.stdout)
    return result


@pytest.fixture(scope="module")
def sides() -> dict[str, dict[str, Any]]:
    return {"without": answers("without"), "with": answers("with")}


def test_the_with_side_runs_every_service_patch_and_the_other_none(
    sides: dict[str, dict[str, Any]],
) -> None:
    assert sides["without"]["patches"] == []
    assert {target.split(".")[1] for target in sides["with"]["patches"]} == set(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_every_answer_is_moto_s(sides: dict[str, dict[str, Any]], service: str) -> None:
    without, with_patches = sides["without"][service], sides["with"][service]

    assert len(with_patches) == len(without)
    for index, (expected, answered) in enumerate(zip(without, with_patches, strict=True)):
        assert answered == expected, f"{service} request {index}"


def test_the_requests_reach_the_outcomes_the_patches_touch(
    sides: dict[str, dict[str, Any]],
) -> None:
    text = json.dumps(sides["with"])

    for outcome in (
        "ConditionalCheckFailedException",
        "The conditional request failed",
        "Two document paths overlap with each other",
        "Cannot update attribute pk. This attribute is part of the key",
        "ExpressionAttributeValues unused in expressions",
        "Syntax error; token",
        "TransactionCanceledException",
        "Execution Does Not Exist: 'arn:aws:states:us-east-1:123456789012:execution:m:missing'",
        "InvalidToken",
    ):
        assert outcome in text, outcome
    received = [a for a in sides["with"]["sqs"] if a.get("body", {}).get("Messages")]
    # Two on the standard queue (the aged messages are not handed out), one per FIFO queue.
    assert len(received) == 4
    fifo_bodies = [[m["Body"] for m in a["body"]["Messages"]] for a in received[2:]]
    # By content: the second "same" is dropped, the third (its own deduplication id) is not.
    assert fifo_bodies == [["same", "other", "same"], ["same"]]
    assert "The queue should either have ContentBasedDeduplication enabled" in text
