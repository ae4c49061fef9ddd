"""Which requests the direct dispatch answers itself (embedded/moto/dispatch.py), and with
which of moto's handlers: the one moto's own Flask app would run. What the answers are is
compared with moto's over real sockets in tests/integration/embedded/test_direct_dispatch.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from moto.dynamodb.responses import DynamoHandler
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.sqs.responses import SQSResponse
from moto.stepfunctions.responses import StepFunctionResponse

from serverless_testbed.embedded.moto.dispatch import JsonTargetDispatch

AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20260101/us-east-1/{service}/aws4_request, "
    "SignedHeaders=host;x-amz-date;x-amz-target, Signature=0"
)


@pytest.fixture(scope="module")
def dispatch() -> JsonTargetDispatch:
    return JsonTargetDispatch(DomainDispatcherApplication(create_backend_app), cors=True)


def _environ(service: str, target: str | None, **changes: str) -> dict[str, Any]:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "CONTENT_TYPE": "application/x-amz-json-1.0",
        "HTTP_HOST": "127.0.0.1:4566",
        "HTTP_AUTHORIZATION": AUTHORIZATION.format(service=service),
    }
    if target is not None:
        environ["HTTP_X_AMZ_TARGET"] = target
    environ.update(changes)
    return environ


@pytest.mark.parametrize(
    ("service", "target", "response_class"),
    [
        ("states", "AWSStepFunctions.DescribeExecution", StepFunctionResponse),
        ("dynamodb", "DynamoDB_20120810.UpdateItem", DynamoHandler),
        ("sqs", "AmazonSQS.ReceiveMessage", SQSResponse),
    ],
)
def test_json_calls_go_to_the_services_dispatch(
    dispatch: JsonTargetDispatch, service: str, target: str, response_class: type
) -> None:
    _, handler = dispatch.route(_environ(service, target))
    assert handler is not None
    assert handler.__name__ == "dispatch"
    assert getattr(handler, "__self__", None) is response_class


@pytest.mark.parametrize(
    ("why", "environ"),
    [
        ("Lambda is REST", _environ("lambda", None, PATH_INFO="/2015-03-31/functions/")),
        ("IAM is query protocol", _environ("iam", None, CONTENT_TYPE="application/x-www-form")),
        ("no target header", _environ("sqs", None)),
        ("another path", _environ("sqs", "AmazonSQS.ListQueues", PATH_INFO="/123/q")),
        ("GET", _environ("dynamodb", "DynamoDB_20120810.ListTables", REQUEST_METHOD="GET")),
        (
            "a CORS request",
            _environ("dynamodb", "DynamoDB_20120810.ListTables", HTTP_ORIGIN="http://x"),
        ),
        ("moto's own API", _environ("sqs", "AmazonSQS.ListQueues", PATH_INFO="/moto-api/")),
        ("another JSON service", _environ("logs", "Logs_20140328.DescribeLogGroups")),
    ],
)
def test_everything_else_takes_motos_route(
    dispatch: JsonTargetDispatch, why: str, environ: dict[str, Any]
) -> None:
    app, handler = dispatch.route(environ)
    assert handler is None, why
    assert app is not None
