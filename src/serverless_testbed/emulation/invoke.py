"""The one contract for invoking a Lambda function locally.

The local HTTP API, the SQS event-source poller and moto's Lambda Invoke (the API and Step
Functions' ``lambda:invoke``) all call functions through an :data:`Invoke`: a function's name
or ARN and the event's JSON bytes in, an :class:`InvokeOutcome` out. The embedded stack answers
it with its Lambda runtime, the containers stack with Lambda Invoke on LocalStack.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

FunctionError = Literal["Unhandled", "Handled"]  # the x-amz-function-error header


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


# (function name or ARN, event JSON bytes) -> outcome; a Lambda service error raises.
Invoke = Callable[[str, bytes], InvokeOutcome]
