"""`testbed memory-sweep`: the same invocation at several memory sizes; duration, Init
Duration, billed duration and cost per size (the seed's performance test, after which the
seed found CPU growing linearly with memory and 2,048 MB fastest).

The function's MemorySize is changed with UpdateFunctionConfiguration, as on AWS, and put
back afterwards, also after an error or Ctrl-C. The first invocation at each size is a cold
start (a configuration change retires the old containers on every target).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from serverless_testbed.errors import UsageError
from serverless_testbed.experiments.configuration import update_configuration
from serverless_testbed.experiments.lambda_invoke import Invocation, invoke_with_log

MIN_MEMORY_MB, MAX_MEMORY_MB = 128, 10240  # Lambda's MemorySize range
CPU_NOT_SCALED = "CPU not scaled on this host"


@dataclass(frozen=True)
class Price:
    per_gb_second: float  # USD
    per_request: float  # USD


# AWS Lambda pricing, us-east-1, on-demand duration, first tier (the first 6 billion GB-s a
# month); requests $0.20 per million. Source: https://aws.amazon.com/lambda/pricing/ ,
# figures as published since the 1 ms billing change (December 2020) and still listed in 2025.
PRICES = {
    "x86_64": Price(per_gb_second=0.0000166667, per_request=0.20 / 1_000_000),
    "arm64": Price(per_gb_second=0.0000133334, per_request=0.20 / 1_000_000),
}
PRICE_SOURCE = (
    "AWS Lambda pricing, https://aws.amazon.com/lambda/pricing/ (us-east-1, first tier; "
    "as listed 2020-12 to 2025, not re-read at run time)"
)


def parse_memory_sizes(text: str) -> list[int]:
    sizes = []
    for item in text.split(","):
        item = item.strip()
        try:
            size = int(item)
        except ValueError:
            size = None
        if size is None or not MIN_MEMORY_MB <= size <= MAX_MEMORY_MB:
            raise UsageError(
                f"--memory {item!r}: memory sizes are whole MB between "
                f"{MIN_MEMORY_MB} and {MAX_MEMORY_MB}"
            )
        sizes.append(size)
    if not sizes:
        raise UsageError("--memory: give at least one size")
    return sizes


@dataclass
class SizeResult:
    memory_mb: int
    invocations: list[dict[str, Any]] = field(default_factory=list)
    cpu_not_scaled: bool = False

    def record(self, invocation: Invocation) -> None:
        report = invocation.report
        self.cpu_not_scaled |= CPU_NOT_SCALED in invocation.log
        self.invocations.append(
            {
                "error": invocation.function_error
                and invocation.payload[:300].decode(errors="replace"),
                "client_ms": round(invocation.client_ms, 3),
                **(report.as_dict() if report else {}),
            }
        )

    def summary(self, price: Price) -> dict[str, Any]:
        ok = [i for i in self.invocations if not i["error"] and i.get("duration_ms") is not None]
        durations = sorted(i["duration_ms"] for i in ok)
        billed = [i["billed_duration_ms"] for i in ok if i.get("billed_duration_ms") is not None]
        inits = [i["init_duration_ms"] for i in self.invocations if i.get("init_duration_ms")]
        used = [i["max_memory_used_mb"] for i in ok if i.get("max_memory_used_mb") is not None]
        billed_mean = statistics.fmean(billed) if billed else None
        cost = (
            billed_mean / 1000 * self.memory_mb / 1024 * price.per_gb_second + price.per_request
            if billed_mean is not None
            else None
        )
        return {
            "memory_mb": self.memory_mb,
            "invocations": len(self.invocations),
            "errors": len(self.invocations) - len(ok),
            "duration_p50_ms": _quantile(durations, 0.5),
            "duration_p90_ms": _quantile(durations, 0.9),
            "init_duration_ms": round(inits[0], 2) if inits else None,
            "billed_mean_ms": round(billed_mean, 2) if billed_mean is not None else None,
            "max_memory_used_mb": max(used) if used else None,
            "cost_per_invocation_usd": cost,
            "cost_per_million_usd": round(cost * 1_000_000, 4) if cost is not None else None,
        }


@dataclass
class SweepResult:
    function_name: str
    architecture: str
    original_memory_mb: int
    restored: bool
    sizes: list[SizeResult]

    @property
    def cpu_scaled(self) -> bool:
        return not any(size.cpu_not_scaled for size in self.sizes)

    def summaries(self) -> list[dict[str, Any]]:
        price = PRICES.get(self.architecture, PRICES["x86_64"])
        rows = [size.summary(price) for size in self.sizes]
        costed = [r for r in rows if r["cost_per_invocation_usd"] is not None]
        timed = [r for r in rows if r["duration_p50_ms"] is not None]
        cheapest = min(costed, key=lambda r: r["cost_per_invocation_usd"], default=None)
        fastest = min(timed, key=lambda r: r["duration_p50_ms"], default=None)
        for row in rows:
            row["cheapest"] = row is cheapest
            row["fastest"] = row is fastest and self.cpu_scaled
        return rows

    def to_json(self) -> dict[str, Any]:
        price = PRICES.get(self.architecture, PRICES["x86_64"])
        return {
            "function": self.function_name,
            "architecture": self.architecture,
            "original_memory_mb": self.original_memory_mb,
            "restored": self.restored,
            "cpu_scaled": self.cpu_scaled,
            "prices": {**asdict(price), "source": PRICE_SOURCE},
            "sizes": self.summaries(),
            "invocations": {str(s.memory_mb): s.invocations for s in self.sizes},
        }


def run(
    lambda_client: Any,
    function_name: str,
    sizes: list[int],
    *,
    iterations: int,
    payload: Any = None,
    on_invocation: Callable[[int, Invocation], None] | None = None,
) -> SweepResult:
    if iterations < 1:
        raise UsageError(f"--iterations must be at least 1 (got {iterations})")
    configuration = lambda_client.get_function_configuration(FunctionName=function_name)
    original = int(configuration["MemorySize"])
    architecture = (configuration.get("Architectures") or ["x86_64"])[0]
    body = json.dumps(payload if payload is not None else {}).encode()
    results: list[SizeResult] = []
    changed = False
    try:
        for size in sizes:
            changed = True
            update_configuration(lambda_client, function_name, MemorySize=size)
            result = SizeResult(size)
            results.append(result)
            for _ in range(iterations):
                invocation = invoke_with_log(lambda_client, function_name, body)
                result.record(invocation)
                if on_invocation is not None:
                    on_invocation(size, invocation)
    finally:
        if changed:  # also after an error or Ctrl-C (KeyboardInterrupt passes through here)
            update_configuration(lambda_client, function_name, MemorySize=original)
    return SweepResult(function_name, architecture, original, changed, results)


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, max(0, round(q * len(values) + 0.5) - 1))], 2)


def render_markdown(result: SweepResult) -> str:
    price = PRICES.get(result.architecture, PRICES["x86_64"])
    lines = [
        f"## Memory sweep: {result.function_name} ({result.architecture})",
        "",
        "| memory (MB) | invocations | errors | duration p50 (ms) | p90 (ms) | "
        "Init Duration (ms) | billed mean (ms) | max memory used (MB) | "
        "cost per 1M invocations (USD) | |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in result.summaries():
        marks = ", ".join(
            mark for mark, on in (("cheapest", row["cheapest"]), ("fastest", row["fastest"])) if on
        )
        cells = [
            row["memory_mb"],
            row["invocations"],
            row["errors"],
            _cell(row["duration_p50_ms"]),
            _cell(row["duration_p90_ms"]),
            _cell(row["init_duration_ms"]),
            _cell(row["billed_mean_ms"]),
            _cell(row["max_memory_used_mb"]),
            _cell(row["cost_per_million_usd"]),
            marks,
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines += [
        "",
        f"Prices: ${price.per_gb_second:.10f} per GB-second, ${price.per_request * 1e6:.2f} per "
        f"million requests; {PRICE_SOURCE}.",
        f"MemorySize restored to {result.original_memory_mb} MB.",
    ]
    if not result.cpu_scaled:
        lines.append(
            f"{CPU_NOT_SCALED}: durations do not show how CPU grows with memory, so no size "
            "is marked fastest."
        )
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def write_plot(result: SweepResult, path: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result.summaries() if r["duration_p50_ms"] is not None]
    memory = [r["memory_mb"] for r in rows]
    figure, (time_axis, cost_axis) = plt.subplots(1, 2, figsize=(11, 4))
    time_axis.plot(memory, [r["duration_p50_ms"] for r in rows], marker="o", label="p50")
    time_axis.plot(memory, [r["duration_p90_ms"] for r in rows], marker="o", label="p90")
    time_axis.set(xlabel="memory (MB)", ylabel="duration (ms)", title="duration")
    time_axis.legend()
    cost_axis.plot(memory, [r["cost_per_million_usd"] for r in rows], marker="o", color="C2")
    cost_axis.set(xlabel="memory (MB)", ylabel="USD per 1M invocations", title="cost")
    figure.suptitle(f"{result.function_name} ({result.architecture})")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
