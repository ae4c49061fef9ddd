"""moto's state dump (``GET /moto-api/data.json``, what its dashboard shows) at the stack's
endpoint answers, functions and all, with no Docker engine."""

from __future__ import annotations

import json

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from serverless_testbed.embedded.stack import EmbeddedStack


def test_the_state_dump_lists_the_pipelines_functions(embedded_stack: EmbeddedStack) -> None:
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
    dumped = json.loads(answer.data)
    functions = {function["function_name"] for function in dumped["awslambda"]["LambdaFunction"]}
    deployment = embedded_stack.deployment
    pipeline = {deployment.api_function, deployment.dispatcher_function, deployment.worker_function}
    assert pipeline <= functions
