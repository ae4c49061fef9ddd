"""A throttled invoke as botocore sees Lambda's 429: the embedded stack's answer parses into
TooManyRequestsException with its Reason, and that error response maps back to the throttle."""

from __future__ import annotations

import json
from typing import Any

import botocore.session
import pytest
from botocore.awsrequest import HTTPHeaders
from botocore.parsers import RestJSONParser

from serverless_testbed.emulation.invoke import THROTTLE_MESSAGE, FunctionThrottled


def parsed_429(body: dict[str, Any]) -> dict[str, Any]:
    """What botocore makes of a 429 Invoke answer with this body (as moto's patch sends it)."""
    model = botocore.session.get_session().get_service_model("lambda")
    operation = model.operation_model("Invoke")
    response = {
        "status_code": 429,
        "headers": HTTPHeaders.from_dict({"X-Amzn-ErrorType": "TooManyRequestsException"}),
        "body": json.dumps(body).encode(),
    }
    parser = RestJSONParser()
    parsed = parser.parse(response, operation.output_shape)
    # As botocore's endpoint adds an error's modeled fields (Reason, Type) to the response.
    error_shape = model.shape_for_error_code(parsed["Error"]["Code"])
    parsed.update(parser.parse(response, error_shape))
    return parsed


@pytest.mark.parametrize(
    "reason",
    ["ReservedFunctionConcurrentInvocationLimitExceeded", "ConcurrentInvocationLimitExceeded"],
)
def test_a_429_answer_parses_into_the_throttle_it_reports(reason: str) -> None:
    response = parsed_429({"Reason": reason, "Type": "User", "message": THROTTLE_MESSAGE})

    assert response["Error"]["Code"] == "TooManyRequestsException"
    assert response["Error"]["Message"] == "Rate Exceeded."
    throttled = FunctionThrottled.from_error_response("f", response)
    assert throttled is not None and throttled.reason == reason


def test_a_429_without_a_reason_is_the_accounts_throttle() -> None:
    throttled = FunctionThrottled.from_error_response(
        "f", parsed_429({"message": THROTTLE_MESSAGE})
    )
    assert throttled is not None and throttled.reason == "ConcurrentInvocationLimitExceeded"


def test_another_error_is_not_a_throttle() -> None:
    response = {"Error": {"Code": "ResourceNotFoundException", "Message": "Function not found"}}
    assert FunctionThrottled.from_error_response("f", response) is None
