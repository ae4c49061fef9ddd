"""The callback pipeline end to end on a real stack: POST /run -> api -> Step Functions ->
dispatcher -> SQS -> poller -> worker -> DynamoDB -> SendTaskSuccess/Failure -> response.

No test here calls a handler: every request goes in through the HTTP API or an AWS API.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest

from serverless_testbed.pipeline.contract import INJECTED_FAULT_ERROR, STAGE_TIMESTAMPS
from tests.integration.helpers import http_post, wait_until


def test_a_run_succeeds_end_to_end_with_every_stage_timestamp(pipeline_stack: Any) -> None:
    deployment = pipeline_stack.deployment
    request_id = f"ok-{uuid.uuid4().hex[:12]}"

    status, body = http_post(
        f"{deployment.api_url}/run",
        {"request_id": request_id, "payload": {"n": 1}},
        credentials=deployment.session.get_credentials(),
    )

    assert status == 200, body
    assert body["status"] == "SUCCEEDED"
    assert body["request_id"] == request_id
    output = body["output"]
    assert output["queue"] == deployment.queue_name
    assert set(output["timestamps"]) == set(STAGE_TIMESTAMPS)
    stamps = [output["timestamps"][name] for name in STAGE_TIMESTAMPS]
    assert all(isinstance(stamp, int | float) and stamp > 0 for stamp in stamps)
    item = deployment.client("dynamodb").get_item(
        TableName=deployment.table_name, Key={"pk": {"S": request_id}}, ConsistentRead=True
    )
    assert "Item" in item, "the worker's conditional update wrote the request's item"


def test_the_handlers_ran_in_runtime_processes_not_in_the_test(embedded_stack: Any) -> None:
    """The embedded runtime's own bookkeeping (elsewhere the functions run in Lambda's)."""
    status, _ = http_post(
        f"{embedded_stack.deployment.api_url}/run",
        {"payload": {}},
        credentials=embedded_stack.credentials,
    )
    assert status == 200

    snapshot = embedded_stack.runtime_snapshot()
    deployment = embedded_stack.deployment
    for function in (
        deployment.api_function,
        deployment.dispatcher_function,
        deployment.worker_function,
    ):
        assert snapshot[function]["invocations"] >= 1, snapshot


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b'["a", "list"]', 400),
        (b'{"payload": "not an object"}', 400),
        (b'{"request_id": "has spaces in it"}', 400),
        (b'{"fail_at": "nowhere"}', 400),
        (b'{"surprise": 1}', 400),
        (json.dumps({"payload": {"blob": "x" * 40_000}}).encode(), 413),
        # Nested 600 and 5,000 deep: a FAILED execution (502) and an unhandled 500 before.
        (b'{"payload": {"a": ' + b"[" * 600 + b"]" * 600 + b"}}", 400),
        (b'{"payload": {"a": ' + b"[" * 5000 + b"]" * 5000 + b"}}", 400),
    ],
)
def test_bad_bodies_get_a_4xx_and_start_nothing(
    pipeline_stack: Any, body: bytes, status: int
) -> None:
    deployment = pipeline_stack.deployment
    sfn = deployment.client("stepfunctions")
    before = _execution_count(sfn, deployment.state_machine_arn)

    got, response = http_post(
        f"{deployment.api_url}/run", body, credentials=deployment.session.get_credentials()
    )

    assert got == status, response
    assert response.get("error") or response.get("message"), "the error says what is wrong"
    assert _execution_count(sfn, deployment.state_machine_arn) == before


def test_an_unsigned_request_is_forbidden_and_starts_nothing(pipeline_stack: Any) -> None:
    deployment = pipeline_stack.deployment
    sfn = deployment.client("stepfunctions")
    before = _execution_count(sfn, deployment.state_machine_arn)

    got, response = http_post(f"{deployment.api_url}/run", {"payload": {}}, signed=False)

    assert (got, response) == (403, {"message": "Forbidden"})
    assert _execution_count(sfn, deployment.state_machine_arn) == before


def test_a_worker_error_fails_the_execution_with_its_name_and_cause(
    pipeline_stack: Any,
) -> None:
    status, body = http_post(
        f"{pipeline_stack.deployment.api_url}/run",
        {"fail_at": "worker"},
        credentials=pipeline_stack.deployment.session.get_credentials(),
    )

    assert status == 502, body
    assert body["status"] == "FAILED"
    assert body["error"] == INJECTED_FAULT_ERROR
    assert body["cause"], "the worker's cause survives SendTaskFailure"


def test_a_dispatcher_error_fails_the_execution(pipeline_stack: Any) -> None:
    deployment = pipeline_stack.deployment
    queue_before = _visible_messages(deployment)

    status, body = http_post(
        f"{deployment.api_url}/run",
        {"fail_at": "dispatcher"},
        credentials=deployment.session.get_credentials(),
    )

    assert status == 502, body
    assert body["error"] == INJECTED_FAULT_ERROR
    assert INJECTED_FAULT_ERROR in body["cause"]
    assert _visible_messages(deployment) == queue_before, "nothing was sent to the queue"


def test_a_poison_message_lands_in_the_dead_letter_queue(pipeline_stack: Any) -> None:
    deployment = pipeline_stack.deployment
    sqs = deployment.client("sqs")
    marker = f"poison-{uuid.uuid4().hex}"
    original = sqs.get_queue_attributes(
        QueueUrl=deployment.queue_url, AttributeNames=["VisibilityTimeout"]
    )["Attributes"]["VisibilityTimeout"]
    # A short visibility timeout so the three failed receives take seconds, not minutes. The
    # pause makes every poller start a fresh receive, which reads the new timeout.
    with pipeline_stack.event_source_paused(deployment.worker_function):
        sqs.set_queue_attributes(
            QueueUrl=deployment.queue_url, Attributes={"VisibilityTimeout": "1"}
        )
        sqs.send_message(QueueUrl=deployment.queue_url, MessageBody=marker)
    try:

        def dead_lettered() -> bool:
            messages = sqs.receive_message(
                QueueUrl=deployment.dead_letter_queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=0,
            ).get("Messages", [])
            return any(m["Body"] == marker for m in messages)

        wait_until(dead_lettered, timeout_s=60, what="the poison message in the DLQ")
    finally:
        sqs.set_queue_attributes(
            QueueUrl=deployment.queue_url, Attributes={"VisibilityTimeout": original}
        )
    # Where the logs are CloudWatch Logs (LocalStack, AWS) they arrive a little later.
    wait_until(
        lambda: any(
            "poison message" in line for line in pipeline_stack.logs(deployment.worker_function)
        ),
        timeout_s=30,
        what="the worker's poison-message log line",
    )


def test_a_redelivered_message_changes_the_table_once_and_sends_one_callback(
    pipeline_stack: Any,
) -> None:
    deployment = pipeline_stack.deployment
    sqs = deployment.client("sqs")
    request_id = f"dup-{uuid.uuid4().hex[:12]}"
    with pipeline_stack.event_source_paused(deployment.worker_function):
        result: dict[str, Any] = {}

        def call_api() -> None:
            result["status"], result["body"] = http_post(
                f"{deployment.api_url}/run",
                {"request_id": request_id},
                credentials=deployment.session.get_credentials(),
            )

        caller = threading.Thread(target=call_api)
        caller.start()
        message = wait_until(
            lambda: _peek(sqs, deployment.queue_url),
            timeout_s=30,
            what="the dispatcher's message in the queue",
        )
        # At-least-once delivery: the same message arrives a second time.
        sqs.send_message(QueueUrl=deployment.queue_url, MessageBody=message["Body"])
    caller.join(timeout=60)

    assert result["status"] == 200, result
    wait_until(lambda: _visible_messages(deployment) == 0, timeout_s=30, what="queue drained")
    # The worker logs one outcome per delivery: what it did with each, callbacks included.
    outcomes = wait_until(
        lambda: _worker_outcomes(pipeline_stack, deployment, request_id, at_least=2),
        timeout_s=30,
        what=f"the worker's outcome for both deliveries of {request_id}",
    )
    assert sorted(outcomes) == ["duplicate", "succeeded"], outcomes
    item = deployment.client("dynamodb").get_item(
        TableName=deployment.table_name, Key={"pk": {"S": request_id}}, ConsistentRead=True
    )["Item"]
    assert item["pk"]["S"] == request_id
    history = deployment.client("stepfunctions").get_execution_history(
        executionArn=result["body"]["execution_arn"], maxResults=1000
    )["events"]
    assert [e["type"] for e in history].count("TaskSucceeded") == 1


def _worker_outcomes(
    stack: Any, deployment: Any, request_id: str, *, at_least: int
) -> list[str] | None:
    """The worker's logged outcome of each delivery of ``request_id`` (its structured log
    lines: "succeeded" sent SendTaskSuccess, "duplicate" sent nothing), once there are
    ``at_least`` of them."""
    outcomes = []
    for line in stack.logs(deployment.worker_function):
        try:
            entry = json.loads(line[line.index("{") :])
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("request_id") == request_id:
            outcomes.append(str(entry.get("outcome")))
    return outcomes if len(outcomes) >= at_least else None


def _peek(sqs: Any, queue_url: str) -> dict[str, Any] | None:
    messages = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=1, VisibilityTimeout=0
    ).get("Messages", [])
    return messages[0] if messages else None


def _visible_messages(deployment: Any) -> int:
    attributes = deployment.client("sqs").get_queue_attributes(
        QueueUrl=deployment.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def _execution_count(sfn: Any, state_machine_arn: str) -> int:
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn)
    return sum(len(page["executions"]) for page in pages)


def test_the_template_deploys_through_the_cloudformation_api_and_runs(
    pipeline_stack: Any, request: pytest.FixtureRequest
) -> None:
    if request.config.getoption("--aws-url"):
        pytest.skip("an attached stack's HTTP API is served by the process that deployed it")
    stack_name = f"cfn-{uuid.uuid4().hex[:8]}"

    deployment = pipeline_stack.deploy(stack_name)

    cloudformation = deployment.client("cloudformation")
    described = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    assert described["StackStatus"] == "CREATE_COMPLETE"
    assert deployment.state_machine_arn != pipeline_stack.deployment.state_machine_arn
    status, body = http_post(
        f"{deployment.api_url}/run",
        {"payload": {"via": "cloudformation"}},
        credentials=deployment.session.get_credentials(),
    )
    assert status == 200, body
    assert body["output"]["queue"] == deployment.queue_name
