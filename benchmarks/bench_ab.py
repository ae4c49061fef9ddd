"""A/B of two checkouts of this project under `testbed latency`, alternating, in one run.

    git worktree add /tmp/before <revision>
    python benchmarks/bench_ab.py --level 8 --repeat 240 --rounds 4 before=/tmp/before after=.

Each ``LABEL=CHECKOUT`` is a checkout's root (its ``src`` and ``template.yaml``). Round by
round, for each checkout in turn: `testbed up --no-redis` on free ports from that checkout
(``PYTHONPATH=CHECKOUT/src``, run from the checkout), an unmeasured `testbed latency` of
``3 x level`` requests (containers started, poll schedules learned), then the measured one
of ``--repeat`` requests at ``--level`` in flight, then the stack is stopped. The client is
the checkout's own `testbed latency`, so a change to the client is measured too. Per round
and checkout: executions/s (as `testbed latency` reports it: first send to last answer) and
the CPU per execution of `testbed up`'s own process and of its whole process tree (children
included: DynamoDB's process, the Lambda containers), from /proc. Alternating, so a machine
that gets busier slows both; read the spread between rounds before a difference.
Prints a Markdown table; --json writes the rows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench_concurrency import CLOCK_TICKS, cpu_seconds, start_testbed


def own_cpu_seconds(pid: int) -> float:
    """User + system CPU of the process itself (its children not included; cpu_seconds
    counts the whole tree, reaped children too)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def latency(checkout: Path, description: Path, level: int, repeat: int, data: Path) -> float:
    """Run `testbed latency` from ``checkout``; the executions/s it reports."""
    environment = {**os.environ, "PYTHONPATH": str(checkout / "src")}
    command = [sys.executable, "-m", "serverless_testbed.cli", "latency"]
    command += ["--attach", str(description), "--concurrency", str(level)]
    command += ["--repeat", str(repeat), "--json", str(data)]
    run = subprocess.run(command, cwd=checkout, env=environment, capture_output=True, text=True)
    if run.returncode != 0:
        tail = (run.stderr or run.stdout).strip().splitlines()[-1:]
        raise SystemExit(f"testbed latency from {checkout} failed: {tail}")
    return float(json.loads(data.read_text())["throughput_per_s"])


def one_round(label: str, checkout: Path, level: int, repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as directory:
        description, data = Path(directory) / "up.json", Path(directory) / "latency.json"
        process, _ = start_testbed(description, checkout)
        try:
            latency(checkout, description, level, max(24, 3 * level), data)
            own_before, tree_before = own_cpu_seconds(process.pid), cpu_seconds([process.pid])
            throughput = latency(checkout, description, level, repeat, data)
            own_after, tree_after = own_cpu_seconds(process.pid), cpu_seconds([process.pid])
        finally:
            process.terminate()
            process.wait(timeout=60)
    return {
        "checkout": label,
        "executions_per_s": throughput,
        "up_cpu_ms_per_execution": (own_after - own_before) * 1000 / repeat,
        "tree_cpu_ms_per_execution": (tree_after - tree_before) * 1000 / repeat,
    }


def checkout_argument(text: str) -> tuple[str, Path]:
    label, separator, path = text.partition("=")
    checkout = Path(path).resolve()
    if not separator or not label or not (checkout / "src" / "serverless_testbed").is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: want LABEL=CHECKOUT (a checkout's root)")
    return label, checkout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkouts", nargs="+", type=checkout_argument, metavar="LABEL=CHECKOUT")
    parser.add_argument("--level", type=int, default=8, help="requests in flight")
    parser.add_argument("--repeat", type=int, default=240, help="measured requests per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args()

    rows = []
    for round_number in range(1, args.rounds + 1):
        for label, checkout in args.checkouts:
            row = {"round": round_number, **one_round(label, checkout, args.level, args.repeat)}
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    print(f"\n{args.level} in flight, {args.repeat} requests per round\n")
    print("| round | checkout | executions/s | CPU ms/exec, testbed up | CPU ms/exec, tree |")
    print("|---:|---|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['round']} | {row['checkout']} | {row['executions_per_s']:.1f} "
            f"| {row['up_cpu_ms_per_execution']:.1f} | {row['tree_cpu_ms_per_execution']:.1f} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
