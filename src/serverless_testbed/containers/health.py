"""Is LocalStack ready for the pipeline? Read from its /_localstack/health page; no
testcontainers needed (`testbed serve` asks it too, in a container without the extra)."""

from __future__ import annotations

import json


def localstack_services_ready(health_body: str, services: tuple[str, ...]) -> bool:
    """True when /_localstack/health lists every service as available (starts on first use)
    or running."""
    try:
        states = json.loads(health_body).get("services", {})
    except (ValueError, AttributeError):
        return False
    return all(states.get(service) in ("available", "running") for service in services)
