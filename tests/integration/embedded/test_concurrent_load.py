"""`testbed up` under 128 concurrent signed POST /run: every request answered (200, or API
Gateway's 429 past the configured throttle), never a reset or a hang; every 200 backed by one
SUCCEEDED execution and one table item; nothing in the dead-letter queue."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.integration.helpers import http_post, wait_until
from tests.integration.latency.cli import clean_environment

ROOT = Path(__file__).resolve().parents[3]
IN_FLIGHT = 128
# The HTTP API's throttle: 64 requests at once, no refill. 64 executions in flight is what two
# busy cores finish well within the api function's 25 s wait even beside another test worker
# (at 120, three answered 504 under `pytest -n 2` on a loaded machine); the other 64 requests
# still arrive together and must each get API Gateway's 429.
BURST = 64
READY_TIMEOUT_S = 90


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    outputs = tmp_path_factory.mktemp("up") / "up.json"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "serverless_testbed.cli", "up",
            "--aws-port", "0", "--api-port", "0", "--no-redis",
            "--api-rate-limit", "0", "--api-burst-limit", str(BURST),
            "--json", str(outputs),
        ],
        cwd=ROOT,
        env=clean_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("ready"):
                break
        else:
            raise AssertionError(f"testbed up exited ({process.wait()}) before ready")
        # --json is written just after the "ready" line
        yield wait_until(lambda: _parsed(outputs), timeout_s=10, what=f"{outputs} written")
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _parsed(path: Path) -> dict[str, Any]:
    """The file's JSON, or {} while it is not written yet."""
    try:
        parsed: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return parsed


def _client(service: str, endpoint: str, credentials: dict[str, str]) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
    )


def test_128_in_flight_are_all_answered_and_every_200_is_one_execution_and_one_item(
    up: dict[str, Any],
) -> None:
    url = f"{up['endpoints']['api']}/run"

    def one(_: int) -> tuple[int | str, dict[str, Any]]:
        try:
            return http_post(
                url,
                {"request_id": f"load-{uuid.uuid4().hex}"},
                timeout_s=120,
                credentials=up["credentials"],
            )
        except OSError as error:  # a reset or a refused connection: what must not happen
            return type(error).__name__, {}

    with ThreadPoolExecutor(max_workers=IN_FLIGHT) as pool:
        answers = list(pool.map(one, range(IN_FLIGHT)))

    statuses = Counter(status for status, _ in answers)
    assert statuses == {200: BURST, 429: IN_FLIGHT - BURST}, statuses
    throttled = [body for status, body in answers if status == 429]
    assert throttled == [{"message": "Too Many Requests"}] * (IN_FLIGHT - BURST)
    ok = [body for status, body in answers if status == 200]
    assert all(body["status"] == "SUCCEEDED" for body in ok)

    aws = up["endpoints"]["aws"]
    sfn, dynamodb, sqs = (
        _client(s, aws, up["credentials"]) for s in ("stepfunctions", "dynamodb", "sqs")
    )
    executions = [
        execution
        for page in sfn.get_paginator("list_executions").paginate(
            stateMachineArn=up["state_machine_arn"]
        )
        for execution in page["executions"]
    ]
    assert Counter(e["status"] for e in executions) == {"SUCCEEDED": BURST}
    assert {e["executionArn"] for e in executions} == {body["execution_arn"] for body in ok}
    items = dynamodb.scan(TableName=up["table_name"], Select="COUNT")["Count"]
    assert items == BURST

    def queues_drained() -> bool:
        counts = [
            sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
            for queue in (up["queue_url"], up["dead_letter_queue_url"])
        ]
        return all(
            int(c["ApproximateNumberOfMessages"]) + int(c["ApproximateNumberOfMessagesNotVisible"])
            == 0
            for c in counts
        )

    wait_until(queues_drained, timeout_s=30, what="request queue and DLQ to be empty")
