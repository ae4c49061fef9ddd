"""Server CPU per AWS call of the embedded moto server: moto's own route against the direct
dispatch of JSON-protocol calls (src/serverless_testbed/embedded/moto/dispatch.py).

    python benchmarks/bench_moto_requests.py [--calls 300] [--rounds 3] [--json FILE]

Starts two MotoServers, each in a process of its own with the embedded stack's moto patches
and random SigV4 credentials: one with ``direct_json_dispatch=False`` (every request through
moto's DomainDispatcherApplication and Flask apps), one with it on. On each it creates a
DynamoDB table, two SQS queues and a Step Functions state machine with one execution, then, per
round and per API, issues ``--calls`` calls from one boto3 client signed with the server's
credentials, the two servers alternating: DescribeExecution, UpdateItem with a
ConditionExpression, GetItem, SendMessage (to a queue made anew after each batch),
ReceiveMessage (from a queue of 10 messages, each visible again at once). A server's CPU
for a batch is its process's user + system time from /proc/PID/stat (the client is this
process, not counted), divided by the calls; the table shows each API's median over the
rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from rich.console import Console

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
REGION = "us-east-1"
ROUTES = {"moto": False, "direct": True}  # route name -> direct_json_dispatch
APIS = ("DescribeExecution", "UpdateItem", "GetItem", "SendMessage", "ReceiveMessage")
RECEIVABLE = 10  # messages in ReceiveMessage's queue
PASS_MACHINE = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
ROLE_ARN = "arn:aws:iam::123456789012:role/bench"

console = Console(stderr=True)


def serve(direct: bool) -> None:
    """The server process: serve until stdin closes."""
    from botocore.credentials import Credentials

    from serverless_testbed.embedded.moto import patches
    from serverless_testbed.embedded.moto.server import MotoServer
    from serverless_testbed.emulation.invoke import Invoked

    def no_lambda(function_name: str, payload: bytes) -> Invoked:
        return Invoked(b'{"errorMessage": "no Lambda in this benchmark"}', "Unhandled")

    patches.install(no_lambda)
    key, secret = os.environ["BENCH_ACCESS_KEY"], os.environ["BENCH_SECRET_KEY"]
    server = MotoServer(credentials=Credentials(key, secret), direct_json_dispatch=direct).start()
    os.environ["MOTO_PORT"] = str(server.port)
    print(server.url, flush=True)
    sys.stdin.read()
    server.stop()


class ServerProcess:
    def __init__(self, route: str) -> None:
        self.route = route
        self.key = "AKIA" + secrets.token_hex(8).upper()
        self.secret = secrets.token_urlsafe(30)
        environment = {**os.environ, "BENCH_ACCESS_KEY": self.key, "BENCH_SECRET_KEY": self.secret}
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", route],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=environment,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http"):
            raise SystemExit(f"bench_moto_requests: the {route} server did not start")

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=self.key,
            aws_secret_access_key=self.secret,
            config=Config(retries={"max_attempts": 1}),
        )

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


def calls_of(server: ServerProcess) -> dict[str, Callable[[int], object]]:
    """Deploy what the calls need; each API as a function of the call's index."""
    dynamodb, sqs, sfn = (
        server.client("dynamodb"),
        server.client("sqs"),
        server.client("stepfunctions"),
    )
    dynamodb.create_table(
        TableName="bench",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(TableName="bench", Item={"pk": {"S": "run"}, "count": {"N": "0"}})
    send_queue = sqs.create_queue(QueueName="bench-send")["QueueUrl"]
    receive_queue = sqs.create_queue(QueueName="bench-receive")["QueueUrl"]
    for i in range(RECEIVABLE):
        sqs.send_message(QueueUrl=receive_queue, MessageBody=f"m{i}")
    machine = sfn.create_state_machine(name="bench", definition=PASS_MACHINE, roleArn=ROLE_ARN)
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"]
    key = {"pk": {"S": "run"}}
    return {
        "DescribeExecution": lambda i: sfn.describe_execution(executionArn=execution),
        "UpdateItem": lambda i: dynamodb.update_item(
            TableName="bench",
            Key=key,
            UpdateExpression="SET #c = #c + :one",
            ConditionExpression="attribute_exists(pk) AND #c >= :zero",
            ExpressionAttributeNames={"#c": "count"},
            ExpressionAttributeValues={":one": {"N": "1"}, ":zero": {"N": "0"}},
        ),
        "GetItem": lambda i: dynamodb.get_item(TableName="bench", Key=key, ConsistentRead=True),
        "SendMessage": lambda i: sqs.send_message(QueueUrl=send_queue, MessageBody=f"m{i}"),
        # Visible again at once: the queue keeps RECEIVABLE messages whatever the calls.
        "ReceiveMessage": lambda i: sqs.receive_message(
            QueueUrl=receive_queue, MaxNumberOfMessages=1, WaitTimeSeconds=0, VisibilityTimeout=0
        ),
        "purge": lambda i: (
            sqs.delete_queue(QueueUrl=send_queue),
            sqs.create_queue(QueueName="bench-send"),
        ),
    }


def measure(calls: int, rounds: int) -> dict[str, dict[str, list[float]]]:
    servers = {route: ServerProcess(route) for route in ROUTES}
    try:
        apis = {route: calls_of(server) for route, server in servers.items()}
        for route in ROUTES:  # warm both: first calls load models and build apps
            for api in APIS:
                for i in range(20):
                    apis[route][api](i)
        ms_per_call: dict[str, dict[str, list[float]]] = {
            route: {api: [] for api in APIS} for route in ROUTES
        }
        for round_number in range(rounds):
            for api in APIS:
                for route, server in servers.items():
                    console.print(f"round {round_number + 1}/{rounds}: {api} via {route}")
                    call = apis[route][api]
                    before = server.cpu_s()
                    for i in range(calls):
                        call(i)
                    ms_per_call[route][api].append((server.cpu_s() - before) * 1000 / calls)
                    apis[route]["purge"](0)  # SendMessage's queue does not grow round to round
        return ms_per_call
    finally:
        for server in servers.values():
            server.close()


def markdown(medians: dict[str, dict[str, float]], calls: int, rounds: int) -> str:
    lines = [
        f"Server CPU per call (ms, median of {rounds} rounds of {calls} calls)",
        "",
        "| API | moto route | direct dispatch | saved |",
        "|---|---:|---:|---:|",
    ]
    for api in APIS:
        moto, direct = medians["moto"][api], medians["direct"][api]
        saved = (1 - direct / moto) * 100 if moto else 0.0
        lines.append(f"| {api} | {moto:.3f} | {direct:.3f} | {saved:.0f}% |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="calls per API per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (each API, both routes)")
    parser.add_argument("--json", type=Path, help="write the figures as JSON to this file")
    parser.add_argument("--serve", choices=sorted(ROUTES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(ROUTES[args.serve])
        return 0
    if args.calls < 1 or args.rounds < 1:
        parser.error("--calls and --rounds must be at least 1")
    per_round = measure(args.calls, args.rounds)
    medians = {
        route: {api: statistics.median(values) for api, values in by_api.items()}
        for route, by_api in per_round.items()
    }
    print(markdown(medians, args.calls, args.rounds))
    if args.json:
        figures = {"calls": args.calls, "rounds": args.rounds, "ms_per_call": per_round}
        args.json.write_text(json.dumps({**figures, "median_ms_per_call": medians}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
