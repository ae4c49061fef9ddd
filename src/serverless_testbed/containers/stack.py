"""The containers stack: the pipeline in LocalStack, for users who have a Docker engine.

    with ContainersStack() as stack:
        stack.urls          # {"aws": ..., "api": ..., "redis": ..., "stepfunctions": ...}
        stack.deployment    # the pipeline stack, found by its CloudFormation outputs

It has the embedded stack's shape. LocalStack runs the whole CloudFormation stack: queues,
table, IAM, the three functions (in Lambda containers beside it, through the mounted Docker
socket), the SQS event-source mapping, and the state machine in LocalStack's own Step Functions.

Why not Step Functions Local for the pipeline: it cannot be deployed through CloudFormation (the
state machine would be a second, hand-made copy of the template's), AWS calls it unsupported,
and the functions would need a different Step Functions endpoint than the rest of AWS. It is
still offered (``with_stepfunctions_local=True``, and in docker-compose.yml) for trying state
machines against the same services; then ``urls["stepfunctions_local"]`` is its URL, while
``urls["stepfunctions"]`` stays where the pipeline's state machine runs.

Already running LocalStack/Redis (e.g. `docker compose up`)? Pass ``aws_url`` / ``redis_url``
and the stack deploys into them instead of starting containers.

POST /run: API Gateway V2 (HTTP APIs) is not in LocalStack's free image, so the project's local
API gateway serves the template's routes, in this process, by Lambda Invoke on LocalStack:
the api function still runs in LocalStack's Lambda.
"""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
from botocore.config import Config

from serverless_testbed import lambda_api
from serverless_testbed.containers import packaging
from serverless_testbed.deployment import Deployment, discover_deployment, stack_resource_ids
from serverless_testbed.emulation.defaults import (
    DEFAULT_REGION,
    DEFAULT_STACK_NAME,
)
from serverless_testbed.emulation.http_api import LocalApiGateway, MountedApi
from serverless_testbed.emulation.invoke import FunctionThrottled, Invoked
from serverless_testbed.emulation.provision import TranslatedStack, create_stack
from serverless_testbed.emulation.stack import EmulatedStack
from serverless_testbed.errors import UsageError

STACK_CREATE_TIMEOUT_S = 600.0  # LocalStack pulls the Lambda runtime image on first use
# Longer than the api function's Timeout (30 s in template.yaml), no retried invokes.
INVOKE_CONFIG = Config(read_timeout=90, connect_timeout=10, retries={"max_attempts": 0})


class ContainersStack(EmulatedStack):
    target = "containers"

    def __init__(
        self,
        *,
        stack_name: str = DEFAULT_STACK_NAME,
        region: str = DEFAULT_REGION,
        template: str | Path | None = None,
        parameters: dict[str, str] | None = None,
        with_redis: bool = True,
        with_stepfunctions_local: bool = False,
        aws_url: str | None = None,
        redis_url: str | None = None,
        requirements: Path | None = None,
        api_host: str = "127.0.0.1",
        api_port: int = 0,
        public_api_url: str | None = None,
        replace_existing: bool = False,
    ) -> None:
        """``aws_url``/``redis_url``: use a LocalStack/Redis that already runs (e.g. from
        `docker compose up`) instead of starting a container for it.

        ``api_host``/``api_port``: where the local HTTP API listens (default: a free loopback
        port); ``public_api_url``: its base URL as clients reach it, written into the stack's
        ApiUrl output (default: where it listens), e.g. a port published from a container.
        ``replace_existing``: delete a stack of the same name first (a LocalStack that outlived
        the process that deployed into it still holds it, with no HTTP API serving it)."""
        if aws_url and with_stepfunctions_local:
            raise UsageError(
                "with_stepfunctions_local starts Step Functions Local next to the LocalStack "
                "this stack starts; with aws_url, run it yourself (docker-compose.yml has it)"
            )
        super().__init__(
            stack_name=stack_name, region=region, template=template, parameters=parameters
        )
        self._with_redis = with_redis
        self._with_stepfunctions_local = with_stepfunctions_local
        self._aws_url = aws_url
        self._redis_url = redis_url
        self._requirements = requirements
        self._api_address = (api_host, api_port)
        self._public_api_url = public_api_url.rstrip("/") if public_api_url else None
        self._replace_existing = replace_existing
        self._network: Any = None
        self._gateway: LocalApiGateway | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._code: packaging.CodeArchive | None = None
        self._code_bucket = f"testbed-lambda-code-{uuid.uuid4().hex[:12]}"

    # -- lifecycle -------------------------------------------------------------------------
    def _start(self) -> None:
        if self._aws_url:
            self.urls["aws"] = self._aws_url
        else:
            self._start_localstack()
        self.urls.setdefault("stepfunctions", self.urls["aws"])
        if self._redis_url:
            self.urls["redis"] = self._redis_url
        elif self._with_redis:
            from serverless_testbed.containers.services import RedisContainer

            self.urls["redis"] = self._run(RedisContainer(self._shared_network())).url()
        self._new_session()
        self.client("lambda")  # made before the gateway's threads share it
        self._gateway = LocalApiGateway(self.invoke, *self._api_address)
        self._gateway.start()
        self._parts.callback(self._gateway.stop)
        self.deploy(self.stack_name, self.parameters)
        self.urls["api"] = self.deployment.api_url

    def _start_localstack(self) -> None:
        from serverless_testbed.containers import services

        localstack = self._run(services.LocalStackContainer(self._shared_network()))
        self.urls["aws"] = localstack.url()
        if self._with_stepfunctions_local:
            sfn_local = services.StepFunctionsLocalContainer(
                self._shared_network(), localstack.internal_url, region=self.region
            )
            self.urls["stepfunctions_local"] = self._run(sfn_local).url()

    def _shared_network(self) -> Any:
        if self._network is None:
            from testcontainers.core.network import Network

            self._network = Network().create()
            # A Lambda container that LocalStack left behind may still use the network.
            self._parts.callback(_quietly, self._network.remove)
        return self._network

    def _run(self, container: Any) -> Any:
        # Registered before it starts: a container that fails half-way is stopped too.
        self._parts.callback(_quietly, container.stop)
        return container.start()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._gateway = self._network = self._workdir = self._code = None

    # -- what users and tests use --------------------------------------------------------
    def client(self, service: str) -> Any:
        """A boto3 client of the stack's AWS endpoint (one per service)."""
        assert self._session is not None, "start the stack first"
        if service not in self._clients:
            config = INVOKE_CONFIG if service == "lambda" else None
            self._clients[service] = self._session.client(
                service, endpoint_url=self.urls["aws"], config=config
            )
        return self._clients[service]

    def deploy(self, stack_name: str, parameters: dict[str, str] | None = None) -> Deployment:
        """Deploy template.yaml under ``stack_name`` through LocalStack's CloudFormation."""
        assert self._gateway is not None, "start the stack first"
        parameters = dict(parameters or {})
        code = self._uploaded_code()
        translated = packaging.translate_with_code_in_s3(
            self.template,
            parameters,
            region=self.region,
            iam_client=self.client("iam"),
            api_base_url=f"{self._public_api_url or self._gateway.url}/{stack_name}",
            code_bucket=self._code_bucket,
            code_key=code.s3_key,
        )
        cloudformation = self.client("cloudformation")
        if self._replace_existing:
            delete_stack_if_present(cloudformation, stack_name, timeout_s=STACK_CREATE_TIMEOUT_S)
        create_stack(
            cloudformation, stack_name, translated, parameters, timeout_s=STACK_CREATE_TIMEOUT_S
        )
        self._mount_apis(cloudformation, stack_name, translated)
        assert self._session is not None
        deployment = discover_deployment(
            stack_name, target="containers", session=self._session, endpoint_url=self.urls["aws"]
        )
        self._deployments[stack_name] = deployment
        return deployment

    def resource_ids(self) -> dict[str, str]:
        return stack_resource_ids(self.client("cloudformation"), self.stack_name)

    def _uploaded_code(self) -> packaging.CodeArchive:
        if self._code is None:
            self._workdir = tempfile.TemporaryDirectory(prefix="testbed-containers-")
            self._parts.callback(self._workdir.cleanup)
            code = packaging.build_lambda_zip(
                Path(self._workdir.name) / "lambda.zip",
                self._requirements or packaging.requirements_for(self.template),
            )
            s3 = self.client("s3")
            s3.create_bucket(Bucket=self._code_bucket, **bucket_location(self.region))
            s3.upload_file(str(code.path), self._code_bucket, code.s3_key)
            self._code = code
        return self._code

    def _mount_apis(
        self, cloudformation: Any, stack_name: str, translated: TranslatedStack
    ) -> None:
        assert self._gateway is not None
        resources = cloudformation.describe_stack_resources(StackName=stack_name)
        physical = {
            r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources["StackResources"]
        }
        for api in translated.apis:
            self._gateway.mount(MountedApi.of(stack_name, api, physical))

    @contextlib.contextmanager
    def event_source_paused(self, function_name: str, timeout_s: float = 60.0) -> Iterator[None]:
        """The function's SQS event sources disabled (UpdateEventSourceMapping) while inside."""
        with lambda_api.event_source_paused(self.client("lambda"), function_name, timeout_s):
            yield

    def logs(self, function_name: str) -> list[str]:
        """The function's log lines, from LocalStack's CloudWatch Logs."""
        return lambda_api.function_log_lines(self.client("logs"), function_name)

    def invoke(self, function_name_or_arn: str, payload: bytes) -> Invoked:
        """Lambda Invoke on LocalStack (also the local HTTP API's integration)."""
        try:
            response = self.client("lambda").invoke(
                FunctionName=function_name_or_arn, Payload=payload
            )
        except botocore.exceptions.ClientError as error:
            throttled = FunctionThrottled.from_error_response(function_name_or_arn, error.response)
            if throttled is None:
                raise
            raise throttled from error
        return Invoked(response["Payload"].read(), response.get("FunctionError"))


def delete_stack_if_present(cloudformation: Any, stack_name: str, *, timeout_s: float) -> bool:
    """Delete ``stack_name`` and wait until it is gone; False when there was none."""
    try:
        cloudformation.describe_stacks(StackName=stack_name)
    except botocore.exceptions.ClientError as error:
        if "does not exist" in error.response["Error"].get("Message", ""):
            return False
        raise
    cloudformation.delete_stack(StackName=stack_name)
    waiter = cloudformation.get_waiter("stack_delete_complete")
    delay = 2
    waiter.wait(
        StackName=stack_name,
        WaiterConfig={"Delay": delay, "MaxAttempts": max(1, int(timeout_s / delay))},
    )
    return True


def bucket_location(region: str) -> dict[str, Any]:
    """CreateBucket's location argument: none in us-east-1 (S3 rejects it there), the region
    everywhere else (S3, LocalStack's too, rejects a bucket without it outside us-east-1)."""
    if region == "us-east-1":
        return {}
    return {"CreateBucketConfiguration": {"LocationConstraint": region}}


def _quietly(stop: Any) -> None:
    """Stop one part; closing goes on whatever it raises, so every part gets its chance."""
    with contextlib.suppress(Exception):
        stop()
