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

from serverless_testbed.emulation.http_api import DEFAULT_BURST_LIMIT, DEFAULT_RATE_LIMIT_PER_S
from serverless_testbed.errors import UsageError


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
    parser.add_argument("--aws-port", type=_port, default=4566, help="AWS endpoint port (4566)")
    parser.add_argument("--api-port", type=_port, default=4567, help="HTTP API port (4567)")
    parser.add_argument("--redis-port", type=_port, default=6399, help="Redis port (6399)")
    parser.add_argument(
        "--api-rate-limit",
        type=_non_negative(float),
        default=DEFAULT_RATE_LIMIT_PER_S,
        metavar="PER_S",
        help="HTTP API throttle: steady requests per second, as API Gateway's route throttling "
        "(default: API Gateway's account default, %(default)g); over it: 429",
    )
    parser.add_argument(
        "--api-burst-limit",
        type=_non_negative(int),
        default=DEFAULT_BURST_LIMIT,
        metavar="N",
        help="HTTP API throttle: burst size (default: %(default)d)",
    )
    parser.add_argument("--no-redis", action="store_true", help="do not start a Redis server")
    parser.add_argument(
        "--logs", action="store_true", help="print every Lambda function's log lines on stderr"
    )
    parser.add_argument(
        "--json", metavar="FILE", help="also write the endpoints and stack outputs to FILE"
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


def _non_negative(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a {kind.__name__}: {text!r}") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"must be >= 0: {text}")
        return value

    return parse


def _parameters(pairs: list[str]) -> dict[str, str]:
    parameters = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--parameter {pair!r}: expected KEY=VALUE")
        parameters[key] = value
    return parameters


def run_up(args: argparse.Namespace) -> int:
    from serverless_testbed.embedded.stack import EmbeddedStack
    from serverless_testbed.emulation.http_api import Throttle

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
        api_throttle=Throttle(args.api_rate_limit, args.api_burst_limit),
    )
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _request_stop)
    try:
        stack.start()  # closes what it started if it fails or is stopped
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
    for name, url in stack.urls.items():
        print(f"{name}: {url}")
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
    if json_file:
        outputs = {
            "endpoints": stack.urls,
            "stack": deployment.stack_name,
            "region": deployment.region,
            "state_machine_arn": deployment.state_machine_arn,
            "queue_url": deployment.queue_url,
            "dead_letter_queue_url": deployment.dead_letter_queue_url,
            "table_name": deployment.table_name,
        }
        with open(json_file, "w") as file:
            json.dump(outputs, file, indent=2)


def _print_log_line(function_name: str, line: str) -> None:
    print(f"[{function_name}] {line}", file=sys.stderr, flush=True)
