"""`testbed invoke` and `testbed coldstart`: Lambda experiments on any target."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from serverless_testbed.errors import RunFailed, UsageError
from serverless_testbed.targets import Stack, open_stack
from serverless_testbed.targets.arguments import add_target_arguments, target_options

PROBE_FUNCTION = "ProbeFunction"  # the probe's logical id in template.yaml
ATTACH_HELP = (
    "use the running stack `testbed up --json FILE` described (its containers stay warm from "
    "one command to the next, as a deployed function's do)"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    invoke = subparsers.add_parser(
        "invoke",
        help="invoke a function and print its result and its START/END/REPORT log lines",
        description="Invoke FUNCTION (a logical id of template.yaml, e.g. ProbeFunction, or a "
        "deployed function name) with Lambda Invoke and LogType=Tail, as `sam local invoke` "
        "and `aws lambda invoke` do; print the result on stdout and the log tail (START, "
        "END, REPORT with Duration, Billed Duration, Memory Size, Max Memory Used and, on "
        "a cold start, Init Duration) on stderr.",
    )
    invoke.add_argument("function", metavar="FUNCTION", help="logical id or function name")
    invoke.add_argument("--event", metavar="FILE", help="the event: a JSON file, or - for stdin")
    add_target_arguments(invoke, attach_help=ATTACH_HELP)
    invoke.add_argument("--json", type=Path, dest="json_file", help="write the outcome as JSON")
    invoke.set_defaults(func=run_invoke)

    coldstart = subparsers.add_parser(
        "coldstart",
        help="W concurrent callers, N probe invocations: which container served each one",
        description="Call the probe function (ProbeFunction) N times from W concurrent "
        "callers and show, per container, how many invocations it served, its first and last "
        "use and its Init Duration, then a summary (containers, cold starts, reuse spread). "
        "--sleep-ms makes each invocation sleep; --force-cold changes the function's "
        "configuration before every invocation so that each one is a cold start (the "
        "invocations then run one at a time).",
    )
    coldstart.add_argument("--workers", type=int, default=4, metavar="W", help="callers (4)")
    coldstart.add_argument(
        "--iterations", type=int, default=40, metavar="N", help="invocations in all (40)"
    )
    coldstart.add_argument(
        "--sleep-ms", type=float, default=0.0, metavar="S", help="probe sleeps S ms (0)"
    )
    coldstart.add_argument(
        "--force-cold", action="store_true", help="make every invocation a cold start"
    )
    coldstart.add_argument(
        "--function", default=PROBE_FUNCTION, help="the probe (default: ProbeFunction)"
    )
    add_target_arguments(coldstart, attach_help=ATTACH_HELP)
    coldstart.add_argument("--json", type=Path, dest="json_file", help="write the data as JSON")
    coldstart.set_defaults(func=run_coldstart)

    sweep = subparsers.add_parser(
        "memory-sweep",
        help="invoke a function at several memory sizes: duration, Init Duration and cost",
        description="Set the function's MemorySize to each size in turn "
        "(UpdateFunctionConfiguration), invoke it N times with the payload, and print per "
        "size the duration p50/p90, the "
        "Init Duration, the billed duration and the cost (with the prices' source), the "
        "cheapest and the fastest marked. The original MemorySize is restored afterwards, "
        "also after an error or Ctrl-C. On the embedded stack the size is real: memory is "
        "capped and CPU scaled (1,769 MB = one vCPU) where the host allows cgroups.",
    )
    sweep.add_argument(
        "--function", default=PROBE_FUNCTION, help="logical id or name (default: ProbeFunction)"
    )
    sweep.add_argument(
        "--memory",
        default="128,512,1024,1769,3008",
        help="comma-separated sizes in MB, 128-10240 (default: 128,512,1024,1769,3008)",
    )
    sweep.add_argument("--iterations", type=int, default=5, metavar="N", help="per size (5)")
    sweep.add_argument(
        "--payload", default='{"cpu_ms": 100}', help='the event (default: {"cpu_ms": 100})'
    )
    # No attaching: the sweep needs CPU scaling, which a stack started elsewhere may lack.
    add_target_arguments(sweep, attach=False)
    sweep.add_argument("--plot", type=Path, help="write duration and cost per size (PNG)")
    sweep.add_argument("--json", type=Path, dest="json_file", help="write the data as JSON")
    sweep.set_defaults(func=run_memory_sweep)


def _check_output(path: Path | None) -> None:
    if path is not None and not path.parent.is_dir():
        raise UsageError(f"--json {path}: directory {path.parent} does not exist")


def lambda_client(stack: Stack, concurrency: int = 1) -> Any:
    """A Lambda client of the stack sized for ``concurrency`` callers, with a read timeout
    above Lambda's longest function timeout (15 minutes)."""
    from botocore.config import Config

    deployment = stack.deployment
    config = Config(
        max_pool_connections=max(10, concurrency),
        read_timeout=905,
        retries={"max_attempts": 1, "mode": "standard"},
    )
    if deployment.client_config is not None:
        config = deployment.client_config.merge(config)
    return deployment.client("lambda", config=config)


# -- testbed invoke ----------------------------------------------------------------------------
def read_event(source: str | None) -> bytes:
    if source is None:
        return b"{}"
    if source == "-":
        text = sys.stdin.read()
        where = "stdin"
    else:
        path = Path(source)
        if not path.is_file():
            raise UsageError(f"--event {source}: no such file")
        text = path.read_text()
        where = source
    try:
        json.loads(text)
    except ValueError as error:
        raise UsageError(f"--event {where}: not valid JSON: {error}") from None
    return text.encode()


def run_invoke(args: argparse.Namespace) -> int:
    from serverless_testbed.experiments.functions import resolve_function
    from serverless_testbed.experiments.lambda_invoke import invoke_with_log

    _check_output(args.json_file)
    event = read_event(args.event)
    with open_stack(args.target, target_options(args)) as stack:
        client = lambda_client(stack)
        name = resolve_function(client, stack.resource_ids(), args.function, stack.stack_name)
        try:
            invocation = invoke_with_log(client, name, event)
        except client.exceptions.ClientError as error:
            raise RunFailed(f"Invoke {name}: {error}") from None
    if invocation.log:
        sys.stderr.write(invocation.log if invocation.log.endswith("\n") else invocation.log + "\n")
    sys.stdout.write(invocation.payload.decode(errors="replace") + "\n")
    if args.json_file:
        outcome = {
            "function": name,
            "status_code": invocation.status_code,
            "function_error": invocation.function_error,
            "payload": _json_or_text(invocation.payload),
            "log": invocation.log.splitlines(),
            "report": invocation.report.as_dict() if invocation.report else None,
            "client_ms": round(invocation.client_ms, 3),
        }
        args.json_file.write_text(json.dumps(outcome, indent=2) + "\n")
    return 1 if invocation.function_error else 0


def _json_or_text(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except ValueError:
        return payload.decode(errors="replace")


# -- testbed coldstart -------------------------------------------------------------------------
def run_coldstart(args: argparse.Namespace) -> int:
    from serverless_testbed.experiments import coldstart
    from serverless_testbed.experiments.functions import resolve_function
    from serverless_testbed.latency.commands import progress_bar

    coldstart.validate(args.workers, args.iterations, args.sleep_ms)
    _check_output(args.json_file)
    with open_stack(args.target, target_options(args)) as stack:
        client = lambda_client(stack, args.workers)
        name = resolve_function(client, stack.resource_ids(), args.function, stack.stack_name)
        with progress_bar(args.iterations) as advance:
            result = coldstart.run(
                client,
                name,
                workers=args.workers,
                iterations=args.iterations,
                sleep_ms=args.sleep_ms,
                force_cold=args.force_cold,
                on_done=lambda _call: advance(),
            )
    sys.stdout.write(coldstart.render_markdown(result))
    if args.json_file:
        args.json_file.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    failed = [call for call in result.calls if call.error]
    if failed:
        raise RunFailed(
            f"{len(failed)} of {len(result.calls)} invocations failed: {failed[0].error}"
        )
    return 0


# -- testbed memory-sweep ----------------------------------------------------------------------
def run_memory_sweep(args: argparse.Namespace) -> int:
    import signal

    from serverless_testbed.experiments import memory_sweep
    from serverless_testbed.experiments.functions import resolve_function
    from serverless_testbed.latency.commands import progress_bar

    sizes = memory_sweep.parse_memory_sizes(args.memory)
    if args.iterations < 1:
        raise UsageError(f"--iterations must be at least 1 (got {args.iterations})")
    try:
        payload = json.loads(args.payload)
    except ValueError as error:
        raise UsageError(f"--payload is not valid JSON: {error}") from None
    _check_output(args.json_file)
    if args.plot is not None and (not args.plot.parent.is_dir() or args.plot.suffix != ".png"):
        raise UsageError(f"--plot {args.plot}: needs an existing directory and a .png name")

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # so that the sweep's finally puts MemorySize back

    previous = signal.signal(signal.SIGTERM, interrupted)
    # The embedded stack caps memory always; CPU only when asked (other targets ignore it).
    options = dataclasses.replace(target_options(args), embedded={"scale_lambda_cpu": True})
    try:
        with open_stack(args.target, options) as stack:
            client = lambda_client(stack)
            name = resolve_function(client, stack.resource_ids(), args.function, stack.stack_name)
            with progress_bar(len(sizes) * args.iterations) as advance:
                result = memory_sweep.run(
                    client,
                    name,
                    sizes,
                    iterations=args.iterations,
                    payload=payload,
                    on_invocation=lambda _size, _invocation: advance(),
                )
    finally:
        signal.signal(signal.SIGTERM, previous)
    sys.stdout.write(memory_sweep.render_markdown(result))
    if args.json_file:
        args.json_file.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    if args.plot:
        if result.cpu_scaled:
            memory_sweep.write_plot(result, args.plot)
        else:
            print(f"{memory_sweep.CPU_NOT_SCALED}: no plot written", file=sys.stderr)
    errors = sum(row["errors"] for row in result.summaries())
    if errors:
        raise RunFailed(f"{errors} invocations failed (see the errors column)")
    return 0
