"""In-process moto for the pipeline's unit tests; every client is made here and injected."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.unit.pipeline.support import FakeClock, wait_for

ASL_PATH = Path(__file__).resolve().parents[3] / "statemachine" / "pipeline.asl.json"
MOTO_CONFIG = {
    "stepfunctions": {"execute_state_machine": True},
    # moto's Lambda then answers Invoke by echoing the payload: enough for the Dispatch task,
    # which waits for the task token anyway; the tests play the dispatcher's part.
    "lambda": {"use_docker": False},
}


@dataclass
class Aws:
    sfn: Any
    sqs: Any
    dynamodb: Any
    lambda_: Any
    iam: Any
    role_arn: str


@dataclass(frozen=True)
class Queue:
    url: str
    arn: str

    @property
    def name(self) -> str:
        return self.arn.rsplit(":", 1)[-1]


@pytest.fixture(scope="session")
def boto_session() -> boto3.Session:
    """One session for every test: its clients share loaded service models (fast to make)."""
    return boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, boto_session: boto3.Session) -> Iterator[Aws]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws(config=MOTO_CONFIG):
        session = boto_session
        yield Aws(
            sfn=session.client("stepfunctions"),
            sqs=session.client("sqs"),
            dynamodb=session.client("dynamodb"),
            lambda_=session.client("lambda"),
            iam=session.client("iam"),
            # Step Functions in moto takes any well-formed role; Lambda wants one in IAM.
            role_arn="arn:aws:iam::123456789012:role/pipeline",
        )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def queue(aws: Aws) -> Queue:
    dead = aws.sqs.create_queue(QueueName="requests-dlq")["QueueUrl"]
    dead_arn = aws.sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])
    url = aws.sqs.create_queue(
        QueueName="requests",
        Attributes={
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dead_arn["Attributes"]["QueueArn"], "maxReceiveCount": 3}
            )
        },
    )["QueueUrl"]
    arn = aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return Queue(url, arn["Attributes"]["QueueArn"])


@pytest.fixture
def table(aws: Aws) -> str:
    aws.dynamodb.create_table(
        TableName="requests",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    return "requests"


@pytest.fixture
def pipeline_machine(aws: Aws) -> str:
    """The project's own ASL, substituted the way template.yaml does, in moto."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("index.py", "")
    aws.iam.create_role(RoleName="pipeline", AssumeRolePolicyDocument="{}")
    dispatcher_arn = aws.lambda_.create_function(
        FunctionName="dispatcher",
        Runtime="python3.11",
        Role=aws.role_arn,
        Handler="index.handler",
        Code={"ZipFile": archive.getvalue()},
    )["FunctionArn"]
    definition = substitute_asl(
        {
            "DispatcherFunctionArn": dispatcher_arn,
            "TaskTimeoutSeconds": "30",
            "TaskHeartbeatSeconds": "25",
        }
    )
    return aws.sfn.create_state_machine(
        name="pipeline", definition=definition, roleArn=aws.role_arn
    )["stateMachineArn"]


def substitute_asl(substitutions: dict[str, str]) -> str:
    text = ASL_PATH.read_text()
    for key, value in substitutions.items():
        text = text.replace("${" + key + "}", value)
    return text


@dataclass(frozen=True)
class WaitingExecution:
    arn: str
    dispatcher_event: dict[str, Any]  # what Step Functions invoked the dispatcher with


def start_waiting_execution(
    aws: Aws, machine_arn: str, request: dict[str, Any]
) -> WaitingExecution:
    """Start the pipeline and return once its Dispatch task waits for the task token."""
    arn = aws.sfn.start_execution(
        stateMachineArn=machine_arn, name=request["request_id"], input=json.dumps(request)
    )["executionArn"]

    return WaitingExecution(arn, dispatcher_event_once_waiting(aws, arn))


def dispatcher_event_once_waiting(aws: Aws, execution_arn: str) -> dict[str, Any]:
    """The payload the Dispatch task invoked the dispatcher with, once the task waits for its
    token. (Calling back before TaskSubmitted can be lost in moto without the embedded
    stack's patches: a race in moto's heartbeat wait, not in the pipeline.)"""

    def scheduled_parameters() -> dict[str, Any] | None:
        events = aws.sfn.get_execution_history(executionArn=execution_arn)["events"]
        types = {event["type"] for event in events}
        for event in events:
            if event["type"] == "TaskScheduled" and "TaskSubmitted" in types:
                return json.loads(event["taskScheduledEventDetails"]["parameters"])
        return None

    parameters = wait_for(scheduled_parameters, what="the Dispatch task to wait for its token")
    return parameters["Payload"]


def stop_once_waiting(aws: Aws, execution_arn: str) -> None:
    """Stop an execution left waiting for its token (stopping one still starting breaks moto)."""
    dispatcher_event_once_waiting(aws, execution_arn)
    aws.sfn.stop_execution(executionArn=execution_arn)
