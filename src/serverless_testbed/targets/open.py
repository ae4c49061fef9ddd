"""Choosing and opening a target: the one place that knows which engines exist."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from serverless_testbed.deployment import Deployment, discover_deployment
from serverless_testbed.errors import UsageError
from serverless_testbed.targets.stack import Stack, Target, TargetOptions


@contextmanager
def open_stack(target: Target, options: TargetOptions | None = None) -> Iterator[Stack]:
    """Start (embedded, containers) or find (aws) the target's stack; stop it on exit."""
    options = options or TargetOptions()
    if target != "aws" and (options.profile or options.endpoint_url):
        raise UsageError("--profile and --endpoint-url apply only to --target aws")
    if target != "containers" and (options.aws_url or options.api_url or options.redis_url):
        raise UsageError("--aws-url, --api-url and --redis-url apply only to --target containers")
    _check_wait_scale(target, options)
    stack: Stack
    if options.attach is not None:
        from serverless_testbed.targets.attached import AttachedStack

        stack = AttachedStack.read(target, options.attach)
    elif target == "embedded":
        stack = _embedded_stack(options)
    elif target == "containers":
        stack = _containers_stack(options)
    elif target == "aws":
        from serverless_testbed.targets.aws import AwsStack

        stack = AwsStack.find(options)
    else:
        raise UsageError(f"unknown target {target!r}: use embedded, containers or aws")
    with stack:
        yield stack


@contextmanager
def open_deployment(target: Target, options: TargetOptions | None = None) -> Iterator[Deployment]:
    """The pipeline deployment on the target: the stack's own, or ``options.stack_name``."""
    options = options or TargetOptions()
    with open_stack(target, options) as stack:
        yield named_deployment(stack, options.stack_name)


def named_deployment(stack: Stack, stack_name: str | None) -> Deployment:
    """The stack's own deployment, or another stack on it found by its outputs."""
    own = stack.deployment
    if stack_name is None or stack_name == own.stack_name:
        return own
    return discover_deployment(
        stack_name,
        target=own.target,
        session=own.session,
        endpoint_url=own.endpoint_url,
        client_config=own.client_config,
    )


def _check_wait_scale(target: Target, options: TargetOptions) -> None:
    """Refuse a wait scale where it cannot apply, before anything starts."""
    import math

    scale = options.wait_scale
    if not (isinstance(scale, int | float) and math.isfinite(scale) and scale > 0):
        raise UsageError(f"wait scale {scale!r} is not allowed: give a finite number > 0")
    if scale == 1:
        return
    if options.attach is not None:
        raise UsageError(
            "a running stack keeps the wait scale it was started with "
            "(`testbed up --wait-scale`); drop --wait-scale when attaching"
        )
    if target == "containers":
        raise UsageError(
            f"wait scale {scale:g}: LocalStack cannot scale Wait states (localstack issue "
            "13099); use --target embedded, or a wait scale of 1"
        )
    if target == "aws":
        raise UsageError(f"wait scale {scale:g}: AWS waits in real time; use a wait scale of 1")


def _embedded_stack(options: TargetOptions) -> Stack:
    from serverless_testbed.embedded.stack import EmbeddedStack
    from serverless_testbed.emulation.defaults import DEFAULT_REGION, ENDED_EXECUTIONS_KEPT

    embedded = dict(options.embedded)
    if options.wait_scale != 1:
        embedded.setdefault("wait_scale", options.wait_scale)
    if options.executions_read_back > ENDED_EXECUTIONS_KEPT:
        embedded.setdefault("ended_executions_kept", options.executions_read_back)
    return EmbeddedStack(
        region=options.region or DEFAULT_REGION, with_redis=options.with_redis, **embedded
    )


def _containers_stack(options: TargetOptions) -> Stack:
    from serverless_testbed.containers.engine import docker_engine_status
    from serverless_testbed.emulation.defaults import DEFAULT_REGION, DEFAULT_STACK_NAME

    if options.aws_url:
        from serverless_testbed.containers.attached import AttachedStack

        return AttachedStack(
            aws_url=options.aws_url,
            api_url=options.api_url,
            redis_url=options.redis_url,
            stack_name=options.stack_name or DEFAULT_STACK_NAME,
            region=options.region or DEFAULT_REGION,
        )
    if options.api_url or options.redis_url:
        raise UsageError(
            "--api-url and --redis-url describe a running pipeline: give its --aws-url too"
        )
    available, reason = docker_engine_status()
    if not available:
        raise UsageError(f"the containers target needs a Docker engine: {reason}")
    try:
        from serverless_testbed.containers.stack import ContainersStack
    except ImportError as error:
        raise UsageError(
            f"the containers target is not installed here ({error}): "
            "pip install 'serverless-testbed[containers]'"
        ) from None
    return ContainersStack(region=options.region or DEFAULT_REGION, with_redis=options.with_redis)
