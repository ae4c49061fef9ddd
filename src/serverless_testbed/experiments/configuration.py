"""Changing a function's configuration and waiting until Lambda has applied it."""

from __future__ import annotations

import time
from typing import Any

UPDATE_TIMEOUT_S = 120.0
POLL_S = 0.05


def update_configuration(lambda_client: Any, function_name: str, **changes: Any) -> None:
    """UpdateFunctionConfiguration, then wait for LastUpdateStatus Successful (AWS applies a
    change asynchronously; an invoke before that may still run the old configuration)."""
    lambda_client.update_function_configuration(FunctionName=function_name, **changes)
    deadline = time.monotonic() + UPDATE_TIMEOUT_S
    while True:
        status = lambda_client.get_function_configuration(FunctionName=function_name).get(
            "LastUpdateStatus", "Successful"
        )
        if status == "Successful":
            return
        if status == "Failed" or time.monotonic() > deadline:
            raise RuntimeError(f"configuration update of {function_name}: {status}")
        time.sleep(POLL_S)  # polling the update's status, with a deadline
