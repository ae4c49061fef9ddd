"""`testbed delay`: start, list and cancel delayed tasks (a Wait state, then a Lambda)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from serverless_testbed.errors import RunFailed, UsageError
from serverless_testbed.targets import TargetOptions, named_deployment, open_stack
from serverless_testbed.targets.arguments import add_target_arguments, target_options

DEFAULT_TIMEOUT_S = 30.0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "delay",
        help="delayed tasks: start one (--after/--at), --list the pending, --cancel one",
        description="Delayed tasks longer than SQS's 15-minute DelaySeconds: each is one "
        "execution of the delay state machine in template.yaml, a Wait state (SecondsPath or "
        "TimestampPath) then a Lambda task that records when it fired. On --target embedded "
        "the command starts its own stack unless --attach names a running `testbed up --json "
        "FILE`; a delay in a stack the command started ends with it (use --wait, or attach).",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--after", metavar="SECONDS", help="fire after SECONDS (whole, >= 0)")
    action.add_argument("--at", metavar="ISO8601", help="fire at this time (with a zone, e.g. Z)")
    action.add_argument("--list", action="store_true", help="show the pending delayed tasks")
    action.add_argument("--cancel", metavar="ARN", help="stop this pending delayed task")
    parser.add_argument("--payload", help="JSON handed to the task when it fires (default {})")
    parser.add_argument(
        "--wait", action="store_true", help="after starting, wait until it fires and show that"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help=f"with --wait: seconds past the (scaled) fire time to give up ({DEFAULT_TIMEOUT_S:g})",
    )
    add_target_arguments(parser)
    parser.add_argument(
        "--wait-scale",
        default="1",
        metavar="FACTOR",
        help="embedded stack started by this command: scale Wait states by FACTOR (> 0)",
    )
    parser.add_argument("--json", type=Path, dest="json_file", help="also write the result as JSON")
    parser.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    from serverless_testbed.delay import schedule

    request, options = _validate(args)
    with open_stack(args.target, options) as stack:
        deployment = named_deployment(stack, args.stack_name)
        machine = deployment.require("delay_state_machine_arn")
        sfn = deployment.client("stepfunctions")
        scale = stack.wait_scale
        try:
            if args.list:
                tasks = schedule.pending(sfn, machine, scale)
                result: dict[str, Any] = {"action": "list"}
            elif args.cancel:
                tasks = [schedule.cancel(sfn, machine, args.cancel, scale)]
                result = {"action": "cancel"}
            else:
                assert request is not None
                task = schedule.start(sfn, machine, request, scale)
                tasks = [task]
                result = {"action": "start"}
                if args.wait:
                    with _status(f"waiting for {task.execution_arn.rsplit(':', 1)[-1]}") as poll:
                        task, output = schedule.wait_until_done(
                            sfn, machine, task, args.timeout, on_poll=poll
                        )
                    tasks = [task]
                    result["fired"] = output
                elif args.attach is None and deployment.target == "embedded":
                    print(
                        "testbed delay: note: this embedded stack stops when the command "
                        "ends, and the delay with it: use --wait, or `testbed up --json FILE` "
                        "and --attach FILE",
                        file=sys.stderr,
                    )
        except TimeoutError as error:
            raise RunFailed(str(error)) from None
    result |= {
        "target": deployment.target,
        "stack": deployment.stack_name,
        "state_machine_arn": machine,
        "wait_scale": scale,
        "delays": [task.to_json() for task in tasks],
    }
    sys.stdout.write(render(result))
    if args.json_file:
        args.json_file.write_text(json.dumps(result, indent=2) + "\n")
    fired = result.get("fired")
    if args.wait and tasks[0].status != "SUCCEEDED":
        raise RunFailed(f"{tasks[0].execution_arn} ended {tasks[0].status}")
    if args.wait and not fired:
        raise RunFailed(f"{tasks[0].execution_arn} ended without a firing record")
    return 0


def _validate(args: argparse.Namespace) -> tuple[Any, TargetOptions]:
    """Check every input before anything starts; the request to start (None to list/cancel)."""
    from serverless_testbed.delay import schedule

    request = None
    if args.after is not None or args.at is not None:
        payload = schedule.parse_payload(args.payload)
        if args.after is not None:
            request = schedule.DelayRequest(schedule.parse_after(args.after), None, payload)
        else:
            fire_at = schedule.parse_at(args.at, datetime.now(UTC))
            request = schedule.DelayRequest(None, fire_at, payload)
    else:
        for option, given in (("--payload", args.payload), ("--wait", args.wait)):
            if given:
                raise UsageError(f"{option} applies only with --after or --at")
    if args.timeout <= 0:
        raise UsageError(f"--timeout {args.timeout:g} is not allowed: give seconds > 0")
    if args.json_file is not None and not args.json_file.parent.is_dir():
        raise UsageError(
            f"--json {args.json_file}: directory {args.json_file.parent} does not exist"
        )
    options = target_options(args, wait_scale=_wait_scale(args.wait_scale))
    return request, options


def _wait_scale(text: str) -> float:
    import math

    try:
        scale = float(text)
    except ValueError:
        raise UsageError(f"--wait-scale {text!r} is not a number: give a number > 0") from None
    if not math.isfinite(scale) or scale <= 0:
        raise UsageError(f"--wait-scale {text!r} is not allowed: give a finite number > 0")
    return scale


def render(result: dict[str, Any]) -> str:
    """Markdown for people: one row per delayed task."""
    scaled = result["wait_scale"] != 1
    titles = {
        "start": "Delayed task started",
        "list": "Pending delayed tasks",
        "cancel": "Delayed task cancelled",
    }
    title = titles[result["action"]]
    if result.get("fired"):
        title = "Delayed task started and fired"
    lines = [
        f"## {title}",
        "",
        f"target {result['target']}, stack {result['stack']}, state machine "
        f"{result['state_machine_arn']}"
        + (f", wait scale {result['wait_scale']:g}" if scaled else ""),
        "",
    ]
    header = ["execution", "status", "started", "fires at"]
    if scaled:
        header.append(f"fires at (x{result['wait_scale']:g})")
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for task in result["delays"]:
        row = [
            task["execution_arn"],
            task["status"],
            task["started_at"],
            task["fires_at"] or "-",
        ]
        if scaled:
            row.append(task["fires_at_scaled"] or "-")
        lines.append("| " + " | ".join(row) + " |")
    if not result["delays"]:
        lines.append("| (none) |" + " |" * (len(header) - 1))
    fired = result.get("fired")
    if fired:
        lines += ["", f"fired at {fired.get('fired_at')} ({fired.get('outcome')})"]
    return "\n".join(lines) + "\n"


@contextmanager
def _status(message: str) -> Iterator[Any]:
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield lambda: None
