"""Benchmark the local Lambda runtime: cold start and warm invoke overhead, with baselines.

    python benchmarks/bench_lambda_runtime.py [--warm 2000] [--cold 20] [--json FILE]

Measured in one run, so they share the machine's state:
1. first invoke after the runtime starts (it waits for the zygote's preload of boto3 etc.);
2. cold start: a new container for a no-op handler (fork from the zygote + import + init),
   and for a handler that makes a boto3 client at init; each sample retires the previous one;
3. warm invoke of a no-op handler, as seen by the caller of ``LambdaRuntime.invoke``;
4. baselines: the same handler called in-process (JSON decode, call, JSON encode), and a bare
   ``multiprocessing`` Pipe round trip (send_bytes / recv_bytes) to an echoing child process.
Latencies in microseconds (HdrHistogram, 3 significant digits).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram
from rich.console import Console

from serverless_testbed.embedded.lambda_runtime.code import FunctionCode
from serverless_testbed.embedded.lambda_runtime.runtime import FunctionConfig, LambdaRuntime

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the handler modules beside this file
import lambda_bench_handlers

EVENT = json.dumps({"Records": [{"body": "x" * 200, "messageId": "m-1"}]}).encode()
ENVIRONMENT = {
    "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}
console = Console(stderr=True)


def config(name: str, handler: str, sample: int = 0) -> FunctionConfig:
    return FunctionConfig(
        name=name,
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        handler=handler,
        timeout_s=30,
        memory_mb=128,
        environment={"SAMPLE": str(sample)},  # a new value retires the previous container
        code=FunctionCode(str(Path(__file__).resolve().parent)),
    )


def histogram() -> HdrHistogram:
    return HdrHistogram(1, 60_000_000, 3)


def summary(hist: HdrHistogram) -> dict[str, float]:
    return {
        "n": hist.get_total_count(),
        "p50_us": hist.get_value_at_percentile(50),
        "p99_us": hist.get_value_at_percentile(99),
        "max_us": hist.get_max_value(),
        "mean_us": round(hist.get_mean_value(), 1),
    }


def timed(samples: int, call: Callable[[], Any], warmup: int = 50) -> HdrHistogram:
    for _ in range(warmup):
        call()
    hist = histogram()
    for _ in range(samples):
        started = time.perf_counter_ns()
        call()
        hist.record_value(max((time.perf_counter_ns() - started) // 1000, 1))
    return hist


def cold_starts(runtime: LambdaRuntime, handler: str, samples: int) -> dict[str, Any]:
    wall, init = histogram(), histogram()
    for sample in range(samples):
        runtime.register(config("cold", handler, sample))
        started = time.perf_counter_ns()
        result = runtime.invoke("cold", EVENT)
        wall.record_value((time.perf_counter_ns() - started) // 1000)
        assert result.cold_start and result.function_error is None, result.payload
        init.record_value(int((result.init_duration_ms or 0) * 1000))
    return {"invoke": summary(wall), "init_duration": summary(init)}


def in_process_call() -> Callable[[], Any]:
    def call() -> bytes:
        return json.dumps(lambda_bench_handlers.noop(json.loads(EVENT), None)).encode()

    return call


def _echo(connection: Connection) -> None:
    while True:
        try:
            connection.send_bytes(connection.recv_bytes())
        except EOFError:
            return


def pipe_round_trip(samples: int) -> HdrHistogram:
    context = multiprocessing.get_context("forkserver")
    ours, theirs = context.Pipe()
    child = context.Process(target=_echo, args=(theirs,), daemon=True)
    child.start()
    theirs.close()

    def call() -> bytes:
        ours.send_bytes(EVENT)
        return ours.recv_bytes()

    try:
        return timed(samples, call)
    finally:
        ours.close()
        child.join(timeout=5)


def run(warm: int, cold: int) -> dict[str, Any]:
    results: dict[str, Any] = {"python": sys.version.split()[0], "warm_samples": warm}
    started = time.perf_counter()
    with LambdaRuntime(ENVIRONMENT) as runtime:
        runtime.register(config("noop", "lambda_bench_handlers.noop"))
        first = runtime.invoke("noop", EVENT)
        results["first_invoke_after_start_ms"] = round((time.perf_counter() - started) * 1000, 1)
        assert first.function_error is None, first.payload
        console.log(f"first invoke {results['first_invoke_after_start_ms']} ms")

        results["cold_noop"] = cold_starts(runtime, "lambda_bench_handlers.noop", cold)
        console.log("cold starts (no-op) done")
        results["cold_boto3_client"] = cold_starts(
            runtime, "lambda_bench_boto3_handler.handler", cold
        )
        console.log("cold starts (boto3 client at init) done")

        handler_us = histogram()

        def warm_invoke() -> None:
            result = runtime.invoke("noop", EVENT)
            handler_us.record_value(max(int(result.duration_ms * 1000), 1))

        results["warm_invoke"] = summary(timed(warm, warm_invoke))
        results["warm_handler_duration"] = summary(handler_us)
        console.log("warm invokes done")
    results["baseline_in_process_call"] = summary(timed(warm, in_process_call()))
    results["baseline_pipe_round_trip"] = summary(pipe_round_trip(warm))
    console.log("baselines done")
    return results


def markdown(results: dict[str, Any]) -> str:
    def ms(us: float) -> str:
        return f"{us / 1000:.2f}"

    rows = [
        ("warm invoke, no-op handler (LambdaRuntime.invoke)", results["warm_invoke"]),
        ("  handler time inside it (runtime's own Duration)", results["warm_handler_duration"]),
        (
            "baseline: in-process call (JSON in, call, JSON out)",
            results["baseline_in_process_call"],
        ),
        ("baseline: bare multiprocessing Pipe round trip", results["baseline_pipe_round_trip"]),
        ("cold start, no-op handler (invoke wall time)", results["cold_noop"]["invoke"]),
        ("  Init Duration (fork + import + init)", results["cold_noop"]["init_duration"]),
        (
            "cold start, boto3 client at init (invoke wall time)",
            results["cold_boto3_client"]["invoke"],
        ),
        ("  Init Duration", results["cold_boto3_client"]["init_duration"]),
    ]
    lines = [
        "| measurement | n | p50 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, figures in rows:
        lines.append(
            f"| {label} | {figures['n']} | {ms(figures['p50_us'])} | {ms(figures['p99_us'])} "
            f"| {ms(figures['max_us'])} |"
        )
    overhead_p50 = results["warm_invoke"]["p50_us"] - results["baseline_in_process_call"]["p50_us"]
    lines.append("")
    lines.append(
        f"Warm overhead over an in-process call (p50): {ms(overhead_p50)} ms. "
        f"First invoke after LambdaRuntime() (zygote preload included): "
        f"{results['first_invoke_after_start_ms']} ms. Python {results['python']}."
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", type=int, default=2000, help="warm invokes (default 2000)")
    parser.add_argument("--cold", type=int, default=20, help="cold starts per handler (20)")
    parser.add_argument("--json", help="also write the figures as JSON to this file")
    args = parser.parse_args()
    if args.warm < 1 or args.cold < 1:
        parser.error("--warm and --cold must be at least 1")
    results = run(args.warm, args.cold)
    print(markdown(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
