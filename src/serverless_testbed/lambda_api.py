"""What the Lambda and CloudWatch Logs APIs let a caller do to a deployed function, the same
wherever those APIs are real (LocalStack, AWS): pause its SQS event source, read its log lines.

The embedded stack has its own versions of both (its poller and its in-memory logs), with the
same signatures; ``targets.Stack`` offers them on every target.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import botocore.exceptions

POLL_INTERVAL_S = 0.2


@contextmanager
def event_source_paused(
    lambda_client: Any, function_name: str, timeout_s: float = 60.0
) -> Iterator[None]:
    """Disable the function's event-source mappings (UpdateEventSourceMapping) and return once
    Lambda reports each one ``Disabled``; enable them again on exit, and wait for ``Enabled``."""
    uuids = [
        mapping["UUID"]
        for mapping in lambda_client.list_event_source_mappings(FunctionName=function_name)[
            "EventSourceMappings"
        ]
    ]
    try:
        for uuid in uuids:
            lambda_client.update_event_source_mapping(UUID=uuid, Enabled=False)
        _wait_for_state(lambda_client, uuids, "Disabled", function_name, timeout_s)
        yield
    finally:
        for uuid in uuids:
            lambda_client.update_event_source_mapping(UUID=uuid, Enabled=True)
        _wait_for_state(lambda_client, uuids, "Enabled", function_name, timeout_s)


def _wait_for_state(
    lambda_client: Any, uuids: list[str], state: str, function_name: str, timeout_s: float
) -> None:
    def states() -> set[str]:
        return {lambda_client.get_event_source_mapping(UUID=uuid)["State"] for uuid in uuids}

    wait_for(
        lambda: states() <= {state},
        timeout_s=timeout_s,
        what=f"the event sources of {function_name} {state}",
    )


def function_log_lines(logs_client: Any, function_name: str) -> list[str]:
    """Every log line of the function's log group (/aws/lambda/NAME), oldest first; none yet
    when the group does not exist (no invocation has logged)."""
    paginator = logs_client.get_paginator("filter_log_events")
    lines: list[str] = []
    try:
        for page in paginator.paginate(logGroupName=f"/aws/lambda/{function_name}"):
            lines.extend(event["message"].rstrip("\n") for event in page.get("events", []))
    except botocore.exceptions.ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    return lines


def wait_for(condition: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    """Poll an API until ``condition()`` holds; TimeoutError naming ``what`` after the
    deadline."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(POLL_INTERVAL_S)
