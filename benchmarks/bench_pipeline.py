"""Benchmark the embedded stack: time to ready, and end-to-end latency of sequential runs.

    python benchmarks/bench_pipeline.py [--starts 5] [--runs 100] [--json FILE]

Three measurements in one run, so they share the machine's state:
1. time to ready: `testbed up` started as a fresh process --starts times, timed from exec to
   its "ready" line (the SAM translation cache is warmed first; the first-ever start, which
   pays aws-sam-translator's import, is reported separately);
2. POST /run end to end, --runs sequential executions on one embedded stack, with the
   per-stage split taken from the worker's timestamps;
3. the baseline: the bare Step Functions callback round trip on the same emulator
   (sqs:sendMessage.waitForTaskToken, a consumer thread answering SendTaskSuccess; no Lambda,
   no HTTP API), the floor the pipeline is compared with.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from serverless_testbed.pipeline.contract import STAGE_TIMESTAMPS
from serverless_testbed.signed_http import signed_post

ROOT = Path(__file__).resolve().parents[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "min": min(values),
        "max": max(values),
        "mean": statistics.fmean(values),
    }


def time_to_ready(cold_cache: bool) -> float:
    env = dict(os.environ)
    if cold_cache:
        env["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="testbed-bench-cache-")
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "serverless_testbed.cli",
            "up",
            "--aws-port",
            "0",
            "--api-port",
            "0",
            "--redis-port",
            "0",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("ready"):
                return time.perf_counter() - started
        raise RuntimeError(f"testbed up exited ({process.wait()}) before it was ready")
    finally:
        process.terminate()
        process.wait(timeout=30)


def post_run(url: str, credentials: Any) -> tuple[float, dict[str, Any]]:
    """POST /run signed with SigV4, as any client of the IAM-authorized API (signing timed)."""
    body = json.dumps({"payload": {"bench": True}}).encode()
    started = time.perf_counter()
    status, raw = signed_post(url, body, credentials=credentials, region="us-east-1", timeout_s=60)
    elapsed_ms = (time.perf_counter() - started) * 1000
    if status != 200:
        raise RuntimeError(f"POST {url}: HTTP {status}: {raw[:200]!r}")
    return elapsed_ms, json.loads(raw)


def stage_split(output: dict[str, Any]) -> dict[str, float]:
    stamps = output["timestamps"]
    return {f"{a}->{b}": stamps[b] - stamps[a] for a, b in itertools.pairwise(STAGE_TIMESTAMPS)}


def bare_callback_round_trips(stack: Any, runs: int) -> list[float]:
    """sqs:sendMessage.waitForTaskToken + SendTaskSuccess from a thread: no Lambda at all."""
    sqs, sfn, iam = stack.client("sqs"), stack.client("stepfunctions"), stack.client("iam")
    queue_url = sqs.create_queue(QueueName=f"bench-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    role = iam.create_role(RoleName=f"bench-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument="{}")
    definition = {
        "StartAt": "Send",
        "States": {
            "Send": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": queue_url, "MessageBody": {"token.$": "$$.Task.Token"}},
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(
        name=f"bench-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(definition),
        roleArn=role["Role"]["Arn"],
    )["stateMachineArn"]
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set():
            for message in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get(
                "Messages", []
            ):
                token = json.loads(message["Body"])["token"]
                sfn.send_task_success(taskToken=token, output="{}")
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    latencies = []
    for _ in range(runs):
        started = time.perf_counter()
        arn = sfn.start_execution(stateMachineArn=machine, name=uuid.uuid4().hex)["executionArn"]
        delay = 0.005
        while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
            time.sleep(delay)  # the api handler's own polling, for a like-for-like floor
            delay = min(delay * 1.5, 0.1)
        latencies.append((time.perf_counter() - started) * 1000)
    stop.set()
    consumer.join(timeout=5)
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=5, help="fresh `testbed up` processes")
    parser.add_argument("--runs", type=int, default=100, help="sequential POST /run")
    parser.add_argument("--json", help="write the raw figures to this file")
    args = parser.parse_args()

    from serverless_testbed.embedded.stack import EmbeddedStack

    first_start = time_to_ready(cold_cache=True)
    time_to_ready(cold_cache=False)  # warms this machine's translation cache
    readies = [time_to_ready(cold_cache=False) * 1000 for _ in range(args.starts)]

    with EmbeddedStack(with_redis=False) as stack:
        url = f"{stack.deployment.api_url}/run"
        cold_ms, _cold = post_run(url, stack.deployment.session.get_credentials())
        warm, stages = [], []
        for _ in range(args.runs):
            elapsed, result = post_run(url, stack.deployment.session.get_credentials())
            assert result["status"] == "SUCCEEDED", result
            warm.append(elapsed)
            stages.append(stage_split(result["output"]))
        baseline = bare_callback_round_trips(stack, args.runs)

    stage_names = list(stages[0])
    results = {
        "first_start_ready_ms": first_start * 1000,
        "ready_ms": summary(readies),
        "cold_run_ms": cold_ms,
        "warm_run_ms": summary(warm),
        "stages_p50_ms": {name: percentile([s[name] for s in stages], 50) for name in stage_names},
        "baseline_bare_callback_ms": summary(baseline),
    }
    print("| measure | p50 | p90 | p99 | min | max |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, key in (
        (f"time to ready, {args.starts} starts (ms)", "ready_ms"),
        (f"POST /run warm, {args.runs} runs (ms)", "warm_run_ms"),
        (f"baseline: bare callback, {args.runs} runs (ms)", "baseline_bare_callback_ms"),
    ):
        s = results[key]
        print(
            f"| {label} | {s['p50']:.1f} | {s['p90']:.1f} | {s['p99']:.1f} | "
            f"{s['min']:.1f} | {s['max']:.1f} |"
        )
    print(f"\nfirst-ever start (cold translation cache): {results['first_start_ready_ms']:.0f} ms")
    print(f"first POST /run (cold Lambda containers): {cold_ms:.1f} ms")
    print("\n| stage (worker timestamps) | p50 ms |\n|---|---:|")
    for name, value in results["stages_p50_ms"].items():
        print(f"| {name} | {value:.1f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
