"""`testbed publish` and `testbed worker`: the stress framework's sub-commands.

This module declares the flags and checks them; the runs themselves live in
serverless_testbed.stress.publish.run and serverless_testbed.stress.work.run, imported only
when a command runs, so `testbed --help` answers at once. Every number a flag takes goes
through the shared validators (serverless_testbed/argument_types.py) or the one below:
finite, and positive where a zero or a negative makes no sense.
"""

from __future__ import annotations

import argparse
import math
import os

from serverless_testbed.argument_types import (
    non_negative_float,
    number,
    positive_float,
    positive_int,
)
from serverless_testbed.stress.connection import add_redis_arguments
from serverless_testbed.stress.protocol import CONTROL_SECRET_ENV, DEFAULT_PREFIX

HOURS_PER_DAY = 24


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `testbed publish` and `testbed worker`."""
    _register_publish(subparsers)
    _register_worker(subparsers)


# ---- validators (argparse ``type=`` callables: a bad value is exit 2 with one line)


def hour_of_day(text: str) -> float:
    value = number(text)
    if not (math.isfinite(value) and 0 <= value < HOURS_PER_DAY):
        raise argparse.ArgumentTypeError(f"must be an hour of day, 0 <= H < 24: {text!r}")
    return value


# ---- what both commands share


def _add_shared_arguments(parser: argparse.ArgumentParser, *, redis_required: bool) -> None:
    add_redis_arguments(parser, required=redis_required)
    parser.add_argument(
        "--prefix", default=DEFAULT_PREFIX, help=f"Redis key prefix (default {DEFAULT_PREFIX})"
    )
    parser.add_argument(
        "--control-secret",
        metavar="SECRET",
        help="shared secret that signs control messages (default: the "
        f"{CONTROL_SECRET_ENV} variable; prefer it: a flag is visible in the process list); "
        "a worker without one refuses every control message",
    )


def control_secret(args: argparse.Namespace) -> str | None:
    """--control-secret, else the environment's, else None (an empty value counts as none)."""
    return args.control_secret or os.environ.get(CONTROL_SECRET_ENV) or None


# ---- testbed publish


def _register_publish(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "publish",
        help="publish the traffic of traffic.json to Redis queues for the stress workers",
        description="Sync config.json to {prefix}_cfg (and tell the workers), then publish the "
        "tasks of traffic.json as compact per-10-ms-slot batch descriptors on the queues "
        "{prefix}_q0..q{threads-1}, holding the exact rate on absolute monotonic deadlines. "
        "Both files are fully validated before Redis is touched.",
    )
    _add_shared_arguments(parser, redis_required=False)  # --plan needs no Redis: checked at run
    parser.add_argument(
        "--config", default="config.json", help="config.json path (default ./config.json)"
    )
    parser.add_argument(
        "--traffic", default="traffic.json", help="traffic.json path (default ./traffic.json)"
    )
    parser.add_argument(
        "--plan",
        action="store_true",
        help="print what the traffic file implies (per task: start, end, total, per-hour "
        "counts of profiles) and exit without connecting to Redis (--redis not needed)",
    )
    parser.add_argument(
        "--plan-json",
        metavar="FILE",
        help="with --plan (implied), also write the plan as JSON to FILE",
    )
    parser.add_argument(
        "--stats", action="store_true", help="print a [STATS] line per running task every second"
    )
    parser.add_argument(
        "--summary-json",
        metavar="FILE",
        help="wait for the workers to report every task, then write per-task counts to FILE",
    )
    parser.add_argument(
        "--drain-timeout",
        type=non_negative_float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for the workers' totals after publishing, with --stats or "
        "--summary-json (default 60)",
    )
    parser.add_argument(
        "--catch-up",
        choices=("capped", "skip"),
        default="capped",
        help="when behind: 'capped' publishes the missed slots at once, at most --catch-up-max "
        "slots per wake; 'skip' drops slots whose 10 ms are over and counts them "
        "skipped-late (default capped)",
    )
    parser.add_argument(
        "--catch-up-max",
        type=positive_int,
        default=10,
        metavar="SLOTS",
        help="most slots published in one wake by the capped policy (default 10)",
    )
    parser.add_argument(
        "--start-hour",
        type=hour_of_day,
        metavar="H",
        help="hour of day (0 <= H < 24, fractions allowed) the run starts at, for qpss "
        "profiles (default: the current local time)",
    )
    parser.add_argument(
        "--time-scale",
        type=positive_float,
        default=1.0,
        metavar="X",
        help="run the schedule X times faster than the wall clock (counts unchanged; "
        "for tests; default 1)",
    )
    parser.set_defaults(func=_run_publish)


def _run_publish(args: argparse.Namespace) -> int:
    from serverless_testbed.stress.publish.run import run_publish

    return run_publish(args, control_secret=control_secret(args))


# ---- testbed worker


def _register_worker(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="consume stress descriptors from Redis and run them against DynamoDB or Redis",
        description="Read {prefix}_cfg, listen on {prefix}_notify (signed control messages), "
        "run `threads` consumers on {prefix}_q0..q{threads-1} with a reliable queue "
        "(in-flight lists, heartbeats, reclaim from dead workers), execute the operations "
        "against the backend and report to {prefix}_stats every second and to "
        "{prefix}_totals:{worker} exactly.",
    )
    _add_shared_arguments(parser, redis_required=True)
    parser.add_argument(
        "--db",
        required=True,
        choices=("dynamodb", "redis"),
        help="backend: dynamodb (boto3; endpoint from AWS_ENDPOINT_URL[_DYNAMODB]) or redis "
        "(one hash per item, on the --db-redis server, default the --redis one)",
    )
    parser.add_argument(
        "--db-redis",
        metavar="HOST:PORT|URL",
        help="with --db redis: the Redis holding the items (default: the --redis server)",
    )
    parser.add_argument(
        "--allow-remote-exec",
        action="store_true",
        help="obey signed execute_bash / reboot_instance / terminate_instance (off by default)",
    )
    parser.add_argument("--reboot-command", default="sudo reboot", help="run on reboot_instance")
    parser.add_argument(
        "--terminate-command", default="sudo shutdown -h now", help="run on terminate_instance"
    )
    parser.add_argument(
        "--create-table",
        action="store_true",
        help="with --db dynamodb: create the table (pk: S, on demand) if it is missing",
    )
    parser.add_argument("--worker-id", help="this worker's id (default host-pid-random)")
    parser.add_argument(
        "--dead-after",
        type=positive_float,
        default=5.0,
        metavar="SECONDS",
        help="a worker silent for this long is dead: its work is reclaimed (default 5)",
    )
    parser.add_argument(
        "--batch",
        type=positive_int,
        default=32,
        help="most operations already due sent in one backend round trip (default 32)",
    )
    parser.set_defaults(func=_run_worker)


def _run_worker(args: argparse.Namespace) -> int:
    from serverless_testbed.stress.work.run import run_worker

    return run_worker(args, control_secret=control_secret(args))
