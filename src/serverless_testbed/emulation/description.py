"""The file a running local stack describes itself in (`testbed up --json`, `testbed serve
--json`): its endpoints, outputs and resources, for scripts and for attaching to it
(``targets.attached``). It holds the stack's secrets (its AWS credentials, its Redis
password), so only its owner may read it, and it is written before the stack says "ready",
so whoever waits for that line finds it whole.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from serverless_testbed.errors import UsageError


def description(stack: Any) -> dict[str, Any]:
    deployment = stack.deployment
    return {
        "endpoints": stack.urls,
        # AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY the stack's endpoints accept.
        "credentials": stack.credentials,
        "stack": deployment.stack_name,
        "region": deployment.region,
        "target": deployment.target,
        "api_url": deployment.api_url,
        "state_machine_arn": deployment.state_machine_arn,
        "queue_url": deployment.queue_url,
        "dead_letter_queue_url": deployment.dead_letter_queue_url,
        "table_name": deployment.table_name,
        "wait_scale": stack.wait_scale,
        "outputs": deployment.outputs(),
        "resources": stack.resource_ids(),  # logical id -> physical id
        "pid": os.getpid(),  # the process that runs the stack
    }


def write_description(stack: Any, path: str | Path) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(descriptor, "w") as file:
        json.dump(description(stack), file, indent=2)


def read_description(path: Path) -> dict[str, Any]:
    """A description file's content, or a one-line UsageError naming the file."""
    try:
        described = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(
            f"attach file {path} not found: write it with `testbed up --json FILE`"
        ) from None
    except (OSError, ValueError) as error:
        raise UsageError(f"attach file {path} is not readable JSON: {error}") from None
    if not isinstance(described, dict):
        raise UsageError(f"attach file {path}: expected a JSON object")
    return described
