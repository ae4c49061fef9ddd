"""The command-line options that choose and find a target, the same on every command."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from serverless_testbed.targets.stack import TARGETS, TargetOptions


def add_target_arguments(
    parser: argparse.ArgumentParser, *, attach: bool = True, attach_help: str | None = None
) -> None:
    """--target and how to find the stack there; with ``attach``, also how to use a stack
    that already runs (`testbed up --json FILE`, or a compose LocalStack)."""
    parser.add_argument("--target", choices=TARGETS, default="embedded", help="default: embedded")
    parser.add_argument(
        "--stack-name",
        help="the stack's name (aws: else STACK_NAME, else stack_name in samconfig.toml)",
    )
    parser.add_argument(
        "--stage", default=os.environ.get("STAGE"), help="samconfig.toml section (default: STAGE)"
    )
    parser.add_argument("--region", help="AWS region (aws: else AWS_REGION, profile, samconfig)")
    parser.add_argument("--profile", help="AWS profile (aws target only)")
    parser.add_argument(
        "--endpoint-url",
        help="aws target: send AWS calls to this endpoint (AWS_ENDPOINT_URL* in the "
        "environment are ignored for --target aws unless given here)",
    )
    if not attach:
        return
    parser.add_argument(
        "--attach",
        type=Path,
        metavar="FILE",
        help=attach_help
        or "embedded target: use the running stack `testbed up --json FILE` "
        "described instead of starting one",
    )
    parser.add_argument(
        "--aws-url",
        help="containers target: attach to the pipeline already running at this LocalStack "
        "(`docker compose up`, e.g. http://127.0.0.1:4566) instead of starting containers",
    )
    parser.add_argument(
        "--api-url",
        help="with --aws-url: where its HTTP API is reached from here (default: the stack's "
        "ApiUrl output, e.g. http://127.0.0.1:4567)",
    )


def target_options(args: argparse.Namespace, **more: Any) -> TargetOptions:
    """The TargetOptions the arguments of :func:`add_target_arguments` say, plus ``more``."""
    return TargetOptions(
        region=args.region,
        stack_name=args.stack_name,
        stage=args.stage,
        profile=args.profile,
        endpoint_url=args.endpoint_url,
        attach=getattr(args, "attach", None),
        aws_url=getattr(args, "aws_url", None),
        api_url=getattr(args, "api_url", None),
        **more,
    )
