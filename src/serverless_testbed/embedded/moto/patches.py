"""The few places where moto's server must behave like AWS for this pipeline, patched once.

Each patch is at the narrowest point that fixes the behaviour (see
shared/docs/local-emulation-facts.md and the README's "Embedded stack" section):

- Lambda Invoke (the API, and Step Functions' ``lambda:invoke``) reaches the project's local
  Lambda runtime instead of moto's Docker runner or its echo backend.
- moto's own SQS event-source mapping runs the function *inside* SendMessage; it is switched
  off, because the project's poller triggers functions asynchronously, as Lambda does.
- SendTaskFailure keeps its ``cause`` (moto's HTTP layer drops it).
- State machines created by CloudFormation land in the backend that executes them (moto put
  them in the non-executing one, so StartExecution answered StateMachineDoesNotExist).
- A task with HeartbeatSeconds no longer misses a callback that arrives before the
  interpreter has set up its heartbeat wait (it then waited out the whole heartbeat and
  failed with States.Timeout: seen as 25 s executions once the pipeline got fast).
- The Step Functions interpreter reuses one boto3 client per (region, service) instead of
  building a new one for every task (about 20 ms each), which dominated warm latency.
- Each execution gets a copy of its state machine's parsed program (0.7 ms) instead of
  parsing the definition again with ANTLR (9 ms of CPU for the pipeline's, before the
  ExecutionStarted event, shared with every other request the server handles).
- A backend's list of regions comes from botocore's endpoint data instead of loading the
  service's whole API model (0.1-0.3 s for each service's first request).
- botocore's data files are parsed once per process instead of once per session: every
  boto3 ``Session()`` has its own loader, and moto's EC2 model (imported by the Step
  Functions interpreter, through Batch) builds three sessions just to list EC2's regions,
  parsing EC2's 0.15 s API model each time. moto's server reads its service models
  through one loader (it built one per service, each listing botocore's ~400 data
  directories: 50 ms per service).
- The Step Functions interpreter's Batch integration only needs ``moto.batch.utils``, but
  importing it ran ``moto.batch``'s package, which imports all of EC2's models (about 1 s
  of a 2 s start). The leaf module is imported on its own; ``moto.batch`` itself still
  imports normally the first time anything asks for it.
- The server's request routing remembers which backend serves a host: moto lists its own
  package directory (about 200 stat calls) and tries hundreds of URL patterns on every
  request, under one global lock. Each response class's list of action methods is read
  once, not with ``inspect.getmembers`` on every request (~0.3 ms each).

The patches are process-wide, as moto's backends are: one embedded stack per process.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from functools import cache
from typing import Any

from serverless_testbed.emulation.invoke import Invoke
from serverless_testbed.errors import UsageError

LOG_RESULT_BYTES = 4096  # Invoke with LogType=Tail returns the last 4 KB of the log
_lock = threading.Lock()
_invoker: Invoke | None = None
_installed = False


def install(invoker: Invoke) -> None:
    """Apply every patch (idempotent) and route Lambda invokes to ``invoker``.

    One invoker per process: moto's backends are process-wide, so a second embedded stack in
    the same process would share the first one's resources and take over its Lambda invokes.
    """
    global _invoker, _installed
    with _lock:
        if _invoker is not None:
            raise UsageError(
                "an embedded stack is already running in this process (moto's state is "
                "process-wide): use that one, or start another in a separate process"
            )
        _invoker = invoker
        if _installed:
            return
        _share_botocore_data_between_sessions()
        _import_batch_utils_without_batch_models()
        _route_lambda_invoke()
        _disable_inline_sqs_mappings()
        _keep_send_task_failure_cause()
        _create_cloudformation_state_machines_where_they_execute()
        _see_callbacks_that_beat_the_heartbeat_wait()
        _reuse_interpreter_clients()
        _parse_each_definition_once()
        _list_regions_without_service_models()
        _route_requests_from_memory()
        _quiet_logs()
        _installed = True


def uninstall_invoker(invoker: Invoke) -> None:
    """Forget ``invoker`` (its stack stopped); invokes then fail as a Lambda service error."""
    global _invoker
    with _lock:
        if _invoker == invoker:
            _invoker = None


def _share_botocore_data_between_sessions() -> None:
    import botocore.loaders

    # Within one session botocore already hands the same parsed dict to every client
    # (``instance_cache``); this widens that to the process, keyed by the file read. The
    # files are part of the installed package: they do not change while it runs.
    load_file = botocore.loaders.JSONFileLoader.load_file
    loaded: dict[str, Any] = {}

    def load_once(self: Any, file_path: str) -> Any:
        if file_path not in loaded:
            loaded[file_path] = load_file(self, file_path)
        return loaded[file_path]

    botocore.loaders.JSONFileLoader.load_file = load_once

    import moto.core.utils

    def load_service_model(service_name: str, model_name: str) -> Any:
        return _shared_loader().load_service_model(service_name, model_name)

    moto.core.utils._load_service_model = load_service_model


@cache
def _shared_loader() -> Any:
    """One botocore loader for what moto's server reads itself (models, endpoint data)."""
    import botocore.loaders

    return botocore.loaders.create_loader()


def _import_batch_utils_without_batch_models() -> None:
    from serverless_testbed.embedded.moto.leaf_import import import_leaf

    import_leaf("moto.batch", "utils")


def _route_lambda_invoke() -> None:
    from moto.awslambda.models import LambdaFunction

    def invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> bytes:
        invoker = _invoker
        if invoker is None:
            raise RuntimeError("no local Lambda runtime is running in this process")
        payload = body.encode() if isinstance(body, str) else (body or b"{}")
        outcome = invoker(self.function_name, payload)
        if outcome.function_error:
            response_headers["x-amz-function-error"] = outcome.function_error
        if request_headers.get("x-amz-log-type") == "Tail":  # LogType=Tail: the last 4 KB
            log = (getattr(outcome, "log_tail", "") + "\n").encode()[-LOG_RESULT_BYTES:]
            response_headers["x-amz-log-result"] = base64.b64encode(log).decode()
        return outcome.payload

    LambdaFunction.invoke = invoke


def _disable_inline_sqs_mappings() -> None:
    from moto.sqs.models import Queue

    # The queue's mapping table is only read by Queue.add_message's inline invocation; the
    # mappings themselves stay in the Lambda backend, where the poller lists them.
    Queue.lambda_event_source_mappings = property(  # type: ignore[assignment]
        lambda self: {}, lambda self, value: None
    )


def _keep_send_task_failure_cause() -> None:
    from moto.stepfunctions.responses import StepFunctionResponse

    def send_task_failure(self: Any) -> Any:
        from moto.core.responses import EmptyResult

        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"),
            error=self._get_param("error"),
            cause=self._get_param("cause"),
        )
        return EmptyResult()

    StepFunctionResponse.send_task_failure = send_task_failure


def _create_cloudformation_state_machines_where_they_execute() -> None:
    from moto.stepfunctions import models
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    # Only StateMachine's CloudFormation methods read this module-level name; the API goes
    # through responses.get_backend, which picks the executing backend by itself.
    models.stepfunctions_backends = stepfunctions_parser_backends


def _see_callbacks_that_beat_the_heartbeat_wait() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as callback_module,
    )

    task = callback_module.StateTaskServiceCallback
    wait = task._wait_for_task_token_heartbeat

    def wait_for_task_token_heartbeat(
        self: Any, env: Any, callback_endpoint: Any, heartbeat_endpoint: Any
    ) -> Any:
        # The heartbeat endpoint is created after the invoke returns; a callback notified
        # before that set only the outcome, so look at it before waiting on heartbeats.
        outcome = callback_endpoint.get_outcome()
        if outcome is not None:
            return outcome
        return wait(self, env, callback_endpoint, heartbeat_endpoint)

    task._wait_for_task_token_heartbeat = wait_for_task_token_heartbeat


def _reuse_interpreter_clients() -> None:
    import importlib

    from moto.stepfunctions.parser.asl.utils import boto_client

    original: Callable[..., Any] = boto_client.boto_client_for

    @cache
    def client_for(region: str, service: str) -> Any:
        return original(region=region, service=service)

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # The interpreter's clients use fixed dummy credentials whatever state_credentials
        # says, so one client per (region, service) is equivalent and thread-safe.
        return client_for(region, service)

    boto_client.boto_client_for = boto_client_for
    # Modules that did `from ... import boto_client_for` keep their own reference.
    for name in (
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service."
        "state_task_service_sqs",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service."
        "state_task_service_dynamodb",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service."
        "state_task_service_aws_sdk",
    ):
        importlib.import_module(name).boto_client_for = boto_client_for


def _parse_each_definition_once() -> None:
    import copy

    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    parse_definition = ExecutionWorker._get_evaluation_entrypoint
    programs: dict[str, Any] = {}

    def program_of_this_execution(self: Any) -> Any:
        definition = self._evaluation_details.state_machine_details.definition
        if definition not in programs:
            programs[definition] = parse_definition(self)
        try:
            # A deep copy per execution: no state can leak from one execution into another.
            return copy.deepcopy(programs[definition])
        except Exception:  # a component that cannot be copied: parse, as moto does
            return parse_definition(self)

    ExecutionWorker._get_evaluation_entrypoint = program_of_this_execution


def _list_regions_without_service_models() -> None:
    from moto.core.base_backend import AccountSpecificBackend

    @cache
    def every_region() -> tuple[str, ...]:
        endpoints = _shared_loader().load_data("endpoints")
        return tuple(region for p in endpoints["partitions"] for region in p["regions"])

    # A superset of each service's regions: moto only uses the list to accept region names.
    AccountSpecificBackend._generate_regions = lambda self, service_name: list(every_region())


def _route_requests_from_memory() -> None:
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules  # the installed package does not change

    find_backend = DomainDispatcherApplication.get_backend_for_host
    known: dict[str | None, Any] = {}

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        # Called under the dispatcher's own lock, so the dict needs no lock of its own.
        if host not in known:
            known[host] = find_backend(self, host)
        return known[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host

    import moto.core.responses

    method_names = moto.core.responses.method_names_from_class
    moto.core.responses.method_names_from_class = cache(  # classes do not change while serving
        lambda response_class: frozenset(method_names(response_class))
    )


def _quiet_logs() -> None:
    import logging

    # One access-log line per AWS call, and a traceback for every execution that fails as
    # designed, would drown what users want to see; execution history has the failures.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
