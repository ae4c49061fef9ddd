"""The aws target: a stack `sam deploy` made, reached with the developer's credentials.

Endpoint settings: boto3 honours AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE> from the
environment. A shell left pointing at an emulator would silently send an "aws" run there, so
``aws_deployment`` ignores them unless ``use_configured_endpoints`` (or an explicit
``endpoint_url``) says otherwise; ``configured_endpoints`` names them so a caller can say so.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import boto3
import botocore.exceptions
from botocore.config import Config

from serverless_testbed.errors import UsageError
from serverless_testbed.targets.deployment import Deployment, discover_deployment
from serverless_testbed.targets.samconfig import SAMCONFIG, read_deploy_config, resolve_stack_name

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
