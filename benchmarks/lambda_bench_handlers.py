"""Handlers for bench_lambda_runtime.py (imported by the runtime's containers by module path)."""

from typing import Any


def noop(event: Any, context: Any) -> dict[str, Any]:
    return {}
