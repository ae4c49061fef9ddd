"""The one contract for invoking a Lambda function locally.

The local HTTP API, the SQS event-source poller and moto's Lambda Invoke (the API and Step
Functions' ``lambda:invoke``) all call functions through an :data:`Invoke`: a function's name
or ARN and the event's JSON bytes in, an :class:`InvokeOutcome` out. The embedded stack answers
it with its Lambda runtime, the containers stack with Lambda Invoke on LocalStack.

An invoke over the function's or the account's concurrency raises :class:`FunctionThrottled`
(Lambda's ``TooManyRequestsException``, HTTP 429): nothing ran, and each caller reacts as it
does on AWS (see README, "Lambda concurrency").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

FunctionError = Literal["Unhandled", "Handled"]  # the x-amz-function-error header
# TooManyRequestsException's Reason when an invoke finds no concurrency left: the function's
# reserved concurrency, or the account's unreserved pool.
ThrottleReason = Literal[
    "ReservedFunctionConcurrentInvocationLimitExceeded", "ConcurrentInvocationLimitExceeded"
]
THROTTLE_MESSAGE = "Rate Exceeded."  # Lambda's message for both reasons


class FunctionThrottled(Exception):
    """Lambda refused the invoke for want of concurrency (TooManyRequestsException, 429)."""

    def __init__(self, function_name: str, reason: ThrottleReason) -> None:
        super().__init__(f"{function_name}: {THROTTLE_MESSAGE} ({reason})")
        self.function_name = function_name
        self.reason: ThrottleReason = reason

    @classmethod
    def from_error_response(
        cls, function_name: str, response: dict[str, Any]
    ) -> FunctionThrottled | None:
        """The throttle a Lambda Invoke error response (botocore's ``error.response``) says,
        or None if it says something else."""
        if response.get("Error", {}).get("Code") != "TooManyRequestsException":
            return None
        reason = response.get("Reason")
        if reason == "ReservedFunctionConcurrentInvocationLimitExceeded":
            return cls(function_name, reason)
        return cls(function_name, "ConcurrentInvocationLimitExceeded")


class InvokeOutcome(Protocol):
    @property
    def payload(self) -> bytes:
        """The handler's return value as JSON bytes, or Lambda's error object."""
        ...

    @property
    def function_error(self) -> str | None:
        """None, or the x-amz-function-error header's value ("Unhandled")."""
        ...


@dataclass(frozen=True)
class Invoked:
    """An outcome with nothing but what Lambda's Invoke API returns."""

    payload: bytes
    function_error: str | None = None


# (function name or ARN, event JSON bytes) -> outcome; a Lambda service error raises
# (FunctionThrottled when the function has no concurrency left).
Invoke = Callable[[str, bytes], InvokeOutcome]
