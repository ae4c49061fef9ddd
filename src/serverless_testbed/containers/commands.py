"""`testbed serve`: deploy template.yaml into a LocalStack that already runs and serve POST /run
in front of it until Ctrl-C (or SIGTERM, as `docker compose down` sends).

It is what docker-compose.yml's ``testbed`` service runs: the same ContainersStack as
`--target containers` in its attach mode (``aws_url``/``redis_url``), so that a plain
`docker compose up` gives a working pipeline. `testbed up` starts its own emulators instead;
`serve` never starts containers (it would need the Docker socket inside its own container).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from serverless_testbed.argument_types import port
from serverless_testbed.emulation.description import write_description
from serverless_testbed.emulation.options import template_parameters
from serverless_testbed.errors import UsageError

DEFAULT_API_PORT = 4567
HEALTH_PATH = "/_localstack/health"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="deploy into a running LocalStack (e.g. docker compose) and serve POST /run",
        description="Wait for the LocalStack at --aws-url, deploy template.yaml into it "
        "through CloudFormation (the code zip through S3, as --target containers does), then "
        "serve the stack's HTTP API (POST /run, by Lambda Invoke on LocalStack) until Ctrl-C "
        "or SIGTERM. Prints one 'name: url' line per endpoint, then 'ready'. Starts no "
        "container: docker-compose.yml runs it as its testbed service.",
    )
    parser.add_argument(
        "--aws-url", required=True, help="LocalStack's URL (compose: http://localstack:4566)"
    )
    parser.add_argument("--redis-url", help="the Redis the stress commands use (announced only)")
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
    parser.add_argument(
        "--api-host",
        default="127.0.0.1",
        help="address the HTTP API listens on (default 127.0.0.1; 0.0.0.0 in a container)",
    )
    parser.add_argument(
        "--api-port",
        type=port,
        default=DEFAULT_API_PORT,
        help=f"HTTP API port ({DEFAULT_API_PORT}; 0: a free one)",
    )
    parser.add_argument(
        "--public-api-url",
        help="the HTTP API's base URL as clients reach it, written into the stack's ApiUrl "
        "output (default: where it listens; compose: http://127.0.0.1:4567)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how long to wait for LocalStack to be ready (default 300)",
    )
    parser.add_argument(
        "--json", metavar="FILE", help="also write the endpoints and stack outputs to FILE"
    )
    parser.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from serverless_testbed.containers.attached import checked_url
    from serverless_testbed.containers.images import LOCALSTACK_SERVICES
    from serverless_testbed.containers.stack import ContainersStack

    aws_url = checked_url("--aws-url", args.aws_url)
    public_api_url = (
        checked_url("--public-api-url", args.public_api_url) if args.public_api_url else None
    )
    if args.wait <= 0:
        raise UsageError(f"--wait must be positive (got {args.wait})")
    parameters = template_parameters(args.parameter)
    started = time.perf_counter()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _request_stop)
    stack = ContainersStack(
        stack_name=args.stack_name,
        region=args.region,
        template=args.template,
        parameters=parameters,
        aws_url=aws_url,
        redis_url=args.redis_url,
        with_redis=False,
        api_host=args.api_host,
        api_port=args.api_port,
        public_api_url=public_api_url,
        replace_existing=True,
    )
    try:
        _say(f"waiting for the AWS endpoint at {aws_url} ...")
        wait_for_aws_endpoint(aws_url, LOCALSTACK_SERVICES, timeout_s=args.wait)
        _say(f"deploying {stack.template} as stack {args.stack_name!r} ...")
        try:
            stack.start()  # closes what it started if it fails or is stopped
        except OSError as error:
            raise UsageError(
                f"cannot serve the HTTP API on {args.api_host}:{args.api_port}: {error}"
            ) from None
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
        _say("stopping...")
        stack.close()
    _say("stopped")
    return 0


def wait_for_aws_endpoint(
    aws_url: str, services: tuple[str, ...], *, timeout_s: float, interval_s: float = 1.0
) -> None:
    """Return once the endpoint is ready: LocalStack's health lists every needed service as
    available or running; an endpoint without that page (any other emulator) once it answers
    HTTP at all. UsageError naming the endpoint after ``timeout_s``."""
    from serverless_testbed.containers.health import localstack_services_ready

    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    while True:
        try:
            with urllib.request.urlopen(f"{aws_url}{HEALTH_PATH}", timeout=5) as response:
                body = response.read().decode("utf-8", "replace")
            if localstack_services_ready(body, services):
                return
            last = f"not every service ready: {body[:200]}"
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return  # not LocalStack: it answers, and deploying will tell the rest
            last = f"{HEALTH_PATH} -> HTTP {error.code}"
        except OSError as error:
            last = str(error)
        if time.monotonic() > deadline:
            raise UsageError(
                f"the AWS endpoint at {aws_url} is not ready after {timeout_s:.0f} s ({last})"
            )
        time.sleep(interval_s)  # polling a server's readiness, with a deadline


class _StopRequested(Exception):
    """Raised in the main thread by SIGINT/SIGTERM."""


def _request_stop(signum: int, frame: Any) -> None:
    raise _StopRequested


def _wait_for_a_signal() -> None:
    if hasattr(signal, "pause"):
        while True:
            signal.pause()
    threading.Event().wait()  # Windows has no pause(); nothing ever sets this Event


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _announce(stack: Any, elapsed_s: float, json_file: str | None) -> None:
    deployment = stack.deployment
    if json_file:
        write_description(stack, json_file)
    for name, url in stack.urls.items():
        print(f"{name}: {url}")
    print(f"ready in {elapsed_s:.2f} s (stack {deployment.stack_name!r}, Ctrl-C stops it)")
    sys.stdout.flush()
