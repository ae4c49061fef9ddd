"""What watching costs: `testbed latency` at a level with and without `testbed dashboard`
attached, alternating in one run, and the stack's CPU per look of an idle dashboard as the
executions kept grow.

    python benchmarks/bench_dashboard.py [--level 8] [--repeat 240] [--rounds 3] [--json FILE]

One `testbed up` for the whole run. Per round: an unmeasured warm-up of ``3 x level``, then the
measured `testbed latency --repeat` with no dashboard, then again with `testbed dashboard
--attach --interval 1` running beside it (started before, stopped after). Per run:
executions/s (as `testbed latency` reports it), the CPU per execution of `testbed up`'s own
process and of its tree (children included), and the dashboard's own CPU. Then, idle: the
stack's CPU per look over 20 looks of the dashboard's sampler, at the executions the runs left
kept, and after as many again. Prints Markdown; --json writes the rows.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_ab import latency, own_cpu_seconds
from bench_concurrency import ROOT, cpu_seconds, start_testbed

IDLE_LOOKS = 20


def measured(
    description: Path, level: int, repeat: int, data: Path, up_pid: int, watched: bool
) -> dict[str, Any]:
    dashboard = None
    if watched:
        command = [sys.executable, "-m", "serverless_testbed.cli", "dashboard"]
        command += ["--attach", str(description), "--port", "0", "--interval", "1"]
        dashboard = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert dashboard.stdout is not None
        dashboard.stdout.readline()  # "dashboard: URL ...": it looks from now on
    own_before, tree_before = own_cpu_seconds(up_pid), cpu_seconds([up_pid])
    throughput = latency(ROOT, description, level, repeat, data)
    own_after, tree_after = own_cpu_seconds(up_pid), cpu_seconds([up_pid])
    dashboard_cpu = None
    if dashboard is not None:
        dashboard_cpu = own_cpu_seconds(dashboard.pid)
        dashboard.terminate()
        dashboard.wait(timeout=30)
    return {
        "dashboard": watched,
        "executions_per_s": throughput,
        "up_cpu_ms_per_execution": (own_after - own_before) * 1000 / repeat,
        "tree_cpu_ms_per_execution": (tree_after - tree_before) * 1000 / repeat,
        "dashboard_cpu_s": dashboard_cpu,
    }


def idle_look_cost(description: Path, up_pid: int) -> dict[str, Any]:
    """The stack's CPU per look of the dashboard's sampler, the stack otherwise idle."""
    from serverless_testbed.dashboard.watching import sampler_for
    from serverless_testbed.targets import TargetOptions, open_stack

    with open_stack("embedded", TargetOptions(attach=description)) as stack:
        sampler = sampler_for(stack.deployment, redis_client=None, prefix="dst", interval_s=1)
        sampler.sample_now()
        kept = len(
            stack.client("stepfunctions").list_executions(
                stateMachineArn=stack.deployment.state_machine_arn, maxResults=1000
            )["executions"]
        )
        before = own_cpu_seconds(up_pid)
        started = time.perf_counter()
        for _ in range(IDLE_LOOKS):
            sampler.sample_now()
        wall = time.perf_counter() - started
        after = own_cpu_seconds(up_pid)
    return {
        "executions_listed_first_page": kept,
        "up_cpu_ms_per_look": (after - before) * 1000 / IDLE_LOOKS,
        "wall_ms_per_look": wall * 1000 / IDLE_LOOKS,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--level", type=int, default=8, help="requests in flight")
    parser.add_argument("--repeat", type=int, default=240, help="measured requests per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as directory:
        description, data = Path(directory) / "up.json", Path(directory) / "latency.json"
        process, _ = start_testbed(description)
        try:
            latency(ROOT, description, args.level, max(24, 3 * args.level), data)
            rows, looks = [], []
            looks.append(idle_look_cost(description, process.pid))
            for round_number in range(1, args.rounds + 1):
                for watched in (False, True):
                    row = {"round": round_number, **measured(
                        description, args.level, args.repeat, data, process.pid, watched
                    )}  # fmt: skip
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
            looks.append(idle_look_cost(description, process.pid))
        finally:
            process.terminate()
            process.wait(timeout=60)

    print(f"\n{args.level} in flight, {args.repeat} requests per run\n")
    print("| round | dashboard | executions/s | CPU ms/exec, testbed up | CPU ms/exec, tree "
          "| dashboard CPU s |")  # fmt: skip
    print("|---:|---|---:|---:|---:|---:|")
    for row in rows:
        dashboard_cpu = row["dashboard_cpu_s"]
        print(
            f"| {row['round']} | {'watching' if row['dashboard'] else 'none'} "
            f"| {row['executions_per_s']:.1f} | {row['up_cpu_ms_per_execution']:.1f} "
            f"| {row['tree_cpu_ms_per_execution']:.1f} "
            f"| {'-' if dashboard_cpu is None else f'{dashboard_cpu:.2f}'} |"
        )
    print("\n| executions listed (first page) | stack CPU ms per look | wall ms per look |")
    print("|---:|---:|---:|")
    for look in looks:
        print(
            f"| {look['executions_listed_first_page']} | {look['up_cpu_ms_per_look']:.1f} "
            f"| {look['wall_ms_per_look']:.1f} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": rows, "idle_looks": looks}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
