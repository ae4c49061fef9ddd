"""Lambda's concurrency limits on the embedded stack: a function's reserved concurrency and
the account's limit cap its containers, and an invoke over them is throttled the way Lambda
throttles (429 TooManyRequestsException), to which each caller reacts as on AWS.

The session's stack, with an account limit of ACCOUNT_LIMIT while these tests run; every
test puts the concurrency it changes back.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from serverless_testbed.embedded.stack import EmbeddedStack
from tests.integration.helpers import http_post, wait_until

ACCOUNT_LIMIT = 4
SLOW_MS = 2500  # how long the invokes that hold the concurrency run
RESERVED_REASON = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT_REASON = "ConcurrentInvocationLimitExceeded"


@pytest.fixture(scope="module")
def stack(embedded_stack: EmbeddedStack) -> Iterator[EmbeddedStack]:
    before = embedded_stack.lambda_concurrency
    embedded_stack.set_lambda_concurrency(ACCOUNT_LIMIT)
    try:
        yield embedded_stack
    finally:
        embedded_stack.set_lambda_concurrency(before)


@pytest.fixture(scope="module")
def lambda_client(stack: EmbeddedStack) -> Any:
    """Lambda's API on the stack, without boto3's retries: a throttle reaches the test."""
    environment = stack.client_environment()
    session = boto3.Session(
        aws_access_key_id=environment["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=environment["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=environment.get("AWS_SESSION_TOKEN"),
        region_name=stack.region,
    )
    return session.client(
        "lambda",
        endpoint_url=environment["AWS_ENDPOINT_URL"],
        config=Config(retries={"total_max_attempts": 1}, max_pool_connections=16),
    )


@pytest.fixture(scope="module")
def probe(stack: EmbeddedStack) -> str:
    return stack.resource_ids()["ProbeFunction"]


@contextmanager
def reserved(lambda_client: Any, function: str, concurrency: int) -> Iterator[None]:
    lambda_client.put_function_concurrency(
        FunctionName=function, ReservedConcurrentExecutions=concurrency
    )
    try:
        yield
    finally:
        lambda_client.delete_function_concurrency(FunctionName=function)


def invoke(lambda_client: Any, function: str, sleep_ms: int = 0) -> dict[str, Any]:
    response = lambda_client.invoke(FunctionName=function, Payload=f'{{"sleep_ms": {sleep_ms}}}')
    return {"payload": response["Payload"].read(), "error": response.get("FunctionError")}


def throttle_of(lambda_client: Any, function: str) -> tuple[int, str, str]:
    """(HTTP status, error code, Reason) of an invoke expected to be throttled."""
    with pytest.raises(ClientError) as raised:
        invoke(lambda_client, function)
    response = raised.value.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response.get("Reason", ""),
    )


def in_flight(stack: EmbeddedStack, *functions: str) -> int:
    snapshot = stack.runtime_snapshot()
    return sum(snapshot[f]["busy"] + snapshot[f]["starting"] for f in functions if f in snapshot)


def cold_starts(stack: EmbeddedStack, *functions: str) -> int:
    """Containers started so far (the session's stack may keep warm ones from other tests)."""
    snapshot = stack.runtime_snapshot()
    return sum(snapshot[f]["cold_starts"] for f in functions if f in snapshot)


def hold(
    pool: ThreadPoolExecutor, stack: EmbeddedStack, lambda_client: Any, calls: dict[str, int]
) -> list[Future[dict[str, Any]]]:
    """Start slow invokes (function -> how many) and return once all of them are running."""
    futures = [
        pool.submit(invoke, lambda_client, function, SLOW_MS)
        for function, count in calls.items()
        for _ in range(count)
    ]
    wanted = sum(calls.values())
    wait_until(
        lambda: in_flight(stack, *calls) == wanted or any(f.done() for f in futures),
        timeout_s=30,
        what=f"{wanted} invokes in flight",
    )
    assert not any(f.done() for f in futures), [f.result() for f in futures if f.done()]
    return futures


def test_reserved_concurrency_caps_a_functions_containers_and_throttles_the_rest(
    stack: EmbeddedStack, lambda_client: Any, probe: str
) -> None:
    reserved_n, over = 2, 2
    started_before = cold_starts(stack, probe)
    with reserved(lambda_client, probe, reserved_n), ThreadPoolExecutor(reserved_n) as pool:
        held = hold(pool, stack, lambda_client, {probe: reserved_n})

        throttles = [throttle_of(lambda_client, probe) for _ in range(over)]

        assert throttles == [(429, "TooManyRequestsException", RESERVED_REASON)] * over
        assert in_flight(stack, probe) == reserved_n  # the throttled invokes started nothing
        assert cold_starts(stack, probe) - started_before <= reserved_n
        assert all(f.result()["error"] is None for f in held)
        # Concurrency freed: invokes run again, in the containers already there.
        after = [invoke(lambda_client, probe) for _ in range(2)]
        assert all(result["error"] is None for result in after)
        assert cold_starts(stack, probe) - started_before <= reserved_n
        assert stack.runtime_snapshot()[probe]["throttles"] >= over


def test_the_account_limit_caps_the_sum_over_functions(
    stack: EmbeddedStack, lambda_client: Any, probe: str
) -> None:
    other = stack.deploy(f"other-{uuid.uuid4().hex[:6]}", direct=True)
    other_probe = other.outputs()["ProbeFunctionName"]
    # One function reserves 1 of the account's 4: the unreserved ones share the other 3.
    started_before = cold_starts(stack, probe, other_probe)
    with reserved(lambda_client, other_probe, 1), ThreadPoolExecutor(4) as pool:
        held = hold(pool, stack, lambda_client, {probe: 3, other_probe: 1})

        assert throttle_of(lambda_client, probe) == (
            429,
            "TooManyRequestsException",
            ACCOUNT_REASON,
        )
        assert throttle_of(lambda_client, other_probe)[2] == RESERVED_REASON
        assert in_flight(stack, probe, other_probe) == ACCOUNT_LIMIT
        assert all(f.result()["error"] is None for f in held)
    assert cold_starts(stack, probe, other_probe) - started_before <= ACCOUNT_LIMIT
    assert invoke(lambda_client, probe)["error"] is None


def test_a_throttled_sqs_batch_is_retried_by_the_poller_and_processed(
    stack: EmbeddedStack, lambda_client: Any, probe: str
) -> None:
    sqs = stack.client("sqs")
    name = f"throttled-{uuid.uuid4().hex[:8]}"
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = _queue_arn(sqs, dlq_url)
    # maxReceiveCount 1: a batch handed back to the queue after a throttle would be dead-lettered.
    queue_url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": "30",
            "RedrivePolicy": f'{{"deadLetterTargetArn": "{dlq_arn}", "maxReceiveCount": "1"}}',
        },
    )["QueueUrl"]
    queue_arn = _queue_arn(sqs, queue_url)
    before = stack.runtime_snapshot().get(probe, {"throttles": 0, "invocations": 0})
    mapping = None
    try:
        with reserved(lambda_client, probe, 0):  # every invoke throttled
            mapping = lambda_client.create_event_source_mapping(
                FunctionName=probe, EventSourceArn=queue_arn, BatchSize=1
            )["UUID"]
            sqs.send_message(QueueUrl=queue_url, MessageBody='{"sleep_ms": 0}')
            wait_until(
                lambda: stack.runtime_snapshot()[probe]["throttles"] >= before["throttles"] + 2,
                timeout_s=30,
                what="the poller's invoke throttled, then tried again",
            )
        wait_until(
            lambda: _messages(sqs, queue_url) == 0,
            timeout_s=30,
            what="the message processed and deleted",
        )
        assert stack.runtime_snapshot()[probe]["invocations"] > before["invocations"]
        assert _messages(sqs, dlq_url) == 0
    finally:
        if mapping is not None:
            lambda_client.delete_event_source_mapping(UUID=mapping)


def test_the_http_api_answers_a_throttled_integration_as_api_gateway_does(
    stack: EmbeddedStack, lambda_client: Any
) -> None:
    api_function = stack.deployment.api_function
    with reserved(lambda_client, api_function, 0):
        status, body = http_post(
            f"{stack.deployment.api_url}/run", {"payload": {}}, credentials=stack.credentials
        )
    assert (status, body) == (500, {"message": "Internal Server Error"})
    status, _ = http_post(
        f"{stack.deployment.api_url}/run", {"payload": {}}, credentials=stack.credentials
    )
    assert status == 200


def test_step_functions_retries_a_throttled_dispatcher_as_the_template_says(
    stack: EmbeddedStack, lambda_client: Any
) -> None:
    deployment = stack.deployment
    stepfunctions = stack.client("stepfunctions")
    request_id = f"throttled-{uuid.uuid4().hex[:8]}"
    answer: dict[str, Any] = {}
    with reserved(lambda_client, deployment.dispatcher_function, 0):
        caller = threading.Thread(
            target=lambda: answer.update(
                zip(
                    ("status", "body"),
                    http_post(
                        f"{deployment.api_url}/run",
                        {"request_id": request_id},
                        credentials=stack.credentials,
                    ),
                    strict=True,
                )
            )
        )
        caller.start()
        execution = wait_until(
            lambda: _execution_of(stepfunctions, deployment.state_machine_arn, request_id),
            timeout_s=30,
            what="the request's execution",
        )
        wait_until(
            lambda: "Lambda.TooManyRequestsException" in _task_failures(stepfunctions, execution),
            timeout_s=30,
            what="the dispatcher's invoke throttled",
        )
    caller.join(timeout=60)
    assert answer.get("status") == 200, answer
    assert answer["body"]["status"] == "SUCCEEDED"


def _queue_arn(sqs: Any, queue_url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def _messages(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def _execution_of(stepfunctions: Any, state_machine_arn: str, request_id: str) -> str | None:
    executions = stepfunctions.list_executions(stateMachineArn=state_machine_arn)["executions"]
    named = [e["executionArn"] for e in executions if e["name"] == request_id]
    return str(named[0]) if named else None


def _task_failures(stepfunctions: Any, execution_arn: str) -> list[str]:
    events = stepfunctions.get_execution_history(executionArn=execution_arn)["events"]
    return [
        event["taskFailedEventDetails"]["error"]
        for event in events
        if event["type"] == "TaskFailed"
    ]
