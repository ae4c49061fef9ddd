"""moto's state dump (``GET /moto-api/data.json``, what its dashboard shows) at the stack's
endpoint answers, functions and all, with no Docker engine, and with the tables DynamoDB's
own process serves."""

from __future__ import annotations

import json
from typing import Any

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from serverless_testbed.embedded.stack import EmbeddedStack


def state_dump(embedded_stack: EmbeddedStack) -> dict[str, Any]:
    url = f"{embedded_stack.urls['aws']}/moto-api/data.json"
    keys = embedded_stack.credentials
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(
        Credentials(keys["AWS_ACCESS_KEY_ID"], keys["AWS_SECRET_ACCESS_KEY"]),
        "execute-api",
        embedded_stack.region,
    ).add_auth(request)

    answer = urllib3.request("GET", url, headers=dict(request.headers.items()), retries=False)

    assert answer.status == 200, answer.data[:200]
    dumped: dict[str, Any] = json.loads(answer.data)
    return dumped


def test_the_state_dump_lists_the_pipelines_functions(embedded_stack: EmbeddedStack) -> None:
    dumped = state_dump(embedded_stack)

    functions = {function["function_name"] for function in dumped["awslambda"]["LambdaFunction"]}
    deployment = embedded_stack.deployment
    pipeline = {deployment.api_function, deployment.dispatcher_function, deployment.worker_function}
    assert pipeline <= functions


def test_the_state_dump_lists_the_tables_of_dynamodb_s_own_process(
    embedded_stack: EmbeddedStack,
) -> None:
    dumped = state_dump(embedded_stack)

    tables = {table["name"] for table in dumped["dynamodb"]["Table"]}
    queues = {queue["name"] for queue in dumped["sqs"]["Queue"]}
    assert embedded_stack.deployment.table_name in tables
    assert embedded_stack.deployment.queue_url.rsplit("/", 1)[1] in queues
