"""Sub-commands of `testbed` for the stress part (registered by serverless_testbed.cli).

A thin table: `testbed publish` is declared here; `testbed worker` is declared by the worker
side in serverless_testbed.stress.worker_cli (a ``register(subparsers)`` function), so the two
sides never edit the same lines. Heavy imports happen inside the commands, never at import
time, so `testbed --help` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os

from serverless_testbed.stress.connection import add_redis_arguments
from serverless_testbed.stress.protocol import CONTROL_SECRET_ENV, DEFAULT_PREFIX

WORKER_CLI = "serverless_testbed.stress.worker_cli"  # worker side: defines register(subparsers)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this part's sub-commands to `testbed`."""
    _register_publish(subparsers)
    _register_worker(subparsers)


def _register_worker(subparsers: argparse._SubParsersAction) -> None:
    # ---- worker side: `testbed worker` lives in stress/worker_cli.py (owned by the worker side)
    if importlib.util.find_spec(WORKER_CLI) is not None:
        importlib.import_module(WORKER_CLI).register(subparsers)


def _register_publish(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "publish",
        help="publish the traffic of traffic.json to Redis queues for the stress workers",
        description="Sync config.json to {prefix}_cfg (and tell the workers), then publish the "
        "tasks of traffic.json as compact per-10-ms-slot batch descriptors on the queues "
        "{prefix}_q0..q{threads-1}, holding the exact rate on absolute monotonic deadlines. "
        "Both files are fully validated before Redis is touched.",
    )
    add_redis_arguments(parser, required=False)  # --plan needs no Redis: checked at run
    parser.add_argument(
        "--prefix", default=DEFAULT_PREFIX, help=f"Redis key prefix (default {DEFAULT_PREFIX})"
    )
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
        type=_non_negative_float,
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
        type=_positive_int,
        default=10,
        metavar="SLOTS",
        help="most slots published in one wake by the capped policy (default 10)",
    )
    parser.add_argument(
        "--start-hour",
        type=_hour,
        metavar="H",
        help="hour of day (0-24, fractions allowed) the run starts at, for qpss profiles "
        "(default: the current local time)",
    )
    parser.add_argument(
        "--time-scale",
        type=_positive_float,
        default=1.0,
        metavar="X",
        help="run the schedule X times faster than the wall clock (counts unchanged; "
        "for tests; default 1)",
    )
    parser.add_argument(
        "--control-secret",
        default=None,
        metavar="SECRET",
        help=f"secret that signs control messages (prefer the {CONTROL_SECRET_ENV} variable: "
        "command lines are visible to other users)",
    )
    parser.set_defaults(func=_run_publish)


def _run_publish(args: argparse.Namespace) -> int:
    from serverless_testbed.stress.publish_command import run_publish_command

    if args.control_secret is None:
        args.control_secret = os.environ.get(CONTROL_SECRET_ENV) or None
    return run_publish_command(args)


def _positive_int(text: str) -> int:
    value = int(_number(text, int))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {text!r}")
    return value


def _positive_float(text: str) -> float:
    value = _number(text, float)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0: {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    value = _number(text, float)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0: {text!r}")
    return value


def _hour(text: str) -> float:
    value = _number(text, float)
    if not 0 <= value < 24:
        raise argparse.ArgumentTypeError(f"must be an hour of day, 0 <= H < 24: {text!r}")
    return value


def _number(text: str, kind: type) -> float | int:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
