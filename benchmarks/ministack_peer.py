"""MiniStack as a peer for bench_concurrency.py: the pipeline's chain built in it by API calls.

MiniStack (PyPI ``ministack``) pins botocore exactly, so it lives in a venv of its own
(``python3 -m venv /tmp/ministack-venv && /tmp/ministack-venv/bin/pip install ministack
boto3``) and runs as a server process; this module only talks to it over HTTP.

The chain is the one template.yaml describes, made with direct API calls instead of
CloudFormation (template.yaml is SAM): the request queue with its dead-letter queue
(maxReceiveCount 3), the table (pk), the api, dispatcher and worker functions from the zip
`sam build` makes (containers/packaging.py: this package plus the handlers' requirements),
the worker's SQS mapping (batch 10, no batching window, ReportBatchItemFailures), the state
machine from statemachine/pipeline.asl.json with the template's default substitutions, and
an HTTP API (API Gateway v2, its ``$default`` stage) whose ``POST /run`` route is the api
function's Lambda proxy integration (payload format 2.0), as the template's ``HttpApi``.
``run_url`` is that route, in MiniStack's path form for execute-api
(``/_aws/execute-api/{apiId}/run``: no ``{apiId}.execute-api.localhost`` host to resolve).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from serverless_testbed.containers.packaging import build_lambda_zip, requirements_for

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MINISTACK = Path("/tmp/ministack-venv/bin/ministack")
ROLE_ARN = "arn:aws:iam::000000000000:role/testbed-bench"
SUBSTITUTIONS = {"TaskTimeoutSeconds": "30", "TaskHeartbeatSeconds": "25"}


class PeerUnavailable(RuntimeError):
    """MiniStack cannot be installed, started or given the chain: the benchmark skips it."""


@dataclass
class MiniStackPeer:
    process: subprocess.Popen[bytes]
    endpoint: str
    state_machine_arn: str
    log_path: Path
    run_url: str = ""

    @property
    def pids(self) -> list[int]:
        return [self.process.pid]

    def client(self, service: str, max_pool: int = 10) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(max_pool_connections=max_pool, retries={"mode": "standard"}),
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def find_ministack(given: str | None) -> Path:
    for candidate in (given, shutil.which("ministack"), DEFAULT_MINISTACK):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise PeerUnavailable(
        "no ministack executable (python3 -m venv /tmp/ministack-venv && "
        "/tmp/ministack-venv/bin/pip install ministack boto3, or --ministack PATH)"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_ministack(executable: Path, ready_timeout_s: float = 60) -> MiniStackPeer:
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log_path = Path(tempfile.mkdtemp(prefix="bench-ministack-")) / "ministack.log"
    environment = {
        **os.environ,
        "GATEWAY_PORT": str(port),
        "BIND_HOST": "127.0.0.1",
        # where its Lambda functions' boto3 clients reach it
        "AWS_ENDPOINT_URL": endpoint,
        "LOG_LEVEL": "WARNING",
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(executable)], env=environment, stdout=log, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + ready_timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PeerUnavailable(f"ministack exited ({process.returncode}); see {log_path}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        raise PeerUnavailable(f"ministack did not listen on {port} in {ready_timeout_s} s")
    peer = MiniStackPeer(process, endpoint, "", log_path)
    try:
        peer.state_machine_arn, peer.run_url = deploy_chain(peer)
    except Exception as error:
        peer.stop()
        raise PeerUnavailable(f"cannot build the chain in ministack: {error}") from error
    return peer


def deploy_chain(peer: MiniStackPeer) -> tuple[str, str]:
    """The chain in MiniStack: (the state machine's ARN, the URL of POST /run)."""
    sqs, ddb, lam, sfn = (peer.client(s) for s in ("sqs", "dynamodb", "lambda", "stepfunctions"))
    dlq_url = sqs.create_queue(
        QueueName="testbed-dlq", Attributes={"MessageRetentionPeriod": "1209600"}
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName="testbed-requests",
        Attributes={
            "VisibilityTimeout": "60",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3}),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    ddb.create_table(
        TableName="testbed-requests",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with tempfile.TemporaryDirectory(prefix="bench-ministack-zip-") as staging:
        archive = build_lambda_zip(
            Path(staging) / "code.zip", requirements_for(ROOT / "template.yaml")
        )
        code = archive.path.read_bytes()
    common = {
        "Runtime": "python3.11",
        "Role": ROLE_ARN,
        "Code": {"ZipFile": code},
        "Timeout": 10,
        "MemorySize": 256,
    }
    dispatcher_arn = lam.create_function(
        FunctionName="testbed-dispatcher",
        Handler="serverless_testbed.handlers.dispatcher.handler",
        Environment={"Variables": {"QUEUE_URL": queue_url}},
        **common,
    )["FunctionArn"]
    lam.create_function(
        FunctionName="testbed-worker",
        Handler="serverless_testbed.handlers.worker.handler",
        Environment={"Variables": {"TABLE_NAME": "testbed-requests"}},
        **common,
    )
    lam.create_event_source_mapping(
        EventSourceArn=queue_arn,
        FunctionName="testbed-worker",
        BatchSize=10,
        MaximumBatchingWindowInSeconds=0,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        Enabled=True,
    )
    definition = (ROOT / "statemachine" / "pipeline.asl.json").read_text()
    for name, value in {**SUBSTITUTIONS, "DispatcherFunctionArn": dispatcher_arn}.items():
        definition = definition.replace("${" + name + "}", value)
    state_machine_arn = str(
        sfn.create_state_machine(
            name="testbed-pipeline", definition=definition, roleArn=ROLE_ARN, type="STANDARD"
        )["stateMachineArn"]
    )
    api_arn = lam.create_function(
        FunctionName="testbed-api",
        Handler="serverless_testbed.handlers.api.handler",
        Environment={"Variables": {"STATE_MACHINE_ARN": state_machine_arn}},
        **{**common, "Timeout": 30},  # the template's: API Gateway's own limit is 30 s
    )["FunctionArn"]
    return state_machine_arn, http_api(peer.client("apigatewayv2"), peer.endpoint, api_arn)


def http_api(apigateway: Any, endpoint: str, function_arn: str) -> str:
    """The template's HttpApi: POST /run to the function (Lambda proxy, payload 2.0)."""
    api_id = apigateway.create_api(Name="testbed-http-api", ProtocolType="HTTP")["ApiId"]
    integration_id = apigateway.create_integration(
        ApiId=api_id,
        IntegrationType="AWS_PROXY",
        IntegrationUri=function_arn,
        PayloadFormatVersion="2.0",
    )["IntegrationId"]
    apigateway.create_route(
        ApiId=api_id, RouteKey="POST /run", Target=f"integrations/{integration_id}"
    )
    apigateway.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    return f"{endpoint}/_aws/execute-api/{api_id}/run"
