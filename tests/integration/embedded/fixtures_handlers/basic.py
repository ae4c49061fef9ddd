"""Handlers that show what a container gives its handler, and how failures come back."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

# Read at import time: the runtime must set the environment before importing the handler.
ENVIRONMENT_AT_IMPORT = dict(os.environ)


def describe(event: Any, context: Any) -> dict[str, Any]:
    return {
        "event": event,
        "pid": os.getpid(),
        "environment_at_import": ENVIRONMENT_AT_IMPORT,
        "context": {
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
        "trace_id": os.environ.get("_X_AMZN_TRACE_ID"),
    }


def noop(event: Any, context: Any) -> dict[str, Any]:
    return {}


def fail(event: Any, context: Any) -> None:
    raise ValueError(f"cannot handle {event!r}")


def sleep(event: dict[str, Any], context: Any) -> dict[str, Any]:
    time.sleep(event["seconds"])
    return {"slept": event["seconds"]}


def exit_process(event: dict[str, Any], context: Any) -> None:
    print("about to exit", flush=True)
    os._exit(event.get("code", 3))


def return_a_set(event: Any, context: Any) -> set[int]:
    return {1, 2}


def write_logs(event: Any, context: Any) -> str:
    print("printed line")
    logging.getLogger().warning("logged warning")
    sys.stderr.write("stderr line\n")
    print("no newline at the end", end="")
    return "logged"


def wait_for_file(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Block until ``event["release"]`` exists (the test decides when the handler ends)."""
    release = Path(event["release"])
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return {"pid": os.getpid(), "released": release.exists()}
