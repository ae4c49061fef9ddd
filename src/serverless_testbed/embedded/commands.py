"""`testbed up`: start the embedded stack in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

from serverless_testbed.argument_types import (
    non_negative_float,
    non_negative_int,
    port,
    positive_int,
)
from serverless_testbed.emulation.defaults import ENDED_EXECUTIONS_KEPT, LAMBDA_ACCOUNT_CONCURRENCY
from serverless_testbed.emulation.description import read_description, write_description
from serverless_testbed.emulation.http_api import DEFAULT_BURST_LIMIT, DEFAULT_RATE_LIMIT_PER_S
from serverless_testbed.emulation.options import template_parameters
from serverless_testbed.errors import RunFailed, UsageError

# Beside, not on, what docker-compose.yml publishes (LocalStack 4566, the testbed service's
# HTTP API 4567, Redis 6379, Step Functions Local 8083): both can run at once.
DEFAULT_AWS_PORT = 5566
DEFAULT_API_PORT = 5567
DEFAULT_REDIS_PORT = 6399


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "up",
        help="start the embedded stack (no Docker) and keep it running until Ctrl-C",
        description="Start the embedded stack on loopback: moto's server (SQS, DynamoDB, Step "
        "Functions, CloudFormation, IAM, Lambda; DynamoDB served by a moto server in a child "
        "process, reached through the same endpoint), the local Lambda runtime, the SQS "
        "event-source poller, the local HTTP API and a Redis-protocol server; deploy "
        "template.yaml into it; print one 'name: url' line per endpoint, then 'ready'.",
    )
    parser.add_argument("--stack-name", default="testbed", help="stack name (default: testbed)")
    parser.add_argument("--region", default="us-east-1", help="region (default: us-east-1)")
    parser.add_argument("--template", help="SAM template (default: ./template.yaml)")
    parser.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="template parameter override, repeatable (e.g. StageName=dev)",
    )
    for option, default, what in (
        ("--aws-port", DEFAULT_AWS_PORT, "AWS endpoint port"),
        ("--api-port", DEFAULT_API_PORT, "HTTP API port"),
        ("--redis-port", DEFAULT_REDIS_PORT, "Redis port"),
    ):
        parser.add_argument(option, type=port, default=default, help=f"{what} ({default})")
    parser.add_argument(
        "--api-rate-limit",
        type=non_negative_float,
        default=DEFAULT_RATE_LIMIT_PER_S,
        metavar="PER_S",
        help="HTTP API throttle: steady requests per second, as API Gateway's route throttling "
        "(default: API Gateway's account default, %(default)g); over it: 429",
    )
    parser.add_argument(
        "--api-burst-limit",
        type=non_negative_int,
        default=DEFAULT_BURST_LIMIT,
        metavar="N",
        help="HTTP API throttle: burst size (default: %(default)d)",
    )
    parser.add_argument(
        "--lambda-concurrency",
        type=positive_int,
        default=LAMBDA_ACCOUNT_CONCURRENCY,
        metavar="N",
        help="the account's Lambda concurrency limit, shared by the functions without reserved "
        "concurrency (default: Lambda's account default, %(default)d); an invoke over it, or "
        "over a function's reserved concurrency, is throttled (429 TooManyRequestsException)",
    )
    parser.add_argument("--no-redis", action="store_true", help="do not start a Redis server")
    parser.add_argument(
        "--no-dynamodb-process",
        action="store_true",
        help="serve DynamoDB from the stack's own process instead of a child process of its "
        "own (which runs DynamoDB's calls under its own interpreter lock: more throughput)",
    )
    parser.add_argument(
        "--logs", action="store_true", help="print every Lambda function's log lines on stderr"
    )
    parser.add_argument(
        "--json", metavar="FILE", help="also write the endpoints and stack outputs to FILE"
    )
    parser.add_argument(
        "--wait-scale",
        default="1",
        metavar="FACTOR",
        help="scale every Step Functions Wait state by FACTOR (> 0; default 1, real time): "
        "0.001 makes a one-hour wait take 3.6 s",
    )
    parser.add_argument(
        "--ended-executions-kept",
        default=str(ENDED_EXECUTIONS_KEPT),
        metavar="N",
        help="keep the newest N ended executions of each state machine, forget older ones "
        "(DescribeExecution: ExecutionDoesNotExist, as AWS past its retention); each holds "
        "~27 KB of memory (default: %(default)s; all: keep every one)",
    )
    parser.set_defaults(func=run_up)

    health = subparsers.add_parser(
        "health",
        help="check a running `testbed up`: its process and each of its endpoints",
        description="Read the file `testbed up --json FILE` wrote and check the stack's process "
        "and every endpoint it lists. Inside, the stack watches its own parts (moto's server, "
        "the HTTP API, the SQS poller, Redis, DynamoDB's process, the Lambda zygote): it "
        "restarts the zygote and stops, naming the part, when another dies. Exit code 0: all "
        "running; 1: not.",
    )
    health.add_argument(
        "--attach", type=Path, required=True, metavar="FILE", help="the `testbed up --json` file"
    )
    health.add_argument("--json", type=Path, dest="json_file", help="also write the result as JSON")
    health.set_defaults(func=run_health)


def run_up(args: argparse.Namespace) -> int:
    from serverless_testbed.embedded.moto.execution_retention import (
        checked_ended_executions_kept,
    )
    from serverless_testbed.embedded.moto.wait_scale import checked_wait_scale
    from serverless_testbed.embedded.stack import EmbeddedStack
    from serverless_testbed.emulation.http_api import Throttle
    from serverless_testbed.emulation.ports import PortInUse

    wait_scale = checked_wait_scale(args.wait_scale, "--wait-scale")
    kept = checked_ended_executions_kept(args.ended_executions_kept, "--ended-executions-kept")
    died: list[str] = []  # why the stack had to stop, if a part of it died
    started = time.perf_counter()
    stack = EmbeddedStack(
        stack_name=args.stack_name,
        region=args.region,
        template=args.template,
        parameters=template_parameters(args.parameter),
        with_redis=not args.no_redis,
        aws_port=args.aws_port,
        api_port=args.api_port,
        redis_port=args.redis_port,
        log_sink=_print_log_line if args.logs else None,
        wait_scale=wait_scale,
        on_part_died=lambda part, reason: _stop_because(died, f"the {part} died ({reason})"),
        api_throttle=Throttle(args.api_rate_limit, args.api_burst_limit),
        lambda_concurrency=args.lambda_concurrency,
        dynamodb_process=not args.no_dynamodb_process,
        ended_executions_kept=kept,
    )
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _request_stop)
    try:
        stack.start()  # closes what it started if it fails or is stopped
    except PortInUse as error:
        raise UsageError(f"cannot start the stack: {error}") from None
    except OSError as error:
        raise UsageError(f"cannot start the stack: {error} (use port 0 for a free port)") from None
    except _StopRequested:
        return 0
    try:
        _announce(stack, time.perf_counter() - started, args.json)
        _wait_for_a_signal()
    except _StopRequested:
        pass
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)  # closing is bounded; let it finish
        print("stopping...", file=sys.stderr, flush=True)
        stack.close()
    print("stopped", file=sys.stderr)
    if died:
        raise RunFailed(f"{died[0]}: the stack stopped")
    return 0


def run_health(args: argparse.Namespace) -> int:
    from serverless_testbed.embedded.health import PartHealth, PartState, port_answers

    described = read_description(args.attach)
    checks: dict[str, str | None] = {"process": _process_gone(described.get("pid"))}
    for name, url in dict(described.get("endpoints") or {}).items():
        where = urllib.parse.urlsplit(str(url))  # printed by name only: a URL may hold a secret
        checks[f"{name} endpoint"] = port_answers(where.hostname or "127.0.0.1", where.port or 0)
    parts = [
        PartHealth(name, PartState.RUNNING if reason is None else PartState.DEAD, reason or "")
        for name, reason in checks.items()
    ]
    print("| part | state | detail |\n|---|---|---|")
    for part in parts:
        print(f"| {part.name} | {part.state} | {part.detail} |")
    if args.json_file:
        args.json_file.write_text(
            json.dumps([{"part": p.name, "state": p.state, "detail": p.detail} for p in parts])
            + "\n"
        )
    return 0 if all(part.state is PartState.RUNNING for part in parts) else 1


def _process_gone(pid: object) -> str | None:
    if not isinstance(pid, int):
        return "the file names no process (written by an older testbed?)"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return f"process {pid} is gone"
    except PermissionError:
        return None  # it exists, under another user
    return None


def _stop_because(reasons: list[str], reason: str) -> None:
    """From the health watch's thread: stop the way Ctrl-C does, remembering why."""
    reasons.append(reason)
    main = threading.main_thread().ident
    if hasattr(signal, "pthread_kill") and main is not None:
        # To the main thread itself: a signal sent to the process may be taken by any
        # thread (this one included), and then the main thread's wait does not wake.
        signal.pthread_kill(main, signal.SIGTERM)
    else:
        os.kill(os.getpid(), signal.SIGTERM)


class _StopRequested(Exception):
    """Raised in the main thread by SIGINT/SIGTERM."""


def _request_stop(signum: int, frame: Any) -> None:
    # Raising (as Python's own SIGINT handler does) rather than setting an Event: Event.set
    # in a handler deadlocks when the signal lands while the main thread holds the Event's
    # lock inside Event.wait, which happened when a stop came right after "ready".
    # Once: a second signal raised inside the stack's close (the one start() makes when it
    # is stopped, or the one after a part died) would leave parts running whose threads
    # keep the process from exiting. Closing is bounded; let it finish.
    for each in (signal.SIGINT, signal.SIGTERM):
        signal.signal(each, signal.SIG_IGN)
    raise _StopRequested


def _wait_for_a_signal() -> None:
    # Not signal.pause(): a stop signal taken by another thread, or one that lands just
    # before pause() begins, leaves pause() waiting for a signal that never comes (a killed
    # part then did not stop the stack, about one run in ten under load). sleep() returns
    # early for a signal the main thread takes, and at the latest after a second, when
    # Python runs the handler of a signal any thread took.
    while True:
        time.sleep(1.0)


def _announce(stack: Any, elapsed_s: float, json_file: str | None) -> None:
    deployment = stack.deployment
    if json_file:
        write_description(stack, json_file)
    for name, url in stack.urls.items():
        print(f"{name}: {url}")
    if stack.wait_scale != 1:
        hour_s = 3600 * stack.wait_scale
        print(f"wait scale: {stack.wait_scale:g} (a one-hour Wait state takes {hour_s:g} s)")
    print(f"ready in {elapsed_s:.2f} s (stack {deployment.stack_name!r}, Ctrl-C stops it)")
    credentials = stack.credentials  # the stack's own: its endpoints refuse any other
    key, secret = credentials["AWS_ACCESS_KEY_ID"], credentials["AWS_SECRET_ACCESS_KEY"]
    print(
        f"export AWS_ENDPOINT_URL={shlex.quote(stack.urls['aws'])} AWS_ACCESS_KEY_ID={key} "
        f"AWS_SECRET_ACCESS_KEY={shlex.quote(secret)} AWS_DEFAULT_REGION={deployment.region}"
    )
    body = shlex.quote(json.dumps({"payload": {"hello": "world"}}))
    sigv4 = f"aws:amz:{deployment.region}:execute-api"  # POST /run is IAM-authorized
    print(
        f"try: curl -s --aws-sigv4 {sigv4} --user {shlex.quote(f'{key}:{secret}')} "
        f"-H 'Content-Type: application/json' -X POST {deployment.api_url}/run -d {body}"
    )
    print(
        "     aws stepfunctions list-executions --state-machine-arn "
        f"{deployment.state_machine_arn}  (after the export above)"
    )
    sys.stdout.flush()


def _print_log_line(function_name: str, line: str) -> None:
    print(f"[{function_name}] {line}", file=sys.stderr, flush=True)
