"""Fault injection: a request may name one stage (contract.FAULT_STAGES) that must fail."""

from __future__ import annotations

from typing import Any


class InjectedFault(Exception):
    """Raised by the stage a request names in ``fail_at``.

    Lambda reports an uncaught exception with its class name as the errorType, and Step
    Functions uses that as the error name: so the class name is the contract's
    INJECTED_FAULT_ERROR (a unit test holds them equal)."""


def fault_requested(request: Any, stage: str) -> bool:
    return isinstance(request, dict) and request.get("fail_at") == stage


def fault_cause(stage: str, request_id: str) -> str:
    return f"fault injected at the {stage} for request {request_id} (fail_at={stage!r})"
