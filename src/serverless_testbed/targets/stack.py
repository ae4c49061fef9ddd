"""What every target's stack offers the code above it, whichever engine runs it."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Literal, Protocol, Self

from serverless_testbed.deployment import Deployment

Target = Literal["embedded", "containers", "aws"]
TARGETS: tuple[Target, ...] = ("embedded", "containers", "aws")


class Stack(Protocol):
    """A running (or, on AWS, deployed) pipeline stack.

    ``urls`` names its endpoints ("aws", "api", "redis", ... as the target has them);
    ``deployment`` is the pipeline stack found by its CloudFormation outputs; ``client`` gives
    a boto3 client of the target; ``client_environment`` the environment a process needs to
    reach it with boto3's own settings.
    """

    stack_name: str
    region: str
    urls: dict[str, str]

    @property
    def deployment(self) -> Deployment: ...

    def client(self, service: str) -> Any: ...

    def client_environment(self) -> dict[str, str]: ...

    def resource_ids(self) -> dict[str, str]:
        """Logical id (template.yaml) -> physical id of the stack's deployed resources."""
        ...

    def deploy(self, stack_name: str, parameters: dict[str, str] | None = None) -> Deployment:
        """template.yaml again under another name (local targets only)."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...
