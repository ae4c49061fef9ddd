"""Throughput and latency of the embedded stack under concurrent POST /run, per level.

    python benchmarks/bench_concurrency.py [--levels 1,4,8,16,32,64] [--per-level 4]
                                           [--json FILE] [--api-url URL --pids PID,...]

Starts `testbed up` as a subprocess on free ports (or drives a running stack given its
``--api-url`` and the ``--pids`` whose CPU is counted), then for each level keeps that many
signed POST /run in flight (``max(per_level * level, 24)`` requests), and reports per level:
throughput (executions/s from the first send to the last answer), p50/p90 end to end,
answers by kind (HTTP status, or the connection error's name), and CPU per execution (user +
system time of the stack's processes and all their children, from /proc, divided by the
executions of the level).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from botocore.credentials import Credentials

from serverless_testbed.signed_http import signed_post

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def descendants(pid: int) -> set[int]:
    """pid and every process below it, from /proc/*/stat's parent field."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = {pid}, [pid]
    while frontier:
        current = frontier.pop()
        for child, parent in parents.items():
            if parent == current and child not in found:
                found.add(child)
                frontier.append(child)
    return found


def cpu_seconds(roots: list[int]) -> float:
    """User + system CPU of the roots, their live descendants and their reaped children."""
    total = 0
    for pid in set().union(*(descendants(root) for root in roots)):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime, cutime, cstime are fields 14-17 of stat (11-14 after the name)
        total += sum(int(value) for value in fields[11:15])
    return total / CLOCK_TICKS


# The stack's credentials: from `testbed up --json`, or (with --api-url) the environment's
# AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, as `testbed up` prints them.
CREDENTIALS: list[Credentials] = []


def one_request(url: str) -> tuple[str, float]:
    body = json.dumps({"request_id": f"bench-{uuid.uuid4().hex}", "payload": {"n": 1}}).encode()
    started = time.perf_counter()
    try:
        status, _ = signed_post(
            url,
            body,
            credentials=CREDENTIALS[0],
            region="us-east-1",
            timeout_s=60,
        )
        kind = str(status)
    except OSError as error:
        kind = type(getattr(error, "reason", error)).__name__
    return kind, (time.perf_counter() - started) * 1000


def run_level(url: str, level: int, requests: int, pids: list[int]) -> dict[str, Any]:
    cpu_before = cpu_seconds(pids)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=level) as pool:
        answers = list(pool.map(lambda _: one_request(url), range(requests)))
    wall_s = time.perf_counter() - started
    cpu_s = cpu_seconds(pids) - cpu_before
    ok = [ms for kind, ms in answers if kind == "200"]
    return {
        "level": level,
        "requests": requests,
        "throughput_per_s": len(ok) / wall_s,
        "p50_ms": percentile(ok, 50) if ok else None,
        "p90_ms": percentile(ok, 90) if ok else None,
        "answers": dict(Counter(kind for kind, _ in answers)),
        "cpu_ms_per_execution": cpu_s * 1000 / max(1, len(ok)),
    }


def start_testbed() -> tuple[subprocess.Popen[str], dict[str, Any]]:
    outputs = Path(tempfile.mkdtemp(prefix="bench-concurrency-")) / "up.json"
    ports = ["--aws-port", "0", "--api-port", "0", "--redis-port", "0", "--no-redis"]
    process = subprocess.Popen(
        [sys.executable, "-m", "serverless_testbed.cli", "up", *ports, "--json", str(outputs)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("ready"):
            break
    else:
        raise RuntimeError(f"testbed up exited ({process.wait()}) before it was ready")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # --json is written just after the "ready" line
        try:
            return process, json.loads(outputs.read_text())
        except (OSError, ValueError):
            time.sleep(0.05)
    raise RuntimeError(f"testbed up did not write {outputs}")


def warm_up(url: str) -> None:
    for _ in range(3):
        one_request(url)


def table(title: str, rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        f"### {title}",
        "",
        "| in flight | requests | executions/s | p50 ms | p90 ms | CPU ms/execution | answers |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        p50 = "-" if row["p50_ms"] is None else f"{row['p50_ms']:.0f}"
        p90 = "-" if row["p90_ms"] is None else f"{row['p90_ms']:.0f}"
        answers = ", ".join(f"{kind}: {n}" for kind, n in sorted(row["answers"].items()))
        lines.append(
            f"| {row['level']} | {row['requests']} | {row['throughput_per_s']:.1f} | {p50} | "
            f"{p90} | {row['cpu_ms_per_execution']:.1f} | {answers} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,4,8,16,32,64")
    parser.add_argument("--per-level", type=int, default=4, help="requests = this x level")
    parser.add_argument("--api-url", help="drive this running stack's ApiUrl instead")
    parser.add_argument("--pids", default="", help="with --api-url: processes to count CPU of")
    parser.add_argument("--json", help="write the raw figures to this file")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]

    process = None
    if args.api_url:
        api_url, pids = args.api_url, [int(p) for p in args.pids.split(",") if p]
        CREDENTIALS.append(
            Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
        )
    else:
        process, outputs = start_testbed()
        api_url, pids = outputs["endpoints"]["api"], [process.pid]
        described = outputs["credentials"]
        CREDENTIALS.append(
            Credentials(described["AWS_ACCESS_KEY_ID"], described["AWS_SECRET_ACCESS_KEY"])
        )
    try:
        url = api_url.rstrip("/") + "/run"
        warm_up(url)
        rows = []
        for level in levels:
            rows.append(run_level(url, level, max(args.per_level * level, 24), pids))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
    print("\n".join(table("embedded stack", rows)))
    if args.json:
        Path(args.json).write_text(json.dumps({"embedded": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
