"""What every target's stack offers the code above it, and what a command may ask of a target."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
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
    reach it with boto3's own settings; ``event_source_paused`` and ``logs`` let a test hold a
    function's SQS deliveries back and read what it logged, through the target's own APIs.
    """

    stack_name: str
    region: str
    urls: dict[str, str]

    @property
    def deployment(self) -> Deployment: ...

    @property
    def wait_scale(self) -> float:
        """How its Step Functions Wait states are scaled (1: real time, as on AWS)."""
        ...

    def client(self, service: str) -> Any: ...

    def client_environment(self) -> dict[str, str]: ...

    def resource_ids(self) -> dict[str, str]:
        """Logical id (template.yaml) -> physical id of the stack's deployed resources."""
        ...

    def event_source_paused(self, function_name: str) -> AbstractContextManager[None]:
        """While inside, the function's SQS event-source mappings deliver nothing (disabled
        with UpdateEventSourceMapping, as on AWS); enabled again on exit."""
        ...

    def logs(self, function_name: str) -> list[str]:
        """The function's log lines so far, oldest first (CloudWatch Logs where it exists)."""
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


@dataclass(frozen=True)
class TargetOptions:
    """What a command may say about its target. ``stack_name`` picks another deployed stack
    on the target (aws: else STACK_NAME or samconfig.toml); ``stage``, ``profile`` and
    ``endpoint_url`` apply to aws only; ``embedded`` holds EmbeddedStack's own keywords.
    ``aws_url`` (containers only) attaches to a pipeline that already runs there (`docker
    compose up`) instead of starting containers; ``api_url`` and ``redis_url`` say where its
    HTTP API and Redis are reached from here.
    ``wait_scale`` scales Step Functions Wait states (embedded only: LocalStack cannot, AWS
    must not). ``attach`` is the file `testbed up --json FILE` wrote: the stack that runs
    there is used instead of starting one. ``executions_read_back``: how many ended
    executions per state machine the command reads again after they end (a stack started for
    it keeps at least that many; AWS keeps each for 90 days)."""

    region: str | None = None
    stack_name: str | None = None
    stage: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    with_redis: bool = False
    aws_url: str | None = None
    api_url: str | None = None
    redis_url: str | None = None
    embedded: dict[str, Any] = field(default_factory=dict)
    wait_scale: float = 1.0
    attach: Path | None = None
    executions_read_back: int = 0
