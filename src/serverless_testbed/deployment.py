"""A deployed pipeline stack, found by its CloudFormation outputs.

The same discovery serves every target: the embedded stack deploys template.yaml into the
emulator's CloudFormation API, the containers stack into LocalStack, and on AWS it is the stack
`sam deploy` made. Only the boto3 session (credentials, region, endpoint settings) differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

from serverless_testbed.errors import UsageError

# Deployment attribute -> CloudFormation output key in template.yaml.
STACK_OUTPUTS = {
    "api_url": "ApiUrl",
    "state_machine_arn": "StateMachineArn",
    "queue_url": "RequestQueueUrl",
    "dead_letter_queue_url": "DeadLetterQueueUrl",
    "table_name": "TableName",
    "api_function": "ApiFunctionName",
    "dispatcher_function": "DispatcherFunctionName",
    "worker_function": "WorkerFunctionName",
}
# Outputs added later to template.yaml: a stack deployed before them is still found, and the
# command that needs one says so (see Deployment.require).
OPTIONAL_STACK_OUTPUTS = {
    "delay_state_machine_arn": "DelayStateMachineArn",
    "delayed_task_table": "DelayedTaskTableName",
    "delayed_task_function": "DelayedTaskFunctionName",
    "probe_function": "ProbeFunctionName",  # testbed coldstart / memory-sweep's default
}


@dataclass(frozen=True)
class Deployment:
    target: str
    stack_name: str
    region: str
    api_url: str
    state_machine_arn: str
    queue_url: str
    dead_letter_queue_url: str
    table_name: str
    api_function: str
    dispatcher_function: str
    worker_function: str
    session: boto3.Session = field(repr=False, compare=False)
    endpoint_url: str | None = None  # None: boto3 resolves it (AWS_ENDPOINT_URL_*, config)
    client_config: Config | None = field(default=None, repr=False, compare=False)
    delay_state_machine_arn: str | None = None
    delayed_task_table: str | None = None
    delayed_task_function: str | None = None
    probe_function: str | None = None

    def outputs(self) -> dict[str, str]:
        """The stack outputs this deployment was found by (OutputKey -> OutputValue)."""
        keys = STACK_OUTPUTS | OPTIONAL_STACK_OUTPUTS
        return {key: getattr(self, attr) for attr, key in keys.items() if getattr(self, attr)}

    def require(self, attribute: str) -> str:
        """An optional output's value, or a one-line UsageError naming the output."""
        value = getattr(self, attribute)
        if value is None:
            raise UsageError(
                f"stack {self.stack_name!r} has no output {OPTIONAL_STACK_OUTPUTS[attribute]}: "
                "it was deployed from an older template.yaml; deploy it again (sam deploy)"
            )
        return str(value)

    def client(self, service: str, **kwargs: Any) -> Any:
        if self.endpoint_url is not None:
            kwargs.setdefault("endpoint_url", self.endpoint_url)
        if self.client_config is not None:
            kwargs.setdefault("config", self.client_config)
        return self.session.client(service, region_name=self.region, **kwargs)

    @property
    def queue_name(self) -> str:
        return self.queue_url.rstrip("/").rsplit("/", 1)[-1]


def discover_deployment(
    stack_name: str,
    *,
    target: str,
    session: boto3.Session | None = None,
    endpoint_url: str | None = None,
    client_config: Config | None = None,
) -> Deployment:
    """Read the stack's outputs; a missing stack or output is a one-line UsageError."""
    session = session or boto3.Session()
    region = session.region_name
    if not region:
        raise UsageError("no AWS region: pass --region or set AWS_REGION / AWS_DEFAULT_REGION")
    kwargs: dict[str, Any] = {"endpoint_url": endpoint_url} if endpoint_url else {}
    if client_config is not None:
        kwargs["config"] = client_config
    cloudformation = session.client("cloudformation", region_name=region, **kwargs)
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except botocore.exceptions.ClientError as error:
        message = error.response["Error"].get("Message", str(error))
        if "does not exist" in message:
            raise UsageError(
                f"stack {stack_name!r} not found in {region}: pass --stack-name (or set "
                "STACK_NAME) to a deployed stack, or deploy one with `sam deploy --guided`"
            ) from None
        raise UsageError(f"cannot describe stack {stack_name!r} in {region}: {message}") from None
    except botocore.exceptions.NoCredentialsError:
        raise UsageError(
            "no AWS credentials: run `aws configure`, or pass --profile / set AWS_PROFILE"
        ) from None
    except botocore.exceptions.EndpointConnectionError as error:
        raise UsageError(f"cannot reach CloudFormation in {region}: {error}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    return deployment_from_outputs(
        outputs,
        stack_name=stack_name,
        target=target,
        region=region,
        session=session,
        endpoint_url=endpoint_url,
        client_config=client_config,
    )


def deployment_from_outputs(
    outputs: dict[str, str],
    *,
    stack_name: str,
    target: str,
    region: str,
    session: boto3.Session,
    endpoint_url: str | None = None,
    client_config: Config | None = None,
) -> Deployment:
    """A Deployment from a stack's outputs (OutputKey -> OutputValue)."""
    missing = [key for key in STACK_OUTPUTS.values() if key not in outputs]
    if missing:
        raise UsageError(
            f"stack {stack_name!r} lacks output(s) {', '.join(missing)}: "
            "was it deployed from this project's template.yaml?"
        )
    optional: dict[str, Any] = {
        attr: outputs.get(key) for attr, key in OPTIONAL_STACK_OUTPUTS.items()
    }
    return Deployment(
        target=target,
        stack_name=stack_name,
        region=region,
        session=session,
        endpoint_url=endpoint_url,
        client_config=client_config,
        **{attr: outputs[key] for attr, key in STACK_OUTPUTS.items()},
        **optional,
    )


def stack_resource_ids(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """Logical id -> physical id of every resource of a CloudFormation stack."""
    paginator = cloudformation.get_paginator("list_stack_resources")
    return {
        summary["LogicalResourceId"]: summary.get("PhysicalResourceId", "")
        for page in paginator.paginate(StackName=stack_name)
        for summary in page["StackResourceSummaries"]
    }
