"""Root pytest configuration: which target the tests run on."""

from __future__ import annotations

import pytest

TARGETS = ("embedded", "containers", "aws")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--target",
        choices=TARGETS,
        default="embedded",
        help="where the pipeline runs: embedded (default, no Docker), containers "
        "(testcontainers: needs a Docker engine), aws (a deployed SAM stack)",
    )


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> str:
    return request.config.getoption("--target")
