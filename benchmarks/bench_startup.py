"""Benchmark `testbed up`'s start: from the command to its `ready` line, with DynamoDB in its
own process and without (--no-dynamodb-process), alternating, in one run.

    python benchmarks/bench_startup.py [--runs 5] [--no-redis] [--json FILE]

Each run starts `testbed up` on free ports as a user would (a new interpreter, the template
deployed), times it to the line that starts with `ready` (wall time seen from outside, and
the `ready in` figure it prints itself), then stops it with SIGTERM and waits for it to
exit. The two ways alternate run by run, so a machine that gets busier slows both. Prints a
Markdown table of the medians and every run; --json writes the same as JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

stderr = Console(stderr=True)

WAYS = {"own process": [], "one process": ["--no-dynamodb-process"]}
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0


def one_start(extra: list[str]) -> tuple[float, float]:
    """(seconds to the `ready` line, seconds `testbed up` says it took)."""
    command = [sys.executable, "-m", "serverless_testbed.cli", "up", "--aws-port", "0"]
    command += ["--api-port", "0", "--redis-port", "0", *extra]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("ready"):
                elapsed = time.perf_counter() - started
                said = re.search(r"ready in ([\d.]+) s", line)
                return elapsed, float(said.group(1)) if said else float("nan")
            if time.perf_counter() - started > READY_TIMEOUT_S:
                break
        raise RuntimeError(f"testbed up printed no 'ready' line: {' '.join(command)}")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="starts of each way (default 5)")
    parser.add_argument("--no-redis", action="store_true", help="start without Redis")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, not {args.runs}")
    extra = ["--no-redis"] if args.no_redis else []
    results: dict[str, dict[str, list[float]]] = {
        way: {"to_ready_s": [], "ready_in_s": []} for way in WAYS
    }
    with stderr.status("starting testbed up") as status:
        for run in range(args.runs):
            for way, flags in WAYS.items():
                status.update(f"run {run + 1}/{args.runs}: {way}")
                to_ready, said = one_start([*flags, *extra])
                results[way]["to_ready_s"].append(to_ready)
                results[way]["ready_in_s"].append(said)
    print("| DynamoDB | median to ready | median 'ready in' | every run (to ready) |")
    print("|---|---:|---:|---|")
    summary: dict[str, Any] = {}
    for way, figures in results.items():
        to_ready = statistics.median(figures["to_ready_s"])
        said = statistics.median(figures["ready_in_s"])
        runs = ", ".join(f"{value:.2f}" for value in figures["to_ready_s"])
        print(f"| {way} | {to_ready:.2f} s | {said:.2f} s | {runs} |")
        summary[way] = {**figures, "median_to_ready_s": to_ready, "median_ready_in_s": said}
    if args.json:
        args.json.write_text(json.dumps({"runs": args.runs, "ways": summary}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
