"""Step Functions' ``lambda:invoke`` tasks call moto's Lambda backend in process.

moto's interpreter invokes a function through a boto3 client to its own server: botocore
serialises and signs the request, the server checks the signature, routes it through Flask
(Lambda's REST API is not one of the JSON-protocol calls dispatch.py serves directly) to
``LambdaBackend.invoke`` and serialises the answer, which botocore parses again, all in the
process that runs the interpreter and every other AWS call. Here the interpreter calls
``LambdaBackend.invoke`` itself, the call the HTTP layer would make, and gets the answer that
layer would give: the same function lookup, the same routing to the local Lambda runtime
(behaviour.py), status 200, ``FunctionError`` when the function failed, and a moto error (an
unknown function, a throttled invoke) as the ``ClientError`` botocore would have raised, so
the task fails with the same ``Lambda.<Code>`` error. Calls with more than FunctionName and
Payload (a qualifier, an invocation type, a log type, a client context) still go through the
client.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from botocore.exceptions import ClientError

from serverless_testbed.embedded.moto.patching import Patch, replace

DIRECT_PARAMETERS = frozenset({"FunctionName", "Payload"})
PAYLOAD_LIMIT_BYTES = 6_000_000  # moto's own check, in LambdaResponse.invoke


def apply() -> Patch:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    through_client = vars(lambda_eval_utils)["_invoke_lambda_function"]

    def invoke_lambda_function(parameters: dict, region: str, state_credentials: Any) -> dict:
        if "FunctionName" not in parameters or not set(parameters) <= DIRECT_PARAMETERS:
            return through_client(parameters, region, state_credentials)
        return invoke_in_process(parameters["FunctionName"], parameters.get("Payload"), region)

    return replace(lambda_eval_utils, "_invoke_lambda_function", invoke_lambda_function)


def invoke_in_process(function_name: str, payload: bytes | None, region: str) -> dict:
    """What moto's interpreter gets from ``lambda_client.invoke`` (Payload parsed)."""
    from moto.awslambda.models import lambda_backends
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.core.exceptions import JsonRESTError

    account, region = _account_and_region(function_name, region, DEFAULT_ACCOUNT_ID)
    response_headers: dict[str, str] = {}
    try:
        answer = lambda_backends[account][region].invoke(
            function_name, None, payload or b"{}", {}, response_headers
        )
    except JsonRESTError as error:
        raise _client_error(error) from None
    body = answer.encode() if isinstance(answer, str) else (answer or b"")
    response: dict[str, Any] = {"StatusCode": 200, "Payload": _from_payload(body)}
    if len(body) > PAYLOAD_LIMIT_BYTES:
        response["FunctionError"] = "Unhandled"
        response["Payload"] = {
            "errorMessage": "Response payload size exceeded maximum allowed payload size "
            "(6291556 bytes).",
            "errorType": "Function.ResponseSizeTooLarge",
        }
    elif "x-amz-function-error" in response_headers:
        response["FunctionError"] = response_headers["x-amz-function-error"]
    return response


def _account_and_region(function_name: str, region: str, default_account: str) -> tuple[str, str]:
    """A function ARN names its account and region; a bare name is the caller's."""
    if function_name.startswith("arn:"):
        parts = function_name.split(":")
        if len(parts) >= 7:
            return parts[4], parts[3]
    return default_account, region


def _from_payload(body: bytes) -> Any:
    """What moto's ``_from_payload`` makes of the response stream: JSON, else the text."""
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return body.decode("utf-8", "replace")


def _client_error(error: Any) -> ClientError:
    """The ClientError botocore raises for this moto error's HTTP answer."""
    try:
        message = json.loads(error.description).get("message", error.message)
    except (TypeError, ValueError, AttributeError):
        message = error.message
    return ClientError(
        {
            "Error": {"Code": error.error_type, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": error.code, "RequestId": str(uuid.uuid4())},
        },
        "Invoke",
    )
