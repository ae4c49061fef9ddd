"""The embedded stack: every server on loopback, started by this process, no Docker.

    with EmbeddedStack() as stack:
        stack.urls          # {"aws": ..., "api": ..., "redis": ...}
        stack.deployment    # the pipeline stack, found by its CloudFormation outputs

Parts, each a separate boundary reached over HTTP or the Redis protocol, as in AWS:
moto's server (SQS, DynamoDB, Step Functions with execution, CloudFormation, IAM, Lambda's
control plane), the local Lambda runtime behind moto's Lambda Invoke, the SQS event-source
poller, the local HTTP API, and a Redis-protocol server.
"""

from __future__ import annotations

import gc
import hashlib
import io
import json
import logging
import os
import secrets
import shutil
import threading
import time
import urllib.parse
import urllib.request
import zipfile
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, Self

from botocore.credentials import Credentials

from serverless_testbed.deployment import Deployment, deployment_from_outputs
from serverless_testbed.embedded import direct_deploy, scratch_dirs
from serverless_testbed.embedded.health import (
    Check,
    HealthWatch,
    PartHealth,
    exited,
    port_answers,
)
from serverless_testbed.embedded.lambda_runtime.code import FunctionCode
from serverless_testbed.embedded.moto import patches as moto_patches
from serverless_testbed.embedded.moto import speed
from serverless_testbed.embedded.moto import wait_scale as moto_wait_scale
from serverless_testbed.embedded.moto.execution_retention import (
    checked_ended_executions_kept,
    set_ended_executions_kept,
)
from serverless_testbed.emulation import provision
from serverless_testbed.emulation.defaults import (
    DEFAULT_REGION,
    DEFAULT_STACK_NAME,
    ENDED_EXECUTIONS_KEPT,
    LAMBDA_ACCOUNT_CONCURRENCY,
)
from serverless_testbed.emulation.http_api import LocalApiGateway, MountedApi, Throttle
from serverless_testbed.emulation.invoke import InvokeOutcome
from serverless_testbed.emulation.ports import naming_the_port
from serverless_testbed.emulation.stack import EmulatedStack
from serverless_testbed.signed_http import signed_post

LOG_LINES_KEPT = 2000  # per function
CODE_SCRATCH_PREFIX = "testbed-lambda-code-"  # functions' own zips, unpacked
# X-Amz-Target prefixes the stack's endpoint forwards to DynamoDB's own process (Streams'
# backend reads DynamoDB's tables, so it lives there too).
FORWARDED_TO_DYNAMODB = ("DynamoDB_20120810.", "DynamoDBStreams_20120810.")
# moto's state calls made in DynamoDB's process as well (a reset empties its tables too).
ALSO_MADE_IN_DYNAMODB = frozenset({"/moto-api/reset"})
MERGED_WITH_DYNAMODB = frozenset({"/moto-api/data.json"})  # moto's state dump: its tables too
# The template's handlers: the only installed code a function may run (its placeholder zip).
TEMPLATE_HANDLERS_PACKAGE = "serverless_testbed.handlers"

log = logging.getLogger(__name__)


class EmbeddedStack(EmulatedStack):
    target = "embedded"

    def __init__(
        self,
        *,
        stack_name: str = DEFAULT_STACK_NAME,
        region: str = DEFAULT_REGION,
        template: str | Path | None = None,
        parameters: dict[str, str] | None = None,
        with_redis: bool = True,
        aws_port: int = 0,
        api_port: int = 0,
        redis_port: int = 0,
        idle_timeout_s: float = 300.0,
        log_sink: Any = None,
        scale_lambda_cpu: bool = False,
        wait_scale: float = 1.0,
        on_part_died: Callable[[str, str], None] | None = None,
        api_throttle: Throttle | None = None,
        lambda_concurrency: int = LAMBDA_ACCOUNT_CONCURRENCY,
        dynamodb_process: bool = True,
        ended_executions_kept: int | None = ENDED_EXECUTIONS_KEPT,
    ) -> None:
        """``on_part_died(part, reason)`` hears of a part that died and could not be
        restarted (the stack is then unusable); by default it is logged as an error.
        ``lambda_concurrency``: the account's concurrency limit, shared by the functions
        without reserved concurrency (README, "Lambda concurrency").
        ``dynamodb_process``: serve DynamoDB from a moto server in a child process (its own
        interpreter lock; embedded/moto/service_process.py); off, from the stack's own.
        ``ended_executions_kept``: how many ended executions of each state machine Step
        Functions keeps, newest first (None: all; embedded/moto/execution_retention.py)."""
        if lambda_concurrency < 1:
            raise ValueError(f"lambda_concurrency must be at least 1, not {lambda_concurrency}")
        self._lambda_concurrency = lambda_concurrency
        self._wait_scale = moto_wait_scale.checked_wait_scale(wait_scale)
        self._ended_executions_kept = checked_ended_executions_kept(ended_executions_kept)
        # The stack's own AWS credentials: its endpoint and HTTP API answer no others.
        self._credentials = Credentials(
            "AKIA" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30)
        )
        super().__init__(
            stack_name=stack_name, region=region, template=template, parameters=parameters
        )
        self._with_redis = with_redis
        self._on_part_died = on_part_died
        self._health: HealthWatch | None = None
        self._aws_port = aws_port
        self._api_port = api_port
        self._redis_port = redis_port
        self._logs: dict[str, deque[str]] = defaultdict(lambda: deque(maxlen=LOG_LINES_KEPT))
        self._idle_timeout_s = idle_timeout_s
        # Off by default: a 256 MB function would get 14% of a core, as on Lambda, and every
        # run of the pipeline would be that much slower. Memory is always limited.
        self._scale_lambda_cpu = scale_lambda_cpu
        self._log_sink = log_sink
        self._api_throttle = api_throttle
        self._functions_registered: dict[str, Any] = {}
        self._resource_ids: dict[str, dict[str, str]] = {}
        self._register_lock = threading.Lock()
        self._function_code: dict[str, FunctionCode] = {}  # by the zip's SHA-256
        self._code_root: Path | None = None  # the unpacked zips, removed at close
        self._moto: Any = None
        self._runtime: Any = None
        self._gateway: LocalApiGateway | None = None
        self._poller: Any = None
        self._redis: Any = None
        self._dynamodb_process = dynamodb_process
        self._dynamodb: Any = None  # the child process serving DynamoDB, when there is one

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Self:
        # Start-up loads what lives as long as the stack (moto's and botocore's models, the
        # interpreter): collecting while it grows costs ~60 ms and frees almost nothing, and
        # frozen afterwards a full collection no longer walks it (40-75 ms pauses in the
        # middle of a run before).
        collecting = gc.isenabled()
        gc.disable()
        try:
            super().start()
        finally:
            if collecting:
                gc.enable()
        gc.freeze()
        return self

    def _start(self) -> None:
        from serverless_testbed.embedded.moto.forward import Forwarding
        from serverless_testbed.embedded.moto.service_process import ServiceProcess

        # Every part registers its own stop as it starts; close() unwinds them in reverse.
        parts = self._parts
        forward = None
        if self._dynamodb_process:
            # First, before this process imports moto (~0.3 s): the child's import of it
            # then runs beside that one, and it serves before the deploy needs it. Its port
            # is known at once (the socket is bound here).
            self._dynamodb = ServiceProcess("dynamodb", self._credentials).start()
            parts.callback(self._dynamodb.stop)
            forward = Forwarding(
                FORWARDED_TO_DYNAMODB,
                self._dynamodb.address,
                ALSO_MADE_IN_DYNAMODB,
                MERGED_WITH_DYNAMODB,
            )
        from serverless_testbed.embedded.lambda_runtime.runtime import LambdaRuntime
        from serverless_testbed.embedded.moto import cloudformation_tables
        from serverless_testbed.embedded.moto.in_process_sqs import InProcessSqs
        from serverless_testbed.embedded.moto.server import MotoServer
        from serverless_testbed.embedded.sqs_poller import EventSourcePoller

        moto_patches.install(self.invoke)
        parts.callback(moto_patches.uninstall_invoker, self.invoke)
        moto_wait_scale.set_wait_scale(self._wait_scale)
        parts.callback(moto_wait_scale.set_wait_scale, 1.0)
        set_ended_executions_kept(self._ended_executions_kept)
        parts.callback(set_ended_executions_kept, None)
        with ThreadPoolExecutor(max_workers=1) as pool:
            redis_started: Future[Any] | None = (
                pool.submit(self._start_redis) if self._with_redis else None
            )
            try:
                speed.set_interpreter_credentials(
                    self._credentials.access_key, self._credentials.secret_key
                )
                parts.callback(speed.set_interpreter_credentials, "ak", "sk")
                with naming_the_port("aws", self._aws_port):
                    self._moto = MotoServer(
                        port=self._aws_port, credentials=self._credentials, forward=forward
                    ).start()
                parts.callback(self._moto.stop)
                # moto's Step Functions interpreter calls services at localhost:$MOTO_PORT.
                os.environ["MOTO_PORT"] = str(self._moto.port)
                self.urls["aws"] = self._moto.url
                self._post_signed(
                    f"{self.urls['aws']}/moto-api/config",
                    {"stepfunctions": {"execute_state_machine": True}},
                )
                self._new_session()
                function_environment = self.client_environment()
                if self._dynamodb is not None:
                    # The worker's UpdateItem goes straight to DynamoDB's own process.
                    function_environment["AWS_ENDPOINT_URL_DYNAMODB"] = self._dynamodb.url
                    cloudformation_tables.set_table_client(self.client("dynamodb"))
                    parts.callback(cloudformation_tables.set_table_client, None)
                self._runtime = LambdaRuntime(
                    function_environment,
                    idle_timeout_s=self._idle_timeout_s,
                    log_sink=self._keep_log_line,
                    scale_cpu=self._scale_lambda_cpu,
                    account_concurrency=self._lambda_concurrency,
                    account_reservations=self._reserved_concurrency,
                )
                parts.callback(self._runtime.close)
                with naming_the_port("api", self._api_port):
                    self._gateway = LocalApiGateway(
                        self.invoke,
                        port=self._api_port,
                        throttle=self._api_throttle,
                        credentials=self._credentials,
                    )
                self._gateway.start()
                parts.callback(self._gateway.stop)
                if self._dynamodb is not None:
                    self._dynamodb.wait_serving()  # one line if it could not start
                self.deploy(self.stack_name, self.parameters, direct=True)
                self.urls["api"] = self.deployment.api_url
                self._poller = EventSourcePoller(
                    lambda_client=self.client("lambda"),
                    # In this process, as moto's SQS backend: no HTTP round trip per batch.
                    sqs_client=InProcessSqs(self.urls["aws"], self.region),
                    invoke=self.invoke,
                    region=self.region,
                )
                self._poller.start()
                parts.callback(self._poller.stop)
            finally:
                if redis_started is not None:
                    # Registered even when another part failed, so a started server stops.
                    parts.callback(_stop_started, redis_started)
            if redis_started is not None:
                self._redis = redis_started.result()
                # The password is a per-stack secret: whoever holds this URL holds Redis.
                self.urls["redis"] = self._redis.authenticated_url
            self._health = HealthWatch(self._health_checks(), self._part_died).start()
            parts.callback(self._health.stop)

    def _health_checks(self) -> dict[str, Check]:
        assert self._runtime is not None and self._poller is not None
        runtime, poller, redis = self._runtime, self._poller, self._redis
        checks: dict[str, Check] = {
            "aws endpoint": partial(port_answers, "127.0.0.1", _port_of(self.urls["aws"])),
            "http api": partial(port_answers, "127.0.0.1", _port_of(self.urls["api"])),
            "sqs poller": lambda: None if poller.alive else "its mapping thread stopped",
            "lambda zygote": runtime.zygote_died,
        }
        if redis is not None:
            checks["redis"] = lambda: exited(redis.exit_status())
        dynamodb = self._dynamodb
        if dynamodb is not None:
            checks["dynamodb process"] = lambda: exited(dynamodb.exit_status())
        return checks

    def _part_died(self, part: str, reason: str) -> None:
        if part == "lambda zygote" and self._runtime is not None and self._health is not None:
            pid = self._runtime.restart_zygote()
            log.error(
                "embedded stack: the %s died (%s); started another (pid %d)", part, reason, pid
            )
            self._health.revive(part)
            return
        log.error("embedded stack: the %s died (%s); the stack cannot go on", part, reason)
        if self._on_part_died is not None:
            self._on_part_died(part, reason)

    def health(self) -> list[PartHealth]:
        """Each part as checked now (empty before start)."""
        return self._health.report() if self._health is not None else []

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._poller = self._gateway = self._runtime = self._moto = self._redis = None
            self._dynamodb = None
            self._function_code, self._code_root = {}, None
            self._functions_registered = {}

    def _start_redis(self) -> Any:
        from serverless_testbed.embedded.redis_server import RedisServer

        return RedisServer(port=self._redis_port, password=secrets.token_hex(16)).start()

    def _post_signed(self, url: str, body: dict[str, Any]) -> None:
        status, answer = signed_post(
            url,
            json.dumps(body).encode(),
            credentials=self._credentials,
            region=self.region,
            timeout_s=10,
        )
        if not 200 <= status < 300:
            raise RuntimeError(f"POST {url} answered {status}: {answer[:200]!r}")

    # -- what users and tests use --------------------------------------------------------
    @property
    def credentials(self) -> dict[str, str]:
        """The stack's random AWS credentials: its endpoint and HTTP API accept no others."""
        return {
            "AWS_ACCESS_KEY_ID": self._credentials.access_key,
            "AWS_SECRET_ACCESS_KEY": self._credentials.secret_key,
        }

    @property
    def wait_scale(self) -> float:
        """How Step Functions Wait states are scaled: 0.001 makes an hour 3.6 s."""
        return self._wait_scale

    def set_wait_scale(self, scale: float) -> None:
        """Scale every Wait that starts from now on (running executions' later Waits too)."""
        checked = moto_wait_scale.checked_wait_scale(scale)
        if self._moto is not None:
            moto_wait_scale.set_wait_scale(checked)
        self._wait_scale = checked

    @property
    def ended_executions_kept(self) -> int | None:
        """How many ended executions of each state machine Step Functions keeps (None: all)."""
        return self._ended_executions_kept

    def set_ended_executions_kept(self, kept: int | None) -> None:
        """Keep the newest ``kept`` ended executions of each state machine from the next
        StartExecution on (None: all)."""
        checked = checked_ended_executions_kept(kept)
        if self._moto is not None:
            set_ended_executions_kept(checked)
        self._ended_executions_kept = checked

    @property
    def lambda_concurrency(self) -> int:
        """The account's Lambda concurrency limit (README, "Lambda concurrency")."""
        return self._lambda_concurrency

    def set_lambda_concurrency(self, limit: int) -> None:
        """Change the account's Lambda concurrency limit from the next invoke on."""
        if limit < 1:
            raise ValueError(f"lambda_concurrency must be at least 1, not {limit}")
        if self._runtime is not None:
            self._runtime.set_account_concurrency(limit)
        self._lambda_concurrency = limit

    def client(self, service: str) -> Any:
        """A boto3 client of the emulator (one per service: creating one costs ~20 ms)."""
        assert self._session is not None, "start the stack first"
        with self._register_lock:
            if service not in self._clients:
                self._clients[service] = self._session.client(
                    service, endpoint_url=self._endpoint_of(service)
                )
            return self._clients[service]

    def _endpoint_of(self, service: str) -> str:
        if self._dynamodb is not None and service in ("dynamodb", "dynamodbstreams"):
            return str(self._dynamodb.url)
        return self.urls["aws"]

    @property
    def dynamodb_process_pid(self) -> int | None:
        """The process serving DynamoDB, when it is not this one."""
        return None if self._dynamodb is None else int(self._dynamodb.pid)

    def deploy(
        self, stack_name: str, parameters: dict[str, str] | None = None, *, direct: bool = False
    ) -> Deployment:
        """Deploy template.yaml again under ``stack_name``, through the emulator's
        CloudFormation API (or, with ``direct``, straight through each service's API, which is
        how the stack itself starts fast: see embedded/direct_deploy.py)."""
        assert self._gateway is not None, "start the stack first"
        parameters = dict(parameters or {})
        translated = provision.translate(
            self.template,
            parameters,
            region=self.region,
            iam_client=self.client("iam"),
            api_base_url=f"{self._gateway.url}/{stack_name}",
        )
        if direct:
            applied = direct_deploy.apply_template(
                translated.template, stack_name, parameters, self.region, self.client
            )
            outputs = applied.outputs
            physical = {lid: r.physical_id for lid, r in applied.resources.items()}
        else:
            cloudformation = self.client("cloudformation")
            provision.create_stack(cloudformation, stack_name, translated, parameters)
            described = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
            outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
            resources = cloudformation.describe_stack_resources(StackName=stack_name)
            physical = {
                r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources["StackResources"]
            }
        for api in translated.apis:
            self._gateway.mount(MountedApi.of(stack_name, api, physical))
        assert self._session is not None
        deployment = deployment_from_outputs(
            outputs,
            stack_name=stack_name,
            target="embedded",
            region=self.region,
            session=self._session,
            endpoint_url=self.urls["aws"],
        )
        self._deployments[stack_name] = deployment
        self._resource_ids[stack_name] = physical
        return deployment

    def resource_ids(self) -> dict[str, str]:
        """Logical id -> physical id of the stack's resources (as deployed)."""
        return dict(self._resource_ids[self.stack_name])

    @contextmanager
    def event_source_paused(self, function_name: str, timeout_s: float = 10.0) -> Iterator[None]:
        """Disable the function's event-source mappings (UpdateEventSourceMapping, as on AWS)
        and return once no poller of theirs runs; enable them again on exit."""
        lambda_client = self.client("lambda")
        uuids = [
            mapping["UUID"]
            for mapping in lambda_client.list_event_source_mappings(FunctionName=function_name)[
                "EventSourceMappings"
            ]
        ]
        for uuid in uuids:
            lambda_client.update_event_source_mapping(UUID=uuid, Enabled=False)
        try:
            self._poller.refresh()
            deadline = time.monotonic() + timeout_s
            while any(self._poller.polling_threads(uuid) for uuid in uuids):
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"pollers of {function_name} still running after {timeout_s} s"
                    )
                time.sleep(0.01)  # waiting on a condition (thread exit), with a deadline
            yield
        finally:
            for uuid in uuids:
                lambda_client.update_event_source_mapping(UUID=uuid, Enabled=True)
            self._poller.refresh()

    def logs(self, function_name: str) -> list[str]:
        """The last log lines of a function's containers (like CloudWatch Logs, in memory)."""
        return list(self._logs[function_name])

    def _keep_log_line(self, function_name: str, line: str) -> None:
        self._logs[function_name].append(line)
        if self._log_sink is not None:
            self._log_sink(function_name, line)

    def runtime_snapshot(self) -> dict[str, Any]:
        return self._runtime.snapshot() if self._runtime else {}

    # -- Lambda invocation: the one path of the HTTP API, the poller and moto's Invoke -----
    def invoke(self, function_name_or_arn: str, payload: bytes) -> InvokeOutcome:
        """Run the function in the local runtime, as Lambda's RequestResponse Invoke."""
        return self._runtime.invoke(
            self._register(self._moto_function(function_name_or_arn)), payload
        )

    def _moto_function(self, name_or_arn: str) -> Any:
        return self._lambda_backend().get_function(name_or_arn)

    def _lambda_backend(self) -> Any:
        from moto.awslambda.utils import get_backend
        from moto.core import DEFAULT_ACCOUNT_ID

        return get_backend(DEFAULT_ACCOUNT_ID, self.region)

    def _reserved_concurrency(self) -> int:
        """The concurrency every function of the account reserves, as moto keeps it."""
        return sum(
            int(function.reserved_concurrency)
            for function in self._lambda_backend().list_functions()
            if function.reserved_concurrency is not None
        )

    def _register(self, function: Any) -> str:
        """Give the runtime the function's current configuration, as moto holds it."""
        from serverless_testbed.embedded.lambda_runtime.runtime import FunctionConfig

        with self._register_lock:
            code = self._deployed_code(function)
            config = FunctionConfig(
                name=function.function_name,
                arn=function.function_arn,
                handler=function.handler,
                timeout_s=float(function.timeout),
                memory_mb=int(function.memory_size),
                environment={k: str(v) for k, v in (function.environment_vars or {}).items()},
                code=code,
                reserved_concurrency=(
                    None
                    if function.reserved_concurrency is None
                    else int(function.reserved_concurrency)
                ),
            )
            if self._functions_registered.get(config.name) != config:
                refusal = code.refusal(str(function.handler).rpartition(".")[0])
                if refusal is not None:
                    log.warning(
                        "embedded stack: function %s: handler %r refused (%s); its invokes fail",
                        config.name,
                        function.handler,
                        refusal,
                    )
                self._runtime.register(config)
                self._functions_registered[config.name] = config
        return config.name

    def _deployed_code(self, function: Any) -> FunctionCode:
        """The code a function may run: the installed handlers for the provisioner's
        placeholder, else its own zip unpacked in its own directory (once per code hash)."""
        archive: bytes = getattr(function, "code_bytes", b"") or b""
        # moto's CodeSha256 of the bytes it holds (hashing here would cost every invoke).
        sha = str(getattr(function, "code_sha_256", "")) or hashlib.sha256(archive).hexdigest()
        digest = hashlib.sha256(sha.encode()).hexdigest()[:32]
        known = self._function_code.get(digest)
        if known is None:
            if _is_placeholder(archive):
                known = FunctionCode.of_package(TEMPLATE_HANDLERS_PACKAGE)
            else:
                if self._code_root is None:
                    self._code_root = scratch_dirs.make(CODE_SCRATCH_PREFIX)
                    self._parts.callback(shutil.rmtree, self._code_root, True)
                known = FunctionCode.unpacked(archive, self._code_root / digest)
            self._function_code[digest] = known
        return known


def _is_placeholder(archive: bytes) -> bool:
    """The code the provisioner deploys for the template's functions (the runtime runs
    their handlers from the installed package): index.py with INLINE_CODE, and moto's
    cfnresponse.py when it came through CloudFormation."""
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
            names = set(zipped.namelist())
            return (
                "index.py" in names
                and names <= {"index.py", "cfnresponse.py"}
                and zipped.read("index.py").decode() == provision.INLINE_CODE
            )
    except (zipfile.BadZipFile, UnicodeDecodeError):
        return False


def _port_of(url: str) -> int:
    port = urllib.parse.urlsplit(url).port
    assert port is not None, url
    return port


def _stop_started(started: Future[Any]) -> None:
    """Stop what a background start produced, if it produced anything."""
    if started.exception() is None:
        started.result().stop()
