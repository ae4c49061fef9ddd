"""The inside of a local Lambda "container": one process that serves one function.

Runs in a process forked by the zygote (see lambda_zygote.py). It behaves like Lambda's
Python runtime (awslambdaric's bootstrap): the environment is in place before the handler
module is imported, the handler is loaded once, then invokes are served one at a time, with
Lambda's context object, its error objects and its log format. Its stdout and stderr are a
pipe the runtime reads: that is the function's log.
"""

from __future__ import annotations

import contextlib
import decimal
import json
import logging
import os
import resource
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NoReturn

from serverless_testbed.embedded.lambda_runtime import init_cost
from serverless_testbed.embedded.lambda_runtime.code import CodeRefusedError, FunctionCode
from serverless_testbed.embedded.lambda_runtime.limits import ContainerCgroups
from serverless_testbed.embedded.lambda_runtime.protocol import pack, unpack

Handler = Callable[[Any, Any], Any]

_request_id = ""  # the invoke being served, for the log format's %(aws_request_id)s


class FaultError(Exception):
    """A failure the runtime itself reports, with Lambda's errorType (Runtime.*)."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


class Identity:
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self) -> None:
        self.cognito_identity_id = None
        self.cognito_identity_pool_id = None


class LambdaContext:
    """The handler's ``context``: the attributes and methods of Lambda's Python runtime."""

    # The container's constants, read from its environment once (see read_environment).
    log_group_name: str | None = None
    log_stream_name: str | None = None
    function_name: str | None = None
    memory_limit_in_mb: str | None = None  # a str, as in Lambda
    function_version: str | None = None

    @classmethod
    def read_environment(cls) -> None:
        environ = os.environ
        cls.log_group_name = environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        cls.log_stream_name = environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        cls.function_name = environ.get("AWS_LAMBDA_FUNCTION_NAME")
        cls.memory_limit_in_mb = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        cls.function_version = environ.get("AWS_LAMBDA_FUNCTION_VERSION")

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.client_context = None
        self.identity = Identity()
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, message: str) -> None:
        sys.stdout.write(str(message))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"function_name={self.function_name},"
            f"invoked_function_arn={self.invoked_function_arn}])"
        )


def serve(connection: Connection, init: dict[str, Any]) -> NoReturn:
    """Become the container described by ``init``, load the handler, serve invokes forever."""
    try:
        _join_cgroups(init)
        _enter_sandbox(init)
        try:
            with init_cost.import_trace() as asked:
                handler = load_handler(init["handler"], FunctionCode(**init["code"]))
        except Exception as error:
            fault = _error_object(error, "")
            _log_error(fault)
            connection.send_bytes(pack(["error"], _to_json(fault)))
            _exit(1)  # as Lambda's runtime does after an init error
        asked.add(init["handler"].split(".")[0])  # imported by importlib, not __import__
        hidden_ms, _charged = init_cost.HIDDEN.charged(asked)
        connection.send_bytes(pack(["ok", repr(hidden_ms), repr(init_cost.HIDDEN.ready_at)]))
        while True:
            try:
                message = connection.recv_bytes()
            except (EOFError, OSError):  # the runtime went away
                _exit(0)
            fields, event = unpack(message)
            connection.send_bytes(_invoke(handler, fields, event))
    except SystemExit as exit_request:  # sys.exit() in handler code ends the container
        _exit(_exit_code(exit_request))


def load_handler(handler: str, code: FunctionCode) -> Handler:
    """The handler function, from the function's own code only (see code.py)."""
    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError as error:
        raise FaultError(
            "Runtime.MalformedHandlerName", f"Bad handler '{handler}': {error}"
        ) from None
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise FaultError(
            "Runtime.BuiltInModuleConflict",
            f"Cannot use built-in module {module_name} as a handler module",
        )
    try:
        module = code.load(module_name.replace("/", "."))
    except CodeRefusedError as error:
        raise FaultError("Runtime.ImportModuleError", str(error)) from None
    except ImportError as error:
        raise FaultError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {error}"
        ) from None
    except SyntaxError as error:
        raise FaultError(
            "Runtime.UserCodeSyntaxError",
            f"Syntax error in module '{module_name}': {error}",
            [f'  File "{error.filename}" Line {error.lineno}\n    {error.text}'],
        ) from None
    try:
        return getattr(module, function_name)
    except AttributeError:
        raise FaultError(
            "Runtime.HandlerNotFound",
            f"Handler '{function_name}' missing on module '{module_name}'",
        ) from None


def prepare_boto3(services: Sequence[str]) -> None:
    """In the zygote: load botocore's data files once and build boto3's default session on
    them, so a container's first client costs ~20 ms instead of ~200 ms (JSON parsing and
    hundreds of stat calls). Nothing here reads the environment or AWS config files: region,
    credentials and endpoints are resolved when a client is made, inside the container."""
    import boto3
    import botocore.loaders
    import botocore.session
    from botocore.exceptions import DataNotFoundError

    loader = botocore.loaders.create_loader()
    for name in ("endpoints", "partitions", "sdk-default-configuration", "_retry"):
        with contextlib.suppress(DataNotFoundError):
            loader.load_data(name)
    loader.list_available_services("service-2")
    for service in services:
        for kind in ("service-2", "endpoint-rule-set-1", "paginators-1", "waiters-2"):
            with contextlib.suppress(DataNotFoundError):
                loader.load_service_model(service, kind)
    session = botocore.session.get_session()
    session.register_component("data_loader", loader)
    boto3.setup_default_session(botocore_session=session)


def _join_cgroups(init: dict[str, Any]) -> None:
    """Enter the memory and CPU limits the runtime made for this container (limits.py)."""
    memory, cpu = (Path(path) if path else None for path in init.get("cgroups", ("", "")))
    if memory is None and cpu is None:
        return
    try:
        ContainerCgroups(memory, cpu).join(os.getpid(), int(init["memory_mb"]))
    except OSError as error:  # the limit is lost, not the container
        sys.stderr.write(f"[testbed] cannot apply the container's limits: {error}\n")


def _enter_sandbox(init: dict[str, Any]) -> None:
    os.environ.clear()
    os.environ.update(init["env"])
    boto3: Any = sys.modules.get("boto3")
    if boto3 is not None and "AWS_DATA_PATH" in os.environ:
        boto3.DEFAULT_SESSION = None  # the function has its own models: boto3's usual default
    time.tzset()
    LambdaContext.read_environment()
    sys.path[:] = init["sys_path"]
    os.chdir(init["cwd"])
    # Lambda's runtime flushes every write; line buffering keeps a log line in one pipe write.
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    _set_up_logging()


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _request_id
        return True


def _set_up_logging() -> None:
    """The root logger's handler of Lambda's Python runtime (text format)."""
    logging.Formatter.converter = time.gmtime
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    handler = logging.StreamHandler(sys.stdout)
    handler.terminator = ""
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    handler.addFilter(_RequestIdFilter())
    root.addHandler(handler)
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    if level in logging.getLevelNamesMapping():
        root.setLevel(level)


def _invoke(handler: Handler, fields: list[str], event_body: bytes) -> bytes:
    global _request_id
    request_id, trace_id, deadline_ms, invoked_function_arn = fields
    _request_id = request_id
    os.environ["_X_AMZN_TRACE_ID"] = trace_id
    started = time.perf_counter()
    ok = False
    try:
        try:
            event = json.loads(event_body)
        except ValueError as error:
            raise FaultError(
                "Runtime.UnmarshalError", f"Unable to unmarshal input: {error}"
            ) from None
        context = LambdaContext(request_id, int(deadline_ms), invoked_function_arn)
        payload = _marshal(handler(event, context))
        ok = True
    except Exception as error:
        fault = _error_object(error, request_id)
        _log_error(fault)
        payload = _to_json(fault)
    sys.stdout.flush()
    sys.stderr.flush()
    duration_ms = (time.perf_counter() - started) * 1000
    max_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return pack(["ok" if ok else "error", repr(duration_ms), str(max_rss_kb)], payload)


def _marshal(response: Any) -> bytes:
    if isinstance(response, bytes):
        return response
    try:
        return _to_json(response)
    except (TypeError, ValueError) as error:
        raise FaultError("Runtime.MarshalError", f"Unable to marshal response: {error}") from None


def _json_default(value: Any) -> Any:
    # Lambda's marshaller (simplejson) writes Decimal as a number: DynamoDB items round-trip.
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _to_json(value: Any) -> bytes:
    return json.dumps(value, default=_json_default).encode()


def _error_object(error: Exception, request_id: str) -> dict[str, Any]:
    """Lambda's error object for a runtime fault or an exception from user code."""
    if isinstance(error, FaultError):
        return {
            "errorMessage": error.message,
            "errorType": error.error_type,
            "requestId": request_id,
            "stackTrace": error.trace,
        }
    frames = traceback.extract_tb(error.__traceback__)
    user_frames = [frame for frame in frames if frame.filename != __file__]
    return {
        "errorMessage": str(error),
        "errorType": type(error).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(user_frames),
    }


def _log_error(fault: dict[str, Any]) -> None:
    lines = [f"[ERROR] {fault['errorType']}: {fault['errorMessage']}".rstrip(": ")]
    if fault["stackTrace"]:
        lines.append("Traceback (most recent call last):")
        lines.extend(line for entry in fault["stackTrace"] for line in entry.splitlines())
    sys.stdout.write("\n".join(lines) + "\n")


def _exit_code(exit_request: SystemExit) -> int:
    code = exit_request.code
    if code is None or isinstance(code, int):
        return code or 0
    sys.stderr.write(f"{code}\n")
    return 1


def _exit(code: int) -> NoReturn:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
