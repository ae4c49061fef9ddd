"""The containers target: LocalStack (and, optionally, Step Functions Local) and Redis in
Docker, through testcontainers, for users who have a Docker engine.

``docker_engine_status()`` needs neither the docker SDK nor testcontainers; ``ContainersStack``
imports them only when started, so the core runs without the ``containers`` extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from serverless_testbed.containers.engine import docker_engine_status

if TYPE_CHECKING:
    from serverless_testbed.containers.stack import ContainersStack

__all__ = ["ContainersStack", "docker_engine_status"]


def __getattr__(name: str) -> Any:
    if name == "ContainersStack":
        from serverless_testbed.containers.stack import ContainersStack

        return ContainersStack
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
