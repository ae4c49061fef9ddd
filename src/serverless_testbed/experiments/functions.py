"""Which deployed function a user means: a logical id of the stack's template, or a name."""

from __future__ import annotations

import re
from typing import Any

from serverless_testbed.errors import UsageError

# A name, a partial ARN (123456789012:function:name) or an ARN, as Lambda's API accepts them.
FUNCTION_NAME = re.compile(r"[A-Za-z0-9_:.$-]{1,170}")
NOT_FOUND = {"ResourceNotFoundException", "ValidationException", "InvalidParameterValue", "404"}


def resolve_function(
    lambda_client: Any, resource_ids: dict[str, str], name: str, stack_name: str
) -> str:
    """The deployed function name for ``name`` (a logical id such as ``ProbeFunction``, or
    the function's own name or ARN); UsageError when no such function exists."""
    candidate = resource_ids.get(name, name)
    unknown = UsageError(
        f"unknown function {name!r}: neither a logical id of stack {stack_name!r} "
        "nor a deployed function name"
    )
    if not FUNCTION_NAME.fullmatch(candidate):  # e.g. a queue's URL: another kind of resource
        raise unknown
    try:
        configuration = lambda_client.get_function_configuration(FunctionName=candidate)
    except lambda_client.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") in NOT_FOUND:
            raise unknown from None
        raise
    return str(configuration["FunctionName"])
