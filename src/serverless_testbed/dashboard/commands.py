"""`testbed dashboard`: serve the live view of a stack on loopback, or print one look."""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from serverless_testbed.argument_types import number, port
from serverless_testbed.errors import UsageError
from serverless_testbed.stress.connection import (
    add_redis_arguments,
    redis_target,
    target_from_args,
)
from serverless_testbed.stress.protocol import DEFAULT_PREFIX
from serverless_testbed.targets import open_stack
from serverless_testbed.targets.arguments import add_target_arguments, target_options

if TYPE_CHECKING:
    from serverless_testbed.dashboard.sampler import Sampler
    from serverless_testbed.dashboard.server import DashboardServer

DEFAULT_PORT = 8089
DEFAULT_INTERVAL_S = 1.0
# On AWS, ListExecutions refills 5 calls/s in its largest regions and 2/s elsewhere, for the
# whole account; a look lists twice per state machine (its RUNNING ones, then the newest):
# every 5 s, the pipeline's two state machines use 0.8 of those 2 calls/s.
AWS_DEFAULT_INTERVAL_S = 5.0
MIN_INTERVAL_S = 0.2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dashboard",
        help="a live web view of the pipeline's executions, its queues and the stress workers",
        description="Watch a stack through its own APIs (ListExecutions, GetQueueAttributes, "
        "the stress workers' reports on Redis) and serve a live page on 127.0.0.1: executions "
        "started and ended per second, their durations, queue depths, stress throughput and "
        "latency, recent failures with their causes. Read-only. With --once: one look, "
        "printed as Markdown (--json FILE for the figures).",
    )
    add_target_arguments(
        parser,
        attach_help="embedded target: watch the running stack `testbed up --json FILE` "
        "described (without it, a stack is started for the dashboard)",
    )
    parser.add_argument(
        "--port", type=port, default=DEFAULT_PORT, help=f"port ({DEFAULT_PORT}; 0: a free one)"
    )
    parser.add_argument(
        "--interval",
        type=_interval,
        metavar="SECONDS",
        help=f"between looks ({DEFAULT_INTERVAL_S:g}, --target aws {AWS_DEFAULT_INTERVAL_S:g}: "
        f"ListExecutions' account quota; at least {MIN_INTERVAL_S:g}); each look lists the "
        "executions that changed, two calls per state machine",
    )
    add_redis_arguments(parser, required=False)
    parser.add_argument(
        "--prefix",
        default=DEFAULT_PREFIX,
        help=f"the stress framework's Redis key prefix ({DEFAULT_PREFIX})",
    )
    parser.add_argument(
        "--once", action="store_true", help="look twice, --interval apart, print and exit"
    )
    parser.add_argument("--json", type=Path, dest="json_file", help="with --once: write it here")
    parser.set_defaults(func=run_command)


def _interval(text: str) -> float:
    seconds = number(text)
    if not (math.isfinite(seconds) and seconds >= MIN_INTERVAL_S):
        raise argparse.ArgumentTypeError(f"must be at least {MIN_INTERVAL_S:g} s: {text!r}")
    return seconds


def default_interval(target: str) -> float:
    return AWS_DEFAULT_INTERVAL_S if target == "aws" else DEFAULT_INTERVAL_S


def run_command(args: argparse.Namespace) -> int:
    from serverless_testbed.dashboard.server import DashboardServer
    from serverless_testbed.dashboard.watching import sampler_for

    if args.interval is None:
        args.interval = default_interval(args.target)
    if args.json_file is not None and not args.once:
        raise UsageError("--json goes with --once (the live page serves /api/snapshot)")
    if args.json_file is not None and not args.json_file.resolve().parent.is_dir():
        raise UsageError(f"--json {args.json_file}: its directory does not exist")
    explicit_redis = target_from_args(args) if args.redis else None
    # Bound first: a taken port is refused before any stack starts.
    server = None if args.once else DashboardServer(args.port)
    try:
        with open_stack(args.target, target_options(args)) as stack:
            redis = explicit_redis
            if redis is None and "redis" in stack.urls:
                redis = redis_target(stack.urls["redis"])
            sampler = sampler_for(
                stack.deployment,
                redis_client=redis.client() if redis else None,
                prefix=args.prefix,
                interval_s=args.interval,
            )
            if server is None:
                return _once(sampler, args)
            return _serve(server, sampler, redis.redacted if redis else None)
    finally:
        if server is not None:
            server.stop()


def _once(sampler: Sampler, args: argparse.Namespace) -> int:
    from serverless_testbed.dashboard.report import markdown

    sampler.start_watches()
    try:
        sampler.sample_now()
        threading.Event().wait(args.interval)
        snapshot = sampler.sample_now()
    finally:
        sampler.stop()
    print(markdown(snapshot))
    if args.json_file is not None:
        args.json_file.write_text(json.dumps(snapshot, indent=2) + "\n")
    return 0


def _serve(server: DashboardServer, sampler: Sampler, redis_shown: str | None) -> int:
    sampler.start()
    server.start(sampler)
    listening = f", stress reports from {redis_shown}" if redis_shown else ""
    print(f"dashboard: {server.url} (Ctrl-C stops it){listening}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sampler.stop()
    print("dashboard stopped", file=sys.stderr)
    return 0
