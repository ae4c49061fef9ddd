"""Server CPU per AWS call of the embedded moto server: moto's own route against the direct
dispatch of JSON-protocol calls and leaner HTTP reading and writing (embedded/moto/).

    python benchmarks/bench_moto_requests.py [--calls 300] [--rounds 3] [--json FILE]

Starts three MotoServers, each in a process of its own with the embedded stack's moto patches
and random SigV4 credentials: ``moto``, as before this change (every request through moto's
DomainDispatcherApplication and Flask apps, cheroot's own response writing); ``direct``, with
``direct_json_dispatch`` (embedded/moto/dispatch.py); ``direct+lean-io``, with ``lean_io``
too (embedded/moto/cheroot_io.py), as the embedded stack runs it. On
each it creates a DynamoDB table, two SQS queues and a Step Functions state machine with one
execution, then, per round and per API, issues ``--calls`` calls from one boto3 client
signed with the server's credentials, the servers taking turns: DescribeExecution,
UpdateItem with a ConditionExpression, GetItem, SendMessage (to a queue made anew,
unmeasured, every 20 calls), ReceiveMessage (from a queue of 10 messages, each visible again
at once), and GetQueueUrl (next to no work in moto's backend). A server's CPU for a batch
is the time its process's threads spent on a CPU (/proc/PID/task/*/schedstat; the client is
this process, not counted), divided by the calls; the table shows each API's median over
the rounds.
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

REGION = "us-east-1"
# route name -> MotoServer's (direct_json_dispatch, lean_io)
ROUTES = {"moto": (False, False), "direct": (True, False), "direct+lean-io": (True, True)}
APIS = (
    "DescribeExecution",
    "UpdateItem",
    "GetItem",
    "SendMessage",
    "ReceiveMessage",
    "GetQueueUrl",
)
RECEIVABLE = 10  # messages in ReceiveMessage's queue
# SendMessage's queue is made anew after this many calls: moto's SendMessage counts the
# queue's messages (Queue.attributes), so its cost grows with the queue, which the pipeline's
# poller keeps short.
RESET_EVERY = 20
PASS_MACHINE = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
ROLE_ARN = "arn:aws:iam::123456789012:role/bench"

console = Console(stderr=True)


def serve(direct: bool, lean_io: bool) -> None:
    """The server process: serve until stdin closes."""
    from botocore.credentials import Credentials

    from serverless_testbed.embedded.moto import patches
    from serverless_testbed.embedded.moto.server import MotoServer
    from serverless_testbed.emulation.invoke import Invoked

    def no_lambda(function_name: str, payload: bytes) -> Invoked:
        return Invoked(b'{"errorMessage": "no Lambda in this benchmark"}', "Unhandled")

    patches.install(no_lambda)
    key, secret = os.environ["BENCH_ACCESS_KEY"], os.environ["BENCH_SECRET_KEY"]
    server = MotoServer(
        credentials=Credentials(key, secret), direct_json_dispatch=direct, lean_io=lean_io
    ).start()
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
        """The process's CPU time so far: the sum of its threads' time on a CPU, in ns
        (/proc/PID/task/TID/schedstat; /proc/PID/stat counts in 10 ms ticks)."""
        total_ns = 0
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            try:
                total_ns += int((task / "schedstat").read_text().split()[0])
            except (OSError, IndexError, ValueError):
                continue  # a thread that ended in between
        return total_ns / 1e9

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
        # Next to no backend work: what is left is the server's own cost per call.
        "GetQueueUrl": lambda i: sqs.get_queue_url(QueueName="bench-receive"),
        "reset": lambda i: (
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
                    call, spent_s = apis[route][api], 0.0
                    for start in range(0, calls, RESET_EVERY):
                        before = server.cpu_s()
                        for i in range(start, min(calls, start + RESET_EVERY)):
                            call(i)
                        spent_s += server.cpu_s() - before
                        if api == "SendMessage":  # unmeasured: its queue stays short
                            apis[route]["reset"](0)
                    ms_per_call[route][api].append(spent_s * 1000 / calls)
        return ms_per_call
    finally:
        for server in servers.values():
            server.close()


def markdown(medians: dict[str, dict[str, float]], calls: int, rounds: int) -> str:
    routes = list(ROUTES)
    lines = [
        f"Server CPU per call (ms, median of {rounds} rounds of {calls} calls)",
        "",
        "| API | " + " | ".join(routes) + " | saved |",
        "|---|" + "---:|" * (len(routes) + 1),
    ]
    for api in [*APIS, "all"]:
        row = [medians[route][api] for route in routes]
        saved = (1 - row[-1] / row[0]) * 100 if row[0] else 0.0
        lines.append(f"| {api} | " + " | ".join(f"{ms:.3f}" for ms in row) + f" | {saved:.0f}% |")
    lines += ["", "saved: the last route against the first; all: the mean over the APIs."]
    return "\n".join(lines)


def sigv4_check_us(checks: int = 3000) -> dict[str, float]:
    """Microseconds per SigV4 check of one signed UpdateItem: at ``/`` (the canonical request
    written directly) and at ``/x`` (botocore's signer, as every check was before)."""
    import time

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from serverless_testbed.emulation import sigv4

    credentials = Credentials("AKIA" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30))
    body = json.dumps({"TableName": "bench", "Key": {"pk": {"S": "run"}}}).encode()
    timings = {}
    for name, path in (("direct", "/"), ("botocore", "/x")):
        request = AWSRequest(
            method="POST",
            url=f"http://127.0.0.1:4566{path}",
            data=body,
            headers={
                "X-Amz-Target": "DynamoDB_20120810.UpdateItem",
                "Content-Type": "application/x-amz-json-1.0",
                "User-Agent": "Boto3/1.35 md/Botocore#1.35 ua/2.0 os/linux lang/python#3.11",
            },
        )
        SigV4Auth(credentials, "dynamodb", REGION).add_auth(request)
        headers = [*request.headers.items(), ("Host", "127.0.0.1:4566")]
        assert sigv4.check("POST", path, headers, body, credentials) is None
        started = time.perf_counter()
        for _ in range(checks):
            sigv4.check("POST", path, headers, body, credentials)
        timings[name] = (time.perf_counter() - started) / checks * 1e6
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="calls per API per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (each API, both routes)")
    parser.add_argument("--json", type=Path, help="write the figures as JSON to this file")
    parser.add_argument("--serve", choices=sorted(ROUTES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(*ROUTES[args.serve])
        return 0
    if args.calls < 1 or args.rounds < 1:
        parser.error("--calls and --rounds must be at least 1")
    per_round = measure(args.calls, args.rounds)
    medians = {
        route: {api: statistics.median(values) for api, values in by_api.items()}
        for route, by_api in per_round.items()
    }
    for by_api in medians.values():
        by_api["all"] = statistics.mean(by_api[api] for api in APIS)
    check_us = sigv4_check_us()
    print(markdown(medians, args.calls, args.rounds))
    print(
        f"\nSigV4 check of one UpdateItem (emulation/sigv4.py, in this process, every route): "
        f"{check_us['direct']:.1f} us at / (canonical request written directly), "
        f"{check_us['botocore']:.1f} us elsewhere (botocore's signer, as before for every path)"
    )
    if args.json:
        figures = {
            "calls": args.calls,
            "rounds": args.rounds,
            "ms_per_call": per_round,
            "sigv4_check_us": check_us,
        }
        args.json.write_text(json.dumps({**figures, "median_ms_per_call": medians}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
