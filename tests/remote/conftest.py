"""The remote tests run against a deployed stack, found by its CloudFormation outputs.

Skipped unless RUN_REMOTE_TESTS=1 or --target aws. The stack: STACK_NAME, else stack_name
in ./samconfig.toml (section STAGE, else default). AWS calls use boto3's standard settings:
credentials, region and profile as the AWS CLI finds them, and AWS_ENDPOINT_URL* if set
(`tox -e remote` does not pass those through; the offline proof sets them on purpose).
"""

from __future__ import annotations

import os

import pytest

from serverless_testbed.deployment import Deployment
from serverless_testbed.errors import UsageError

SKIP_REASON = (
    "remote tests need a deployed stack: set RUN_REMOTE_TESTS=1 (plus STACK_NAME or a "
    "samconfig.toml, AWS credentials and a region; STAGE and REPEAT optional) or run "
    "`tox -e remote` (pytest tests/remote --target aws)"
)
DEFAULT_REPEAT = 10


def remote_tests_enabled(config: pytest.Config) -> bool:
    return os.environ.get("RUN_REMOTE_TESTS") == "1" or config.getoption("--target") == "aws"


@pytest.fixture(scope="session")
def repeat() -> int:
    raw = os.environ.get("REPEAT", str(DEFAULT_REPEAT))
    if not raw.isdigit() or int(raw) < 1:
        raise pytest.UsageError(f"REPEAT must be a positive whole number (got {raw!r})")
    return int(raw)


@pytest.fixture(scope="session")
def remote_deployment(request: pytest.FixtureRequest) -> Deployment:
    if not remote_tests_enabled(request.config):
        pytest.skip(SKIP_REASON)
    from serverless_testbed.targets.aws import aws_deployment, configured_endpoints

    try:
        deployment = aws_deployment(
            stack_name=None,  # STACK_NAME, else samconfig.toml
            stage=os.environ.get("STAGE") or None,
            region=None,
            profile=None,
            use_configured_endpoints=True,
        )
    except UsageError as error:
        pytest.fail(f"cannot find the stack: {error}", pytrace=False)
    endpoints = configured_endpoints(os.environ)
    print(
        f"remote stack {deployment.stack_name} in {deployment.region}"
        + (f" via {endpoints}" if endpoints else "")
    )
    return deployment
