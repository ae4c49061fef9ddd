"""Benchmark moto's backends and response handlers: CPU per call, with and without the
embedded stack's DynamoDB / Step Functions / SQS speed patches, in one run.

    python benchmarks/bench_moto_backends.py [--calls 300] [--rounds 3] [--executions 500]
                                             [--in-flight 8] [--json FILE]

Each API is called in this process through its moto response class (``dispatch``, with a
request built as moto's server builds it: no HTTP, no Flask), so the figures are what the
handler and the backend cost, measured with ``time.thread_time`` around each call. Every
other speed patch (speed.apply()) is in effect throughout; the service patches
(embedded/moto/speed/{dynamodb,stepfunctions,sqs}.py) are undone for the "without" rounds and
applied again for the "with" rounds, alternating --rounds times; the table shows each side's
median over rounds of the mean CPU per call.

APIs, as the pipeline calls them:
- DynamoDB UpdateItem with the pipeline's update and condition expressions, on a new item
  (condition passes) and on an item another message wrote (ConditionalCheckFailed);
- Step Functions DescribeExecution, StartExecution (of a Pass state: the CPU counted is the
  request's, not the execution thread's; each round adds its executions to those kept) and
  SendTaskSuccess (an unknown token: InvalidToken after looking at every RUNNING
  execution), with --executions executions kept by the backend;
- SQS SendMessage + ReceiveMessage of that message, with --in-flight messages received and
  not deleted before.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

stderr = Console(stderr=True)

REGION = "us-east-1"
ACCOUNT = "123456789012"
AUTHORIZATION = (
    f"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/{REGION}/{{service}}/"
    "aws4_request, SignedHeaders=host, Signature=0"
)
SERVICE_MODULES = tuple(
    f"serverless_testbed.embedded.moto.speed.{name}"
    for name in ("dynamodb", "stepfunctions", "sqs")
)
# Applied before the service modules existed: part of the baseline, never undone.
BASELINE_TARGETS = frozenset({"moto.dynamodb.responses.UpdateExpressionParser"})

UPDATE_EXPRESSION = (
    "SET #status = :status, execution_arn = :execution, payload = :payload, "
    "message_id = :message_id, worker_start = :worker_start"
)
CONDITION_EXPRESSION = (
    "attribute_not_exists(pk) OR (message_id = :message_id AND #status = :status)"
)
DEFINITION = json.dumps(
    {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}, sort_keys=True
)


class Caller:
    """Dispatches one JSON-protocol call to a moto response class, as moto's server would."""

    def __init__(self, response_class: Any, target_prefix: str, service: str, host: str) -> None:
        self.response_class = response_class
        self.target_prefix = target_prefix
        self.service = service
        self.host = host

    def __call__(self, action: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        from moto.core.exceptions import ServiceException
        from moto.moto_server.werkzeug_app import BackendRequest
        from werkzeug.exceptions import HTTPException
        from werkzeug.test import EnvironBuilder

        headers = {
            "X-Amz-Target": f"{self.target_prefix}.{action}",
            "Content-Type": "application/x-amz-json-1.0",
            "Host": self.host,
            "Authorization": AUTHORIZATION.format(service=self.service),
        }
        environ = EnvironBuilder(
            method="POST",
            path="/",
            headers=list(headers.items()),
            data=json.dumps(body).encode(),
            base_url=f"http://{self.host}",
        ).get_environ()
        request = BackendRequest(environ)
        try:
            status, _, payload = self.response_class.dispatch(
                request, f"http://{self.host}/", request.headers
            )
        except (HTTPException, ServiceException) as error:
            code = getattr(error, "code", None)
            return (code if isinstance(code, int) else 400), {"__type": type(error).__name__}
        text = payload.decode() if isinstance(payload, bytes) else payload
        return int(status), json.loads(text) if text else {}


def expect(outcome: tuple[int, dict[str, Any]], status: int, what: str) -> dict[str, Any]:
    if outcome[0] != status:
        raise SystemExit(f"bench_moto_backends: {what} answered {outcome}, expected {status}")
    return outcome[1]


def dynamodb_cases() -> dict[str, Callable[[], Any]]:
    from moto.dynamodb.responses import DynamoHandler

    call = Caller(
        DynamoHandler, "DynamoDB_20120810", "dynamodb", f"dynamodb.{REGION}.amazonaws.com"
    )
    table = f"bench-{uuid.uuid4().hex[:8]}"
    expect(
        call(
            "CreateTable",
            {
                "TableName": table,
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST",
            },
        ),
        200,
        "CreateTable",
    )

    def update(request_id: str, message_id: str) -> dict[str, Any]:
        return {
            "TableName": table,
            "Key": {"pk": {"S": request_id}},
            "UpdateExpression": UPDATE_EXPRESSION,
            "ConditionExpression": CONDITION_EXPRESSION,
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {
                ":status": {"S": "DONE"},
                ":execution": {"S": "arn:aws:states:us-east-1:123456789012:execution:m:e"},
                ":payload": {"S": '{"n": 1}'},
                ":message_id": {"S": message_id},
                ":worker_start": {"N": "1764486000.25"},
            },
        }

    expect(call("UpdateItem", update("taken", "first")), 200, "UpdateItem")

    def new_item() -> None:
        expect(call("UpdateItem", update(uuid.uuid4().hex, "m")), 200, "UpdateItem (new item)")

    def condition_fails() -> None:
        answer = expect(call("UpdateItem", update("taken", "other")), 400, "UpdateItem (taken)")
        assert "ConditionalCheckFailed" in answer["__type"], answer

    return {
        "DynamoDB UpdateItem, new item": new_item,
        "DynamoDB UpdateItem, ConditionalCheckFailed": condition_fails,
    }


def stepfunctions_cases(executions: int) -> dict[str, Callable[[], Any]]:
    from moto.core.config import default_user_config
    from moto.stepfunctions.responses import StepFunctionResponse

    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    call = Caller(
        StepFunctionResponse, "AWSStepFunctions", "states", f"states.{REGION}.amazonaws.com"
    )
    machine = expect(
        call(
            "CreateStateMachine",
            {
                "name": f"bench-{uuid.uuid4().hex[:8]}",
                "definition": DEFINITION,
                "roleArn": f"arn:aws:iam::{ACCOUNT}:role/bench",
            },
        ),
        200,
        "CreateStateMachine",
    )["stateMachineArn"]
    arns = []
    for index in range(executions):
        started = call("StartExecution", {"stateMachineArn": machine, "name": f"e{index}"})
        arns.append(expect(started, 200, "StartExecution")["executionArn"])
    deadline = time.monotonic() + 120
    last = arns[-1]
    while (
        expect(call("DescribeExecution", {"executionArn": last}), 200, "Describe")["status"]
        == "RUNNING"
    ):
        if time.monotonic() > deadline:
            raise SystemExit("bench_moto_backends: the executions did not end within 120 s")
        time.sleep(0.05)
    described = iter(arns * 1000)

    def describe() -> None:
        expect(call("DescribeExecution", {"executionArn": next(described)}), 200, "Describe")

    numbers = iter(range(10**9))

    def start() -> None:
        name = f"s{next(numbers)}"
        expect(call("StartExecution", {"stateMachineArn": machine, "name": name}), 200, "Start")

    def unknown_token() -> None:
        answer = call("SendTaskSuccess", {"taskToken": uuid.uuid4().hex, "output": "{}"})
        assert answer[0] == 400 and "InvalidToken" in answer[1]["__type"], answer

    return {
        f"Step Functions DescribeExecution ({executions} kept)": describe,
        f"Step Functions StartExecution ({executions}+ kept)": start,
        f"Step Functions SendTaskSuccess, unknown token ({executions} kept)": unknown_token,
    }


def sqs_cases(in_flight: int) -> dict[str, Callable[[], Any]]:
    from moto.sqs.responses import SQSResponse

    call = Caller(SQSResponse, "AmazonSQS", "sqs", f"sqs.{REGION}.amazonaws.com")
    url = expect(call("CreateQueue", {"QueueName": f"bench-{uuid.uuid4().hex[:8]}"}), 200, "Queue")[
        "QueueUrl"
    ]
    for index in range(in_flight):
        expect(call("SendMessage", {"QueueUrl": url, "MessageBody": f"m{index}"}), 200, "Send")
    received = call("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10})
    assert len(expect(received, 200, "Receive").get("Messages", [])) == in_flight

    def send_and_receive() -> None:
        expect(call("SendMessage", {"QueueUrl": url, "MessageBody": "x"}), 200, "SendMessage")
        answer = expect(call("ReceiveMessage", {"QueueUrl": url}), 200, "ReceiveMessage")
        handle = answer["Messages"][0]["ReceiptHandle"]
        expect(call("DeleteMessage", {"QueueUrl": url, "ReceiptHandle": handle}), 200, "Delete")

    return {f"SQS Send+Receive+Delete ({in_flight} in flight)": send_and_receive}


def cpu_per_call_ms(case: Callable[[], Any], calls: int) -> float:
    spent = 0.0
    for _ in range(calls):
        started = time.thread_time()
        case()
        spent += time.thread_time() - started
    return spent / calls * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="calls per API per round")
    parser.add_argument("--rounds", type=int, default=3, help="with/without alternations")
    parser.add_argument("--executions", type=int, default=500, help="executions kept")
    parser.add_argument("--in-flight", type=int, default=8, help="SQS messages in flight")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    if min(args.calls, args.rounds, args.executions) < 1 or args.in_flight < 0:
        parser.error("--calls, --rounds and --executions must be at least 1, --in-flight 0 or more")

    from serverless_testbed.embedded.moto import speed

    stderr.print("applying the speed patches, creating the resources ...")
    service_patches = [
        applied
        for applied in speed.apply()
        if getattr(applied.new, "__module__", "") in SERVICE_MODULES
        and applied.target not in BASELINE_TARGETS
    ]
    cases = {
        **dynamodb_cases(),
        **stepfunctions_cases(args.executions),
        **sqs_cases(args.in_flight),
    }
    samples: dict[str, dict[str, list[float]]] = {
        name: {"without": [], "with": []} for name in cases
    }
    for round_number in range(1, args.rounds + 1):
        for side in ("without", "with"):
            for applied in service_patches:
                applied.undo() if side == "without" else applied.apply()
            stderr.print(f"round {round_number}/{args.rounds}, {side} the service patches ...")
            for name, case in cases.items():
                case()  # warm
                samples[name][side].append(cpu_per_call_ms(case, args.calls))
    results = {
        "calls": args.calls,
        "rounds": args.rounds,
        "executions": args.executions,
        "in_flight": args.in_flight,
        "patches": sorted(applied.target for applied in service_patches),
        "cpu_ms_per_call": {
            name: {side: statistics.median(values) for side, values in sides.items()}
            for name, sides in samples.items()
        },
        "samples_ms": samples,
    }
    print(render(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


def render(results: dict[str, Any]) -> str:
    lines = [
        f"CPU per call (ms, median of {results['rounds']} rounds x {results['calls']} calls)",
        "",
        "| API | without | with | saved |",
        "|---|---:|---:|---:|",
    ]
    for name, sides in results["cpu_ms_per_call"].items():
        saved = 1 - sides["with"] / sides["without"] if sides["without"] else 0.0
        lines.append(f"| {name} | {sides['without']:.3f} | {sides['with']:.3f} | {saved:.0%} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
