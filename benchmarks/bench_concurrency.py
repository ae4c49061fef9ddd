"""Throughput and latency of the embedded stack under concurrent load, per level, beside
MiniStack in the same run.

    python benchmarks/bench_concurrency.py [--levels 1,4,8,16,32,64] [--per-level 4]
                                           [--json FILE] [--api-url URL --pids PID,...]
                                           [--ministack PATH | --no-ministack]

Starts `testbed up` as a subprocess on free ports (or drives a running stack given its
``--api-url`` and the ``--pids`` whose CPU is counted) and MiniStack with the same chain
(benchmarks/ministack_peer.py; skipped with a note when it cannot run). For each level, one
after the other, it first runs ``4 x level`` requests unmeasured at that level (so the
Lambda containers, or MiniStack's workers, for that many in flight are started and each api
container polls on its learned schedule), then keeps
that many requests in flight (``max(per_level * level, 24)``) with:

- ``embedded POST /run``: signed POST /run to the local HTTP API (the api function starts the
  execution and polls it);
- ``embedded StartExecution``: from the benchmark itself, StartExecution then
  DescribeExecution until the end (pipeline/polling.py's schedule, learned from the runs the
  series has seen, as a warm api function does), against moto's endpoint;
- ``ministack POST /run``: the same signed POST /run to MiniStack's HTTP API (API Gateway
  v2, the api function as its Lambda proxy integration): the whole chain on both emulators;
- ``ministack StartExecution``: the StartExecution driver against MiniStack.

Per level: throughput (executions/s from the first send to the last answer), p50/p90 end to
end, answers by kind (HTTP status, SUCCEEDED/FAILED..., or the error's name), and CPU per
execution (user + system time of the emulator's processes and all their children, from
/proc, divided by the executions of the level; the benchmark's own client is not counted
there but in "driver CPU", its own process's CPU per execution), how busy the machine's
CPUs were over the level (/proc/stat: everything that ran, the driver and other work too)
and how much of their time the hypervisor gave to other machines ("stolen": a level with
much of it is slower in every figure), and for how much of the level some runnable task was
waiting for a CPU ("CPU wait": Linux's pressure stall information, /proc/pressure/cpu; high
beside a busy machine, the cores are what the work waits for).

``--cpus 0`` (a list, as taskset takes) runs the benchmark, the stack and MiniStack on those
CPUs only: run it beside a run on every CPU to see how throughput scales with cores.
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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.credentials import Credentials

from ministack_peer import MiniStackPeer, PeerUnavailable, find_ministack, start_ministack
from serverless_testbed.pipeline.clock import SYSTEM_CLOCK
from serverless_testbed.pipeline.execution import start_and_wait
from serverless_testbed.pipeline.polling import LEARNED_AFTER, RecentDurations
from serverless_testbed.pipeline.request import RunRequest
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


def machine_ticks() -> tuple[int, int, int]:
    """(busy, stolen, total) clock ticks of every CPU since boot, from /proc/stat's first line.

    Stolen: time the hypervisor gave this virtual machine's CPUs to others while they had work
    (on a shared host it comes and goes, and every figure of a level with much of it is
    slower). Guest time is already inside user and nice, so it is not added again."""
    line = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in line[:8])
    busy = user + nice + system + irq + softirq
    return busy, steal, busy + steal + idle + iowait


def cpu_wait_us() -> int | None:
    """Microseconds some runnable task waited for a CPU since boot (pressure stall
    information's "some" line); None where the kernel does not expose it."""
    try:
        some = Path("/proc/pressure/cpu").read_text().split("\n", 1)[0]
    except OSError:
        return None
    return int(some.rsplit("total=", 1)[1])


def own_cpu_seconds() -> float:
    """This process's CPU (the driver's threads: signing, sending, parsing answers)."""
    times = os.times()
    return times.user + times.system


Driver = Callable[[], tuple[str, float]]
# The stack's credentials: from `testbed up --json`, or (with --api-url) the environment's
# AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, as `testbed up` prints them.
CREDENTIALS: list[Credentials] = []
PEER_CREDENTIALS = Credentials("testing", "testing")  # MiniStack takes any


def sfn_client(endpoint: str, level: int, credentials: Credentials) -> Any:
    return boto3.client(
        "stepfunctions",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        config=Config(max_pool_connections=max(10, level), retries={"mode": "standard"}),
    )


def one_execution(
    sfn: Any, state_machine_arn: str, durations: RecentDurations
) -> tuple[str, float]:
    """StartExecution, then DescribeExecution until the end: (status, ms)."""
    request = RunRequest(request_id=f"bench-{uuid.uuid4().hex}", payload={"n": 1})
    started = time.perf_counter()
    try:
        result = start_and_wait(
            sfn, state_machine_arn, request, deadline_s=60, clock=SYSTEM_CLOCK, durations=durations
        )
        kind = result.status
    except Exception as error:  # a failed call is one answer of its kind, not the end of the run
        kind = type(error).__name__
    return kind, (time.perf_counter() - started) * 1000


def one_request(url: str, credentials: Credentials) -> tuple[str, float]:
    body = json.dumps({"request_id": f"bench-{uuid.uuid4().hex}", "payload": {"n": 1}}).encode()
    started = time.perf_counter()
    try:
        status, _ = signed_post(
            url,
            body,
            credentials=credentials,
            region="us-east-1",
            timeout_s=60,
        )
        kind = str(status)
    except OSError as error:
        kind = type(getattr(error, "reason", error)).__name__
    return kind, (time.perf_counter() - started) * 1000


def run_level(driver: Driver, level: int, requests: int, pids: list[int]) -> dict[str, Any]:
    cpu_before, driver_before = cpu_seconds(pids), own_cpu_seconds()
    machine_before, wait_before = machine_ticks(), cpu_wait_us()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=level) as pool:
        answers = list(pool.map(lambda _: driver(), range(requests)))
    wall_s = time.perf_counter() - started
    cpu_s = cpu_seconds(pids) - cpu_before
    driver_s = own_cpu_seconds() - driver_before
    machine_after, wait_after = machine_ticks(), cpu_wait_us()
    busy, stolen, total = (
        now - then for now, then in zip(machine_after, machine_before, strict=True)
    )
    ok = [ms for kind, ms in answers if kind in ("200", "SUCCEEDED")]
    return {
        "level": level,
        "requests": requests,
        "throughput_per_s": len(ok) / wall_s,
        "p50_ms": percentile(ok, 50) if ok else None,
        "p90_ms": percentile(ok, 90) if ok else None,
        "answers": dict(Counter(kind for kind, _ in answers)),
        "cpu_ms_per_execution": cpu_s * 1000 / max(1, len(ok)),
        "driver_cpu_ms_per_execution": driver_s * 1000 / max(1, len(ok)),
        "machine_busy_percent": 100 * busy / max(1, total),
        "machine_stolen_percent": 100 * stolen / max(1, total),
        "cpu_wait_percent": (
            None
            if wait_before is None or wait_after is None
            else (wait_after - wait_before) / 10_000 / wall_s
        ),
    }


def start_testbed(
    outputs: Path | None = None, checkout: Path = ROOT
) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """`testbed up` on free ports from ``checkout`` (its ``src`` first on the path), once it
    is ready; its description, as written to ``outputs`` (a new temporary file by default)."""
    outputs = outputs or Path(tempfile.mkdtemp(prefix="bench-concurrency-")) / "up.json"
    ports = ["--aws-port", "0", "--api-port", "0", "--redis-port", "0", "--no-redis"]
    process = subprocess.Popen(
        [sys.executable, "-m", "serverless_testbed.cli", "up", *ports, "--json", str(outputs)],
        cwd=checkout,
        env={**os.environ, "PYTHONPATH": str(checkout / "src")},
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


# Unmeasured requests per execution in flight, before each level: enough that each api
# container has seen the runs its poll schedule learns from (pipeline/polling.py), so a
# short level does not measure the cold schedule's extra DescribeExecution calls.
WARM_UP_PER_LEVEL = LEARNED_AFTER + 1


def warm_up(driver: Driver, level: int) -> None:
    """Run the level unmeasured: the functions' containers (or MiniStack's Lambda workers) for
    this many executions in flight start here, not in the measured requests."""
    with ThreadPoolExecutor(max_workers=level) as pool:
        list(pool.map(lambda _: driver(), range(WARM_UP_PER_LEVEL * level)))


def table(title: str, rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        f"### {title}",
        "",
        "| in flight | requests | executions/s | p50 ms | p90 ms | CPU ms/execution "
        "| driver CPU ms/execution | machine busy | stolen | CPU wait | answers |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        p50 = "-" if row["p50_ms"] is None else f"{row['p50_ms']:.0f}"
        p90 = "-" if row["p90_ms"] is None else f"{row['p90_ms']:.0f}"
        answers = ", ".join(f"{kind}: {n}" for kind, n in sorted(row["answers"].items()))
        wait = row["cpu_wait_percent"]
        cpu_wait = "-" if wait is None else f"{wait:.0f}%"
        lines.append(
            f"| {row['level']} | {row['requests']} | {row['throughput_per_s']:.1f} | {p50} | "
            f"{p90} | {row['cpu_ms_per_execution']:.1f} | "
            f"{row['driver_cpu_ms_per_execution']:.1f} | {row['machine_busy_percent']:.0f}% | "
            f"{row['machine_stolen_percent']:.0f}% | {cpu_wait} | {answers} |"
        )
    return lines


def start_peer(args: argparse.Namespace) -> MiniStackPeer | None:
    if args.no_ministack:
        return None
    try:
        return start_ministack(find_ministack(args.ministack))
    except PeerUnavailable as reason:
        print(f"MiniStack skipped: {reason}", file=sys.stderr)
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,4,8,16,32,64")
    parser.add_argument("--per-level", type=int, default=4, help="requests = this x level")
    parser.add_argument("--api-url", help="drive this running stack's ApiUrl instead")
    parser.add_argument("--pids", default="", help="with --api-url: processes to count CPU of")
    parser.add_argument("--ministack", help="the ministack executable (default: found)")
    parser.add_argument("--no-ministack", action="store_true", help="leave MiniStack out")
    parser.add_argument(
        "--drivers",
        default="run,sfn,ministack",
        help="which series to drive: run (POST /run), sfn (StartExecution on the embedded "
        "stack), ministack",
    )
    parser.add_argument("--json", help="write the raw figures to this file")
    parser.add_argument(
        "--cpus", help="run everything on these CPUs only (e.g. 0, or 0,1), as taskset does"
    )
    args = parser.parse_args()
    if args.cpus:
        try:
            cpus = {int(cpu) for cpu in args.cpus.split(",")}
            os.sched_setaffinity(0, cpus)  # the stack and MiniStack, started later, inherit it
        except (ValueError, OSError) as error:
            parser.error(f"--cpus {args.cpus}: {error}")
    levels = [int(level) for level in args.levels.split(",")]
    wanted = set(args.drivers.split(","))

    process = None
    outputs: dict[str, Any] = {}
    if args.api_url:
        api_url, pids = args.api_url, [int(p) for p in args.pids.split(",") if p]
        wanted.discard("sfn")
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
    peer = start_peer(args) if "ministack" in wanted else None
    try:
        url = api_url.rstrip("/") + "/run"
        series: dict[str, tuple[Callable[[int], Driver], list[int]]] = {}
        if "run" in wanted:
            series["embedded POST /run"] = (
                lambda level: lambda: one_request(url, CREDENTIALS[0]),
                pids,
            )
        if "sfn" in wanted:
            aws, arn = outputs["endpoints"]["aws"], outputs["state_machine_arn"]
            series["embedded StartExecution"] = (sfn_driver(aws, arn, CREDENTIALS[0]), pids)
        if peer is not None:
            series["ministack POST /run"] = (
                lambda level: lambda: one_request(peer.run_url, PEER_CREDENTIALS),
                peer.pids,
            )
            series["ministack StartExecution"] = (
                sfn_driver(peer.endpoint, peer.state_machine_arn, PEER_CREDENTIALS),
                peer.pids,
            )
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in series}
        for level in levels:
            for name, (make_driver, counted) in series.items():
                driver = make_driver(level)
                warm_up(driver, level)
                row = run_level(driver, level, max(args.per_level * level, 24), counted)
                rows[name].append(row)
                print(json.dumps({"series": name, **row}), file=sys.stderr, flush=True)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        if peer is not None:
            peer.stop()
    for name, measured in rows.items():
        print("\n".join(table(name, measured)) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


def sfn_driver(
    endpoint: str, state_machine_arn: str, credentials: Credentials
) -> Callable[[int], Driver]:
    durations = RecentDurations()  # the series' runs, warm-up included

    def make(level: int) -> Driver:
        sfn = sfn_client(endpoint, level, credentials)
        return lambda: one_execution(sfn, state_machine_arn, durations)

    return make


if __name__ == "__main__":
    sys.exit(main())
