"""The pipeline in Docker containers (LocalStack, Redis) through ContainersStack: the same
chain as the embedded stack, POST /run -> api -> Step Functions -> dispatcher -> SQS -> worker
-> DynamoDB -> SendTaskSuccess -> 200, every handler running in LocalStack's Lambda.

Skipped, with the reason, where no Docker engine answers (every machine of this project);
`pytest tests/integration/containers` runs it wherever one does.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from serverless_testbed.containers import docker_engine_status
from serverless_testbed.pipeline.contract import STAGE_TIMESTAMPS
from tests.integration.helpers import http_post

ENGINE_AVAILABLE, ENGINE_REASON = docker_engine_status()
pytestmark = [
    pytest.mark.containers,
    pytest.mark.skipif(not ENGINE_AVAILABLE, reason=ENGINE_REASON),
]


@pytest.fixture(scope="module")
def containers_stack(target: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The session's stack under --target containers; otherwise one for this module."""
    if target == "containers":
        yield request.getfixturevalue("pipeline_stack")
        return
    from serverless_testbed.containers import ContainersStack

    with ContainersStack() as stack:
        yield stack


def test_the_stack_reports_its_endpoints(containers_stack: Any) -> None:
    urls = containers_stack.urls

    assert {"aws", "api", "redis", "stepfunctions"} <= set(urls)
    assert containers_stack.client_environment()["AWS_ENDPOINT_URL"] == urls["aws"]
    assert containers_stack.deployment.target == "containers"


def test_a_run_succeeds_end_to_end_through_localstacks_step_functions_and_lambda(
    containers_stack: Any,
) -> None:
    deployment = containers_stack.deployment
    request_id = f"ok-{uuid.uuid4().hex[:12]}"

    # The first run may wait for LocalStack to start the functions' containers.
    status, body = http_post(
        f"{deployment.api_url}/run", {"request_id": request_id, "payload": {"n": 1}}, 120
    )

    assert status == 200, body
    assert (body["status"], body["request_id"]) == ("SUCCEEDED", request_id)
    assert set(body["output"]["timestamps"]) == set(STAGE_TIMESTAMPS)
    execution = deployment.client("stepfunctions").describe_execution(
        executionArn=body["execution_arn"]
    )
    assert execution["stateMachineArn"] == deployment.state_machine_arn
    assert json.loads(execution["output"]) == body["output"], "the worker's SendTaskSuccess"


def test_a_bad_body_gets_a_400_and_starts_nothing(containers_stack: Any) -> None:
    deployment = containers_stack.deployment
    sfn = deployment.client("stepfunctions")

    def executions() -> int:
        listed = sfn.list_executions(stateMachineArn=deployment.state_machine_arn)
        return len(listed["executions"])

    before = executions()
    status, response = http_post(f"{deployment.api_url}/run", b"{not json", 120)

    assert status == 400, response
    assert executions() == before


def test_redis_answers_ping(containers_stack: Any) -> None:
    import redis

    client = redis.Redis.from_url(containers_stack.urls["redis"])
    try:
        assert client.ping() is True
    finally:
        client.close()
