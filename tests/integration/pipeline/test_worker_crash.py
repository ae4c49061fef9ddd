"""A worker container killed in the middle of a request: the execution fails with a cause that
names the worker, and once SQS redelivers the message the request's item says the same."""

from __future__ import annotations

import os
import signal
import threading
import uuid
from typing import Any

from tests.integration.helpers import http_post, wait_until

# Small timeouts (template parameters) keep the crash test to seconds: the execution gives up
# after 4 s without a callback, SQS redelivers the message 10 s after it was received.
CRASH_PARAMETERS = {
    "TaskHeartbeatSeconds": "4",
    "TaskTimeoutSeconds": "5",
    "QueueVisibilityTimeoutSeconds": "10",
}


def test_a_worker_killed_mid_request_leaves_item_and_execution_agreeing(
    embedded_stack: Any,
) -> None:
    deployment = embedded_stack.deploy(f"crash-{uuid.uuid4().hex[:8]}", CRASH_PARAMETERS)
    worker = deployment.worker_function
    status, body = http_post(
        f"{deployment.api_url}/run",
        {"payload": {"warm": "up"}},
        credentials=deployment.session.get_credentials(),
    )
    assert status == 200, body
    pids = embedded_stack.runtime_snapshot()[worker]["container_pids"]
    assert pids, "a warm worker container"
    # Stopped, the containers take the next invoke and never answer: killing them then kills
    # the worker in the middle of that request, as a crash (or an OOM kill) would.
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    request_id = f"crash-{uuid.uuid4().hex[:12]}"
    result: dict[str, Any] = {}

    def call_api() -> None:
        result["status"], result["body"] = http_post(
            f"{deployment.api_url}/run",
            {"request_id": request_id},
            credentials=deployment.session.get_credentials(),
        )

    caller = threading.Thread(target=call_api)
    caller.start()
    try:
        wait_until(
            lambda: embedded_stack.runtime_snapshot()[worker]["busy"] >= 1,
            timeout_s=30,
            what="the request in a worker container",
        )
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
    caller.join(timeout=60)

    assert result["status"] == 502, result
    assert result["body"]["status"] == "FAILED"
    assert result["body"]["error"] == "WorkerTimeout"
    assert result["body"]["cause"].startswith("worker: no callback"), result["body"]
    dynamodb = deployment.client("dynamodb")

    def item_after_redelivery() -> dict[str, Any] | None:
        item = dynamodb.get_item(
            TableName=deployment.table_name, Key={"pk": {"S": request_id}}, ConsistentRead=True
        ).get("Item")
        return item if item and _queue_is_empty(deployment) else None

    item = wait_until(item_after_redelivery, timeout_s=60, what="the redelivered message done")
    execution = deployment.client("stepfunctions").describe_execution(
        executionArn=result["body"]["execution_arn"]
    )
    assert execution["status"] == "FAILED"
    assert item["status"]["S"] == "FAILED", item
    assert item["execution_error"]["S"] == "WorkerTimeout"
    assert item["execution_cause"]["S"] == execution["cause"]
    logs = "\n".join(embedded_stack.logs(worker))
    assert "the item now says FAILED" in logs


def _queue_is_empty(deployment: Any) -> bool:
    attributes = deployment.client("sqs").get_queue_attributes(
        QueueUrl=deployment.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        attributes["ApproximateNumberOfMessages"]
        == "0"
        == (attributes["ApproximateNumberOfMessagesNotVisible"])
    )
