"""pytest fixtures for the pipeline on any target. Use it from a conftest.py:

    pytest_plugins = ["serverless_testbed.targets.pytest_plugin"]

then ask for ``pipeline_stack`` (whichever ``--target`` says) or ``embedded_stack``.
``--wait-scale FACTOR`` starts the embedded stack with its Step Functions Wait states scaled;
the ``set_wait_scale`` fixture changes the scale for one test and puts it back afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, cast

import pytest

from serverless_testbed.targets import TARGETS, Stack, Target, TargetOptions, open_stack

if TYPE_CHECKING:
    from serverless_testbed.embedded.stack import EmbeddedStack


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--target",
        choices=TARGETS,
        default="embedded",
        help="where the pipeline runs: embedded (default: servers on loopback, no Docker), "
        "containers (testcontainers: needs a Docker engine), aws (a deployed SAM stack)",
    )
    parser.addoption(
        "--aws-url",
        help="with --target containers: attach to the pipeline already running at this "
        "LocalStack (`docker compose up`: http://127.0.0.1:4566) instead of starting containers",
    )
    parser.addoption(
        "--api-url",
        help="with --aws-url: where its HTTP API is reached (default: the stack's ApiUrl)",
    )
    parser.addoption(
        "--wait-scale",
        type=float,
        default=1.0,
        help="embedded stack: scale every Step Functions Wait state (0.001: an hour in 3.6 s)",
    )


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Target:
    return request.config.getoption("--target")


@pytest.fixture(scope="session")
def embedded_stack(target: Target, request: pytest.FixtureRequest) -> Iterator[EmbeddedStack]:
    """The embedded stack, started once per test session (only on --target embedded)."""
    if target != "embedded":
        pytest.skip(f"needs the embedded stack's internals (running with --target {target})")
    options = TargetOptions(
        with_redis=True,
        embedded={"idle_timeout_s": 600},
        wait_scale=request.config.getoption("--wait-scale"),
    )
    with open_stack("embedded", options) as stack:
        yield cast("EmbeddedStack", stack)


@pytest.fixture
def set_wait_scale(embedded_stack: EmbeddedStack) -> Iterator[Callable[[float], None]]:
    """Scale the running embedded stack's Wait states for one test: ``set_wait_scale(0.001)``.
    The session's scale comes back after the test."""
    before = embedded_stack.wait_scale
    yield embedded_stack.set_wait_scale
    embedded_stack.set_wait_scale(before)


@pytest.fixture(scope="session")
def pipeline_stack(target: Target, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The stack of the chosen target (see ``serverless_testbed.targets.Stack``)."""
    if target == "embedded":
        yield request.getfixturevalue("embedded_stack")
    elif target == "containers" and request.config.getoption("--aws-url"):
        options = TargetOptions(
            aws_url=request.config.getoption("--aws-url"),
            api_url=request.config.getoption("--api-url"),
        )
        with open_stack("containers", options) as stack:
            yield stack
    elif target == "containers":
        from serverless_testbed.containers.engine import docker_engine_status

        available, reason = docker_engine_status()
        if not available:
            pytest.skip(reason)
        with open_stack("containers", TargetOptions(with_redis=True)) as stack:
            yield stack
    else:
        pytest.skip("the aws target runs only tests/remote (tox -e remote)")
