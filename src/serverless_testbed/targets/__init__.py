"""The target layer: the only code that chooses and opens a target (embedded, containers, aws).

Commands and the pytest plugin call :func:`open_stack` (or :func:`open_deployment`) and get a
:class:`Stack`; everything they run receives a :class:`Deployment` and asks it for clients.
The engines behind it (``embedded``, ``containers``, the aws stack in ``targets.aws``) are
imported only when chosen.
"""

from serverless_testbed.deployment import Deployment
from serverless_testbed.targets.open import named_deployment, open_deployment, open_stack
from serverless_testbed.targets.stack import TARGETS, Stack, Target, TargetOptions

__all__ = [
    "TARGETS",
    "Deployment",
    "Stack",
    "Target",
    "TargetOptions",
    "named_deployment",
    "open_deployment",
    "open_stack",
]
