"""`testbed up`: start the embedded stack in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading
import time
from typing import Any

from serverless_testbed.emulation.description import write_description
from serverless_testbed.errors import UsageError

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
        "Functions, CloudFormation, IAM, Lambda), the local Lambda runtime, the SQS "
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
        parser.add_argument(option, type=_port, default=default, help=f"{what} ({default})")
    parser.add_argument("--no-redis", action="store_true", help="do not start a Redis server")
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
    parser.set_defaults(func=run_up)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 0-65535: {port}")
    return port


def _parameters(pairs: list[str]) -> dict[str, str]:
    parameters = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--parameter {pair!r}: expected KEY=VALUE")
        parameters[key] = value
    return parameters


def run_up(args: argparse.Namespace) -> int:
    from serverless_testbed.embedded.moto.wait_scale import checked_wait_scale
    from serverless_testbed.embedded.stack import EmbeddedStack
    from serverless_testbed.emulation.ports import PortInUse

    wait_scale = checked_wait_scale(args.wait_scale, "--wait-scale")
    started = time.perf_counter()
    stack = EmbeddedStack(
        stack_name=args.stack_name,
        region=args.region,
        template=args.template,
        parameters=_parameters(args.parameter),
        with_redis=not args.no_redis,
        aws_port=args.aws_port,
        api_port=args.api_port,
        redis_port=args.redis_port,
        log_sink=_print_log_line if args.logs else None,
        wait_scale=wait_scale,
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
    return 0


class _StopRequested(Exception):
    """Raised in the main thread by SIGINT/SIGTERM."""


def _request_stop(signum: int, frame: Any) -> None:
    # Raising (as Python's own SIGINT handler does) rather than setting an Event: Event.set
    # in a handler deadlocks when the signal lands while the main thread holds the Event's
    # lock inside Event.wait, which happened when a stop came right after "ready".
    raise _StopRequested


def _wait_for_a_signal() -> None:
    if hasattr(signal, "pause"):
        while True:
            signal.pause()
    threading.Event().wait()  # Windows has no pause(); nothing ever sets this Event


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
    body = shlex.quote(json.dumps({"payload": {"hello": "world"}}))
    sigv4 = f"aws:amz:{deployment.region}:execute-api"  # POST /run is IAM-authorized
    print(
        f"try: curl -s --aws-sigv4 {sigv4} --user testing:testing "
        f"-H 'Content-Type: application/json' -X POST {deployment.api_url}/run -d {body}"
    )
    print(
        "     AWS_ENDPOINT_URL={} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
        "aws stepfunctions list-executions --state-machine-arn {} --region {}".format(
            stack.urls["aws"], deployment.state_machine_arn, deployment.region
        )
    )
    sys.stdout.flush()


def _print_log_line(function_name: str, line: str) -> None:
    print(f"[{function_name}] {line}", file=sys.stderr, flush=True)
