"""Which deployed function a user means: a logical id of the stack's template, or a name."""

from __future__ import annotations

from typing import Any

from serverless_testbed.errors import UsageError


def resolve_function(
    lambda_client: Any, resource_ids: dict[str, str], name: str, stack_name: str
) -> str:
    """The deployed function name for ``name`` (a logical id such as ``ProbeFunction``, or
    the function's own name or ARN); UsageError when no such function exists."""
    candidate = resource_ids.get(name, name)
    error_type = lambda_client.exceptions.ResourceNotFoundException
    try:
        configuration = lambda_client.get_function_configuration(FunctionName=candidate)
    except (error_type, lambda_client.exceptions.ClientError) as error:
        if isinstance(error, error_type) or _is_not_found(error):
            raise UsageError(
                f"unknown function {name!r}: neither a logical id of stack {stack_name!r} "
                "nor a deployed function name"
            ) from None
        raise
    return str(configuration["FunctionName"])


def _is_not_found(error: Any) -> bool:
    code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
    return code in ("ResourceNotFoundException", "ValidationException", "InvalidParameterValue")
