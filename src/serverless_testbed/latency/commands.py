"""`testbed latency`: run N executions end to end and print the per-stage breakdown."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from serverless_testbed.errors import RunFailed, UsageError
from serverless_testbed.pipeline import contract
from serverless_testbed.targets import open_deployment
from serverless_testbed.targets.arguments import add_target_arguments, target_options

DEFAULT_REPEAT = 10


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "latency",
        help="measure end-to-end latency per stage (POST /run, N executions)",
        description="Start N executions through the stack's POST {ApiUrl}/run, one after "
        "another (or --concurrency at a time), and print the per-stage breakdown as Markdown: "
        "Latency Breakdown, Cold Start, Warm Summary, All Summary, one log line per message.",
    )
    add_target_arguments(parser)
    parser.add_argument(
        "--repeat", type=int, default=DEFAULT_REPEAT, metavar="N", help="default: 10"
    )
    parser.add_argument(
        "--concurrency",
        type=_levels,
        default=[1],
        metavar="N[,N...]",
        help="executions in flight (1); several levels, e.g. 1,4,16,64, run a sweep: --repeat "
        "executions per level (at least the level), one row per level with throughput, "
        "p50/p90/p99, failures by kind and per-stage p50",
    )
    parser.add_argument("--payload", help='JSON sent as the request\'s "payload"')
    parser.add_argument(
        "--fail-at",
        choices=contract.FAULT_STAGES,
        help="inject a failure at this stage in every request (to see the failure path)",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="per request, seconds (60)")
    parser.add_argument("--result-file", type=Path, help="append the whole report to this file")
    parser.add_argument("--json", type=Path, dest="json_file", help="write the raw data as JSON")
    parser.add_argument("--plot", type=Path, help="write stacked bars + histogram (PNG)")
    parser.set_defaults(func=run_command)


def _levels(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected N or N,N,... (e.g. 1,4,16,64), got {text!r}"
        ) from None
    return levels


def run_command(args: argparse.Namespace) -> int:
    from serverless_testbed.latency import report, runner, sweep
    from serverless_testbed.latency.stages import breakdown

    payload = validate(args)
    per_level = [
        (level, max(args.repeat, level) if len(args.concurrency) > 1 else args.repeat)
        for level in args.concurrency
    ]
    # A level's histories are read once its last answer is in.
    read_back = max(repeat for _, repeat in per_level)
    levels: list[sweep.Level] = []
    with (
        open_deployment(
            args.target, target_options(args, executions_read_back=read_back)
        ) as deployment,
        progress_bar(sum(repeat for _, repeat in per_level)) as advance,
    ):
        for concurrency, repeat in per_level:
            try:
                observations = runner.run(
                    deployment,
                    repeat=repeat,
                    concurrency=concurrency,
                    payload=payload,
                    fail_at=args.fail_at,
                    timeout_s=args.timeout,
                    on_done=lambda _: advance(),
                )
            except Exception as error:  # a boto3/HTTP failure outside one request: one line
                raise RunFailed(f"{type(error).__name__}: {error}") from None
            items = [breakdown(o) for o in observations]
            levels.append(
                sweep.Level(concurrency, items, sweep.throughput_per_s(observations, items))
            )
    info = report.RunInfo(
        target=deployment.target,
        stack=deployment.stack_name,
        region=deployment.region,
        repeat=args.repeat,
        concurrency=args.concurrency[0],
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        git_revision=git_revision(),
        throughput_per_s=levels[0].throughput_per_s if len(levels) == 1 else None,
    )
    if len(levels) > 1:
        return _sweep_output(args, info, levels)
    items = levels[0].items
    _write_report(args, report.render(info, items), report.to_json(info, items))
    if args.plot:
        from serverless_testbed.latency.plot import write_plot

        write_plot(items, args.plot, f"{info.target} / {info.stack}: latency per stage")
    failed = [item for item in items if not item.succeeded]
    if failed:
        first = failed[0]
        raise RunFailed(
            f"{len(failed)} of {len(items)} iterations failed "
            f"(first: iter={first.iteration} {first.status}: {first.error})"
        )
    return 0


def _write_report(args: argparse.Namespace, block: str, data: dict[str, Any]) -> None:
    """The Markdown on stdout (and appended to --result-file), the data to --json."""
    sys.stdout.write(block)
    if args.result_file:
        with args.result_file.open("a") as result_file:
            if result_file.tell():
                result_file.write("\n")
            result_file.write(block)
    if args.json_file:
        args.json_file.write_text(json.dumps(data, indent=2) + "\n")


def _sweep_output(args: argparse.Namespace, info: Any, levels: list[Any]) -> int:
    from serverless_testbed.latency import sweep
    from serverless_testbed.latency.summary import TOTAL

    _write_report(args, sweep.render(info, levels), sweep.to_json(info, levels))
    if args.plot:
        from serverless_testbed.latency.plot import write_sweep_plot

        points = []
        for level in levels:
            total = level.stats()[TOTAL]
            p50 = total.percentiles[50] if total else None
            p99 = total.percentiles[99] if total else None
            points.append((level.concurrency, level.throughput_per_s, p50, p99))
        write_sweep_plot(points, args.plot, f"{info.target} / {info.stack}: concurrency sweep")
    failed = {level.concurrency: level.failures for level in levels if level.failures}
    if failed:
        described = "; ".join(
            f"{concurrency} in flight: " + ", ".join(f"{kind} {n}" for kind, n in kinds.items())
            for concurrency, kinds in failed.items()
        )
        raise RunFailed(f"executions failed ({described})")
    return 0


def validate(args: argparse.Namespace) -> Any:
    """Check every input before anything starts; return the parsed payload."""
    if args.repeat < 1:
        raise UsageError(f"--repeat must be at least 1 (got {args.repeat})")
    if any(level < 1 for level in args.concurrency):
        raise UsageError(f"--concurrency: every level must be at least 1 (got {args.concurrency})")
    if len(set(args.concurrency)) != len(args.concurrency):
        raise UsageError(f"--concurrency: a level is repeated (got {args.concurrency})")
    if args.timeout <= 0:
        raise UsageError(f"--timeout must be positive (got {args.timeout})")
    for option, path in (("--result-file", args.result_file), ("--json", args.json_file)):
        if path is not None and not path.parent.is_dir():
            raise UsageError(f"{option} {path}: directory {path.parent} does not exist")
    if args.plot is not None:
        if not args.plot.parent.is_dir():
            raise UsageError(f"--plot {args.plot}: directory {args.plot.parent} does not exist")
        if args.plot.suffix.lower() != ".png":
            raise UsageError(f"--plot {args.plot}: the file name must end in .png")
    if args.payload is None:
        return None
    try:
        return json.loads(args.payload)
    except ValueError as error:
        raise UsageError(f"--payload is not valid JSON: {error}") from None


@contextmanager
def progress_bar(total: int) -> Iterator[Any]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    progress = Progress(
        "executions",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        task = progress.add_task("run", total=total)
        yield lambda: progress.advance(task)


def git_revision() -> str:
    try:
        result = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() or "unknown"
