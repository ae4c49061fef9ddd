"""Benchmark what the Lambda experiments rest on: CPU scaled with memory, and Init Duration.

    python benchmarks/bench_lambda_experiments.py [--cpu-ms 200] [--repeat 5] [--cold 20]
                                                  [--json FILE]

1. The probe's ``cpu_ms`` work (a fixed amount of work: ``cpu_ms`` of CPU time on any core)
   at 128, 512, 1,769 and 3,008 MB on the local runtime with CPU scaling on: wall time per
   size, against Lambda's rule (MemorySize / 1,769 of a vCPU, so wall = cpu_ms x 1,769 / MB
   below 1,769 MB, cpu_ms above: one thread cannot use more than one core). Where the host
   allows no CPU quota the figures say so.
2. Init Duration of cold starts (each sample a new container), for the probe (standard library
   only) and for the pipeline's worker (boto3 + powertools at init), as the REPORT line gives
   it, and the wall time of the same invokes as the caller saw it: the difference is what the
   preloading zygote hides and Init Duration charges back (init_cost.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from serverless_testbed.embedded.lambda_runtime.code import FunctionCode
from serverless_testbed.embedded.lambda_runtime.limits import FULL_VCPU_MB, HostLimits
from serverless_testbed.embedded.lambda_runtime.runtime import FunctionConfig, LambdaRuntime

SIZES = (128, 512, 1769, 3008)
PROBE = "serverless_testbed.handlers.probe.handler"
WORKER = "serverless_testbed.handlers.worker.handler"
ENVIRONMENT = {
    "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}
console = Console(stderr=True)


def config(name: str, handler: str, memory_mb: int, sample: int = 0) -> FunctionConfig:
    return FunctionConfig(
        name=name,
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        handler=handler,
        timeout_s=120,
        memory_mb=memory_mb,
        environment={"SAMPLE": str(sample), "TABLE_NAME": "bench"},
        code=FunctionCode.of_package("serverless_testbed.handlers"),
    )


def cpu_by_memory(runtime: LambdaRuntime, cpu_ms: float, repeat: int) -> list[dict[str, Any]]:
    rows = []
    event = json.dumps({"cpu_ms": cpu_ms}).encode()
    for memory_mb in SIZES:
        runtime.register(config(f"probe-{memory_mb}", PROBE, memory_mb))
        runtime.invoke(f"probe-{memory_mb}", b"{}")  # the cold start, outside the figures
        walls, cpus = [], []
        for _ in range(repeat):
            answer = json.loads(runtime.invoke(f"probe-{memory_mb}", event).payload)
            walls.append(answer["cpu_wall_ms"])
            cpus.append(answer["cpu_time_ms"])
        expected = cpu_ms * max(1.0, FULL_VCPU_MB / memory_mb)
        rows.append(
            {
                "memory_mb": memory_mb,
                "cpu_ms": cpu_ms,
                "wall_ms_p50": round(statistics.median(walls), 1),
                "wall_ms_min": round(min(walls), 1),
                "cpu_time_ms_p50": round(statistics.median(cpus), 1),
                "lambda_rule_ms": round(expected, 1),
            }
        )
        console.print(f"cpu {memory_mb} MB: {rows[-1]}")
    return rows


def init_durations(runtime: LambdaRuntime, handler: str, samples: int) -> dict[str, Any]:
    inits, walls = [], []
    for sample in range(samples):
        runtime.register(config("cold", handler, 1769, sample))  # a new container each time
        started = time.perf_counter()
        result = runtime.invoke("cold", b"{}")
        walls.append((time.perf_counter() - started) * 1000)
        assert result.cold_start and result.init_duration_ms is not None
        inits.append(result.init_duration_ms)
    return {"handler": handler, "init_duration_ms": spread(inits), "invoke_wall_ms": spread(walls)}


def spread(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]

    return {
        "n": len(ordered),
        "min": round(ordered[0], 1),
        "p50": round(rank(0.5), 1),
        "p90": round(rank(0.9), 1),
        "max": round(ordered[-1], 1),
        "mean": round(statistics.fmean(ordered), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu-ms", type=float, default=200.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cold", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    limits = HostLimits(scale_cpu=True)
    cpu_note = limits.notes
    limits.close()
    with LambdaRuntime(ENVIRONMENT, scale_cpu=True) as runtime:
        runtime.register(config("warm-up", PROBE, 1769))
        runtime.invoke("warm-up", b"{}")  # waits for the zygote's preloads
        results = {
            "cpu_scaling": cpu_note or ["CPU quota per container (cgroup v1 cpu controller)"],
            "cpu_by_memory": cpu_by_memory(runtime, args.cpu_ms, args.repeat),
            "init_probe": init_durations(runtime, PROBE, args.cold),
            "init_worker": init_durations(runtime, WORKER, args.cold),
        }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
