"""pytest fixtures for the pipeline on any target. Use it from a conftest.py:

    pytest_plugins = ["serverless_testbed.targets.pytest_plugin"]

then ask for ``pipeline_stack`` (whichever ``--target`` says) or ``embedded_stack``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from serverless_testbed.targets import TARGETS


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--target",
        choices=TARGETS,
        default="embedded",
        help="where the pipeline runs: embedded (default: servers on loopback, no Docker), "
        "containers (testcontainers: needs a Docker engine), aws (a deployed SAM stack)",
    )


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> str:
    return request.config.getoption("--target")


@pytest.fixture(scope="session")
def embedded_stack(target: str) -> Iterator[Any]:
    """The embedded stack, started once per test session (only on --target embedded)."""
    if target != "embedded":
        pytest.skip(f"needs the embedded stack's internals (running with --target {target})")
    from serverless_testbed.local.stack import EmbeddedStack

    with EmbeddedStack(idle_timeout_s=600) as stack:
        yield stack


@pytest.fixture(scope="session")
def pipeline_stack(target: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The stack of the chosen target: anything with .deployment and .client_environment()."""
    if target == "embedded":
        yield request.getfixturevalue("embedded_stack")
    elif target == "containers":
        from serverless_testbed import containers

        available, reason = containers.docker_engine_status()
        if not available:
            pytest.skip(reason)
        with containers.ContainersStack() as stack:
            yield stack
    else:
        pytest.skip("the aws target runs only tests/remote (tox -e remote)")
