"""The aws target: a stack `sam deploy` made, reached with the developer's credentials.

Endpoint settings: boto3 honours AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE> from the
environment. A shell left pointing at an emulator would silently send an "aws" run there, so
``aws_deployment`` ignores them unless ``use_configured_endpoints`` (or an explicit
``endpoint_url``) says otherwise; ``configured_endpoints`` names them so a caller can say so.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import boto3
import botocore.exceptions
from botocore.config import Config

from serverless_testbed import lambda_api
from serverless_testbed.deployment import Deployment, discover_deployment, stack_resource_ids
from serverless_testbed.errors import UsageError
from serverless_testbed.targets.samconfig import SAMCONFIG, read_deploy_config, resolve_stack_name

if TYPE_CHECKING:
    from serverless_testbed.targets.stack import TargetOptions

ENDPOINT_ENV_PREFIX = "AWS_ENDPOINT_URL"


def configured_endpoints(environ: Mapping[str, str]) -> dict[str, str]:
    """The boto3 endpoint settings present in an environment (AWS_ENDPOINT_URL*)."""
    return {k: v for k, v in environ.items() if k.startswith(ENDPOINT_ENV_PREFIX) and v}


def aws_session(region: str | None, profile: str | None) -> boto3.Session:
    """A session with a region and credentials, or a one-line UsageError naming the fix."""
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except botocore.exceptions.ProfileNotFound:
        raise UsageError(
            f"AWS profile {profile!r} not found: pass an existing --profile "
            "(see `aws configure list-profiles`)"
        ) from None
    if not session.region_name:
        raise UsageError("no AWS region: pass --region or set AWS_REGION / AWS_DEFAULT_REGION")
    if session.get_credentials() is None:
        raise UsageError(
            "no AWS credentials: run `aws configure` (or `aws sso login`), "
            "or pass --profile / set AWS_PROFILE"
        )
    return session


def aws_deployment(
    *,
    stack_name: str | None,
    stage: str | None,
    region: str | None,
    profile: str | None,
    environ: Mapping[str, str] | None = None,
    samconfig_path: Path | None = None,
    use_configured_endpoints: bool = False,
    endpoint_url: str | None = None,
) -> Deployment:
    """Find the stack: --stack-name, else STACK_NAME, else samconfig.toml's stack_name
    (section --stage, else default); region and profile fall back to samconfig too."""
    environ = os.environ if environ is None else environ
    path = samconfig_path or Path.cwd() / SAMCONFIG
    samconfig = read_deploy_config(path, stage)
    name = resolve_stack_name(stack_name, dict(environ), samconfig, path)
    region = region or environ.get("AWS_REGION") or None
    if samconfig is not None:
        profile = profile or (None if environ.get("AWS_PROFILE") else samconfig.profile)
        if not (region or environ.get("AWS_DEFAULT_REGION")):
            region = samconfig.region
    session = aws_session(region, profile)
    client_config = (
        None if use_configured_endpoints else Config(ignore_configured_endpoint_urls=True)
    )
    return discover_deployment(
        name,
        target="aws",
        session=session,
        endpoint_url=endpoint_url,
        client_config=client_config,
    )


class AwsStack:
    """A stack `sam deploy` made: found, not started, so there is nothing to stop."""

    def __init__(self, deployment: Deployment) -> None:
        self._deployment = deployment
        self.stack_name = deployment.stack_name
        self.region = deployment.region
        self.urls = {"api": deployment.api_url}

    @classmethod
    def find(cls, options: TargetOptions) -> AwsStack:
        ignored = configured_endpoints(os.environ)
        if ignored and not options.endpoint_url:
            print(
                f"testbed: note: ignoring {', '.join(sorted(ignored))} for --target aws "
                "(pass --endpoint-url to use an endpoint)",
                file=sys.stderr,
            )
        return cls(
            aws_deployment(
                stack_name=options.stack_name,
                stage=options.stage,
                region=options.region,
                profile=options.profile,
                endpoint_url=options.endpoint_url,
            )
        )

    @property
    def deployment(self) -> Deployment:
        return self._deployment

    @property
    def wait_scale(self) -> float:
        return 1.0

    def client(self, service: str) -> Any:
        return self._deployment.client(service)

    def client_environment(self) -> dict[str, str]:
        """Region only: credentials and profile stay with boto3's own chain."""
        return {"AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region}

    def resource_ids(self) -> dict[str, str]:
        return stack_resource_ids(self.client("cloudformation"), self.stack_name)

    @contextmanager
    def event_source_paused(self, function_name: str, timeout_s: float = 120.0) -> Iterator[None]:
        with lambda_api.event_source_paused(self.client("lambda"), function_name, timeout_s):
            yield

    def logs(self, function_name: str) -> list[str]:
        return lambda_api.function_log_lines(self.client("logs"), function_name)

    def deploy(self, stack_name: str, parameters: dict[str, str] | None = None) -> Deployment:
        raise UsageError("on --target aws, deploy with `sam deploy` (see the README)")

    def close(self) -> None:
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
