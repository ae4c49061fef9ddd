"""The target layer: the only code that knows where the pipeline runs (embedded, containers, aws).

Everything above it receives a :class:`Deployment` and asks it for clients.
"""

from serverless_testbed.targets.deployment import (
    STACK_OUTPUTS,
    Deployment,
    deployment_from_outputs,
    discover_deployment,
)

TARGETS = ("embedded", "containers", "aws")

__all__ = [
    "STACK_OUTPUTS",
    "TARGETS",
    "Deployment",
    "deployment_from_outputs",
    "discover_deployment",
]
