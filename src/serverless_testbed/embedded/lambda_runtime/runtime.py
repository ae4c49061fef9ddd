"""A local Lambda runtime for Python handlers: containers as processes, reused while warm.

    runtime = LambdaRuntime({"AWS_ENDPOINT_URL": url, "AWS_REGION": "us-east-1", ...})
    runtime.register(FunctionConfig(name=..., arn=..., handler="pkg.module.handler", ...))
    result = runtime.invoke("name-or-arn", b'{"event": 1}')   # blocking, thread-safe

Each container is a process forked from a preloaded zygote (lambda_zygote.py) that imports
the handler module once (the cold start) and then serves one invoke at a time
(lambda_container.py). Concurrent invokes of a function get more containers, up to the
function's reserved concurrency or, for the others, what the account's limit leaves
unreserved; an invoke past that raises FunctionThrottled, as Lambda answers 429. Idle
containers are reaped after ``idle_timeout_s``. Handler errors, timeouts and crashes come
back the way Lambda reports them: a payload with errorType/errorMessage and function_error
"Unhandled". A warm invoke is one message each way over a socket pair, with no polling loop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import random
import select
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from serverless_testbed.embedded.lambda_runtime import container as lambda_container
from serverless_testbed.embedded.lambda_runtime.code import FunctionCode
from serverless_testbed.embedded.lambda_runtime.limits import HostLimits
from serverless_testbed.embedded.lambda_runtime.protocol import pack, unpack
from serverless_testbed.embedded.lambda_runtime.zygote import Spawned, Zygote, ZygoteGone
from serverless_testbed.emulation.defaults import LAMBDA_ACCOUNT_CONCURRENCY
from serverless_testbed.emulation.invoke import FunctionThrottled, ThrottleReason

LogSink = Callable[[str, str], None]  # (function name, log line)

# Imported once by the zygote, so a container does not pay for them (no side effects at import).
DEFAULT_PRELOAD = (
    "boto3",
    "botocore.session",
    "botocore.client",
    "aws_lambda_powertools",
    "aws_lambda_powertools.logging",
)
# botocore data loaded once by the zygote, so a handler's first client of these is cheap.
DEFAULT_BOTO3_SERVICES = ("sqs", "dynamodb", "stepfunctions", "lambda", "sts")
INIT_TIMEOUT_S = 10.0  # Lambda's limit for the init phase
EXIT_REPORT_TIMEOUT_S = 2.0  # how long a dead container's exit status may take to arrive
HOST_VARIABLES = ("PATH", "LANG", "LC_ALL", "TMPDIR")  # the rest of this process's env stays out
PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
# How one invoke ended for its container: after "ok" and "error" (the handler raised) the
# container lives on; after the others it is gone.
InvokeEnd = Literal["ok", "error", "timeout", "exit", "init_error"]
_SIGNAL_WORDS = {  # how Lambda (a Go program) names the signal that ended a runtime
    signal.SIGKILL: "killed",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGTERM: "terminated",
    signal.SIGBUS: "bus error",
}


@dataclass(frozen=True)
class FunctionConfig:
    name: str  # physical function name
    arn: str
    handler: str  # "package.module.function", a module of ``code``
    timeout_s: float
    memory_mb: int
    environment: dict[str, str]  # the function's Environment.Variables
    code: FunctionCode  # where the handler's module must be (and is loaded from)
    reserved_concurrency: int | None = None  # PutFunctionConcurrency; None: the shared pool

    def runs_like(self, other: FunctionConfig) -> bool:
        """Whether a container of ``other`` can serve this configuration (concurrency aside)."""
        return replace(self, reserved_concurrency=None) == replace(other, reserved_concurrency=None)


@dataclass(frozen=True)
class InvokeResult:
    payload: bytes  # JSON bytes: the handler's return value, or the error object
    function_error: str | None  # None or "Unhandled" (the x-amz-function-error header)
    cold_start: bool
    container_id: str
    duration_ms: float
    log_tail: str  # this invoke's log lines
    init_duration_ms: float | None = None  # cold starts only: process start + handler import
    request_id: str = ""


class FunctionNotFoundError(LookupError):
    """No function of that name or ARN is registered (Lambda's ResourceNotFoundException)."""


class RuntimeClosedError(RuntimeError):
    """The runtime was closed."""


class _ContainerDied(Exception):
    pass


class _ExitWatch:
    """A container's exit, as its zygote reports it (from the zygote's reader thread)."""

    def __init__(self) -> None:
        self.exited = threading.Event()
        self.status: int | None = None  # a wait status

    def record(self, status: int) -> None:
        self.status = status
        self.exited.set()


class _Container:
    """The runtime's side of one container process."""

    def __init__(
        self,
        spawned: Spawned,
        zygote: Zygote,
        exit_watch: _ExitWatch,
        config: FunctionConfig,
        container_id: str,
        started: float,
        started_at: float,
    ) -> None:
        self.pid = spawned.pid
        self.zygote = zygote  # its parent: the only one to signal it
        self.connection = spawned.connection
        self.log_fd = spawned.log_fd
        self.config = config
        self.id = container_id
        self.started = started  # monotonic, when its process was asked for
        self.started_at = started_at  # the same instant, epoch (compared with the zygote's)
        self.last_used = started
        self._exit_watch = exit_watch
        self.exited = exit_watch.exited
        self._partial_line = b""
        self._log_open = True
        self._poll = select.poll()
        self._poll.register(self.connection.fileno(), select.POLLIN)
        self._poll.register(self.log_fd, select.POLLIN)
        self._closed = False

    @property
    def exit_status(self) -> int | None:
        return self._exit_watch.status

    def send(self, message: bytes) -> None:
        try:
            self.connection.send_bytes(message)
        except OSError as error:
            raise _ContainerDied from error

    def receive(
        self, deadline: float, emit: Callable[[str], None]
    ) -> tuple[list[str], bytes] | None:
        """The container's next message; None if ``deadline`` (monotonic) passes first.

        Log output is read as it comes (a full pipe would block the handler). Everything the
        container wrote before its reply is readable when the reply is, so the same poll sees it.
        """
        connection_fd = self.connection.fileno()
        while True:
            timeout_ms = math.ceil((deadline - time.monotonic()) * 1000)
            if timeout_ms <= 0:
                return None
            reply_ready = False
            for fd, _event in self._poll.poll(timeout_ms):
                if fd == connection_fd:
                    reply_ready = True
                else:
                    self.read_logs(emit)
            if reply_ready:
                try:
                    return unpack(self.connection.recv_bytes())
                except (EOFError, OSError) as error:
                    self.read_logs(emit)
                    raise _ContainerDied from error

    def read_logs(self, emit: Callable[[str], None]) -> None:
        while self._log_open:
            try:
                chunk = os.read(self.log_fd, 1 << 16)
            except BlockingIOError:
                return
            if not chunk:  # every writer is gone: the process exited
                self._poll.unregister(self.log_fd)
                self._log_open = False
                chunk = b"\n" if self._partial_line else b""
            *lines, self._partial_line = (self._partial_line + chunk).split(b"\n")
            for line in lines:
                emit(line.decode(errors="replace"))

    def flush_partial_line(self, emit: Callable[[str], None]) -> None:
        if self._partial_line:
            emit(self._partial_line.decode(errors="replace"))
            self._partial_line = b""

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.connection.close()
        if self._log_open:
            self._poll.unregister(self.log_fd)
        os.close(self.log_fd)


@dataclass
class _Function:
    config: FunctionConfig
    idle: list[_Container] = field(default_factory=list)  # most recently used last
    busy: set[_Container] = field(default_factory=set)
    starting: int = 0
    cold_starts: int = 0
    invocations: int = 0
    errors: int = 0
    timeouts: int = 0
    exits: int = 0
    throttles: int = 0

    @property
    def in_flight(self) -> int:
        """Its concurrency now: invokes running or starting a container."""
        return len(self.busy) + self.starting


class _InvokeLog:
    def __init__(self, function_name: str, sink: LogSink | None) -> None:
        self.lines: list[str] = []
        self._function_name = function_name
        self._sink = sink

    def emit(self, line: str) -> None:
        self.lines.append(line)
        if self._sink is not None:
            self._sink(self._function_name, line)

    @property
    def tail(self) -> str:
        return "\n".join(self.lines)


class LambdaRuntime:
    def __init__(
        self,
        base_environment: dict[str, str],
        *,
        idle_timeout_s: float = 300.0,
        log_sink: LogSink | None = None,
        preload: Sequence[str] = DEFAULT_PRELOAD,
        boto3_services: Sequence[str] = DEFAULT_BOTO3_SERVICES,
        limit_memory: bool = True,
        scale_cpu: bool = False,
        account_concurrency: int = LAMBDA_ACCOUNT_CONCURRENCY,
        account_reservations: Callable[[], int] | None = None,
    ) -> None:
        """``limit_memory``: a container whose memory passes its MemorySize is killed;
        ``scale_cpu``: a container gets MemorySize / 1,769 of a CPU (see limits.py; each
        only where the host allows it, and a cold start's log says where it does not).
        ``account_concurrency``: the account's concurrency limit, which the functions
        without reserved concurrency share less what ``account_reservations()`` says every
        function of the account reserves (by default, what the registered ones reserve)."""
        if account_concurrency < 1:
            raise ValueError(f"account_concurrency must be at least 1, not {account_concurrency}")
        self._account_concurrency = account_concurrency
        self._account_reservations = account_reservations
        self._base_environment = dict(base_environment)
        self._idle_timeout_s = idle_timeout_s
        self._log_sink = log_sink
        self._preload = tuple(preload)
        self._boto3_services = tuple(boto3_services)
        self._lock = threading.Lock()
        self._reaper_wakeup = threading.Condition(self._lock)
        self._reaper_sleeps_forever = False
        self._functions: dict[str, _Function] = {}
        self._closed = False
        self._limits = HostLimits(limit_memory=limit_memory, scale_cpu=scale_cpu)
        # Started now so its imports overlap with whatever the caller does next.
        self._zygote = Zygote(self._preload, self._boto3_services)
        self._reaper = threading.Thread(target=self._reap_idle, name="lambda-reaper", daemon=True)
        self._reaper.start()

    # -- public interface ------------------------------------------------------------------
    def register(self, config: FunctionConfig) -> None:
        """Add or replace a function; containers of an older configuration are retired."""
        with self._lock:
            self._check_open()
            function = self._functions.get(config.name)
            if function is None:
                self._functions[config.name] = _Function(config)
                return
            if function.config == config:
                return
            old, function.config = function.config, config
            if config.runs_like(old):  # only its concurrency changed: its containers stay
                return
            retired, function.idle = function.idle, []
        for container in retired:
            self._destroy(container)

    def invoke(self, name_or_arn: str, payload: bytes) -> InvokeResult:
        """Run the function on ``payload`` (JSON bytes) like Lambda's RequestResponse Invoke."""
        function = self._find(name_or_arn)
        invoked_arn = name_or_arn if name_or_arn.startswith("arn:") else function.config.arn
        log = _InvokeLog(function.config.name, self._log_sink)
        container, cold = self._acquire(function)
        outcome: InvokeEnd = "exit"
        try:
            result, outcome = self._run(container, cold, invoked_arn, payload or b"{}", log)
            return result
        finally:
            self._release(function, container, outcome)

    def snapshot(self) -> dict[str, Any]:
        """Per function: containers alive/busy/idle, cold starts, invocations, errors."""
        with self._lock:
            return {
                name: {
                    "containers": len(f.idle) + len(f.busy),
                    "busy": len(f.busy),
                    "idle": len(f.idle),
                    "starting": f.starting,
                    "cold_starts": f.cold_starts,
                    "invocations": f.invocations,
                    "errors": f.errors,
                    "timeouts": f.timeouts,
                    "exits": f.exits,
                    "throttles": f.throttles,
                    "reserved_concurrency": f.config.reserved_concurrency,
                    "container_pids": sorted(c.pid for c in (*f.idle, *f.busy)),
                }
                for name, f in self._functions.items()
            }

    def zygote_died(self) -> str | None:
        """Why the zygote is gone (None while it runs); the next cold start, or
        :meth:`restart_zygote`, starts another."""
        with self._lock:
            zygote = self._zygote
        status = zygote.exit_status()
        if self._closed or (zygote.alive and status is None):
            return None
        return f"exit status {status}"

    def restart_zygote(self) -> int:
        """Start another zygote if the current one died; its process id."""
        return self._live_zygote().pid

    def close(self) -> None:
        """Stop every container process and the zygote (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            idle = [c for f in self._functions.values() for c in f.idle]
            for function in self._functions.values():
                function.idle = []
            self._reaper_wakeup.notify()
        for container in idle:
            self._destroy(container)
        # Busy containers die with the zygote; their invokes end as Runtime.ExitError.
        self._zygote.stop()
        self._reaper.join(timeout=5)
        self._limits.close()

    def __enter__(self) -> LambdaRuntime:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- containers ------------------------------------------------------------------------
    def _find(self, name_or_arn: str) -> _Function:
        parts = name_or_arn.split(":")
        name = parts[parts.index("function") + 1] if "function" in parts[:-1] else name_or_arn
        with self._lock:
            self._check_open()
            function = self._functions.get(name)
        if function is None:
            raise FunctionNotFoundError(f"Function not found: {name_or_arn}")
        return function

    @property
    def account_concurrency(self) -> int:
        return self._account_concurrency

    def set_account_concurrency(self, limit: int) -> None:
        """Change the account's limit; invokes already running go on (as on Lambda)."""
        if limit < 1:
            raise ValueError(f"account_concurrency must be at least 1, not {limit}")
        with self._lock:
            self._account_concurrency = limit

    def _throttle_reason(self, function: _Function, reserved_total: int) -> ThrottleReason | None:
        """Why an invoke of ``function`` must be refused now, if it must (under the lock)."""
        reserved = function.config.reserved_concurrency
        if reserved is not None:
            if function.in_flight >= reserved:
                return "ReservedFunctionConcurrentInvocationLimitExceeded"
            return None
        unreserved_pool = self._account_concurrency - reserved_total
        unreserved_in_flight = sum(
            f.in_flight for f in self._functions.values() if f.config.reserved_concurrency is None
        )
        if unreserved_in_flight >= unreserved_pool:
            return "ConcurrentInvocationLimitExceeded"
        return None

    def _reserved_total(self) -> int:
        if self._account_reservations is not None:
            return self._account_reservations()
        with self._lock:
            return sum(f.config.reserved_concurrency or 0 for f in self._functions.values())

    def _acquire(self, function: _Function) -> tuple[_Container, bool]:
        dead: list[_Container] = []
        reserved_total = self._reserved_total()
        try:
            with self._lock:
                self._check_open()
                reason = self._throttle_reason(function, reserved_total)
                if reason is not None:  # no container is started, none is taken
                    function.throttles += 1
                    raise FunctionThrottled(function.config.name, reason)
                function.invocations += 1
                while function.idle:
                    container = function.idle.pop()
                    if container.exited.is_set():  # died while idle
                        dead.append(container)
                        continue
                    function.busy.add(container)
                    return container, False
                function.starting += 1
                function.cold_starts += 1
                config = function.config
        finally:
            for container in dead:
                self._destroy(container)
        try:
            container = self._start_container(config)
        finally:
            with self._lock:
                function.starting -= 1
        with self._lock:
            function.busy.add(container)
        return container, True

    def _start_container(self, config: FunctionConfig) -> _Container:
        container_id = uuid.uuid4().hex
        cgroups = self._limits.for_container(container_id, config.memory_mb)
        init = {
            "handler": config.handler,
            "code": dataclasses.asdict(config.code),
            "env": self._container_environment(config, container_id),
            "sys_path": _sys_path(config.code),
            "cwd": _task_root(config.code),
            "memory_mb": config.memory_mb,
            "cgroups": [str(cgroups.memory or ""), str(cgroups.cpu or "")],
        }
        exit_watch = _ExitWatch()  # before the spawn: the exit may be reported at once

        def exited(status: int) -> None:
            exit_watch.record(status)
            cgroups.remove()

        zygote = self._live_zygote()
        started, started_at = time.monotonic(), time.time()
        try:
            spawned = zygote.spawn(init, exited)
        except ZygoteGone as error:
            cgroups.remove()
            self._check_open()
            raise RuntimeError(f"could not start a container for {config.name}") from error
        except BaseException:
            cgroups.remove()
            raise
        return _Container(spawned, zygote, exit_watch, config, container_id, started, started_at)

    def _live_zygote(self) -> Zygote:
        with self._lock:
            crashed = not self._zygote.alive or self._zygote.exit_status() is not None
            if crashed and not self._closed:  # start another
                self._zygote = Zygote(self._preload, self._boto3_services)
            return self._zygote

    def _container_environment(self, config: FunctionConfig, container_id: str) -> dict[str, str]:
        arn_parts = config.arn.split(":")
        region = arn_parts[3] if len(arn_parts) > 3 and arn_parts[3] else None
        today = datetime.now(UTC).strftime("%Y/%m/%d")
        env = {name: os.environ[name] for name in HOST_VARIABLES if name in os.environ}
        # No AWS config or credentials files from this machine, as in Lambda.
        env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
        env.update(self._base_environment)
        env.update(config.environment)
        env.update(
            {
                "_HANDLER": config.handler,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_python{PYTHON_VERSION}",
                "AWS_LAMBDA_FUNCTION_NAME": config.name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": f"{today}/[$LATEST]{container_id}",
                "LAMBDA_TASK_ROOT": _task_root(config.code),
                "LAMBDA_RUNTIME_DIR": os.path.dirname(lambda_container.__file__),
                "TZ": ":UTC",
            }
        )
        if region:
            env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = region
        return env

    def _release(self, function: _Function, container: _Container, outcome: InvokeEnd) -> None:
        with self._lock:
            function.busy.discard(container)
            function.errors += outcome != "ok"
            function.timeouts += outcome == "timeout"
            function.exits += outcome in ("exit", "init_error")
            reusable = (
                outcome in ("ok", "error")
                and not self._closed
                and container.config.runs_like(function.config)
                and not container.exited.is_set()
            )
            if reusable:
                container.last_used = time.monotonic()
                function.idle.append(container)
                if self._reaper_sleeps_forever:
                    self._reaper_wakeup.notify()
        if not reusable:
            self._destroy(container)

    def _destroy(self, container: _Container) -> None:
        container.zygote.kill(container.pid)
        container.close()

    def _reap_idle(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                now = time.monotonic()
                expired: list[_Container] = []
                next_expiry: float | None = None
                for function in self._functions.values():
                    keep = []
                    for container in function.idle:
                        expiry = container.last_used + self._idle_timeout_s
                        if expiry <= now:
                            expired.append(container)
                        else:
                            keep.append(container)
                            next_expiry = (
                                expiry if next_expiry is None else min(next_expiry, expiry)
                            )
                    function.idle = keep
                if not expired:
                    self._reaper_sleeps_forever = next_expiry is None
                    self._reaper_wakeup.wait(None if next_expiry is None else next_expiry - now)
                    self._reaper_sleeps_forever = False
                    continue
            for container in expired:
                container.read_logs(self._stray_log_emitter(container.config.name))
                self._destroy(container)

    def _stray_log_emitter(self, function_name: str) -> Callable[[str], None]:
        sink = self._log_sink
        return (lambda line: sink(function_name, line)) if sink else (lambda line: None)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeClosedError("the Lambda runtime is closed")

    # -- one invoke ------------------------------------------------------------------------
    def _run(
        self, container: _Container, cold: bool, invoked_arn: str, payload: bytes, log: _InvokeLog
    ) -> tuple[InvokeResult, InvokeEnd]:
        """One invoke on ``container``: (result, outcome), outcome one of ok, error (the
        container lives on), timeout, exit, init_error (the container is gone)."""
        config = container.config
        request_id = _random_uuid()
        init_ms: float | None = None

        def finish(
            body: bytes, ok: bool, duration_ms: float, outcome: InvokeEnd
        ) -> tuple[InvokeResult, InvokeEnd]:
            container.flush_partial_line(log.emit)
            error = None if ok else "Unhandled"
            result = InvokeResult(
                body, error, cold, container.id, duration_ms, log.tail, init_ms, request_id
            )
            return result, outcome

        if cold:
            log.emit(f"INIT_START Runtime Version: python:{PYTHON_VERSION}")
            for note in self._limits.notes:
                log.emit(note)
            try:
                ready = container.receive(time.monotonic() + INIT_TIMEOUT_S, log.emit)
            except _ContainerDied:
                body = self._exit_error(container, request_id, log)
                return finish(body, False, (time.monotonic() - container.started) * 1000, "exit")
            init_ms = (time.monotonic() - container.started) * 1000
            if ready is not None and ready[0][0] == "ok":
                init_ms = _init_duration_ms(container, ready[0])
            if ready is None:
                message = f"Init phase timed out after {INIT_TIMEOUT_S:.2f} seconds"
                body = self._timeout(container, request_id, message, log)
                return finish(body, False, init_ms, "timeout")
            if ready[0][0] != "ok":  # the handler could not be loaded: the container exits
                return finish(ready[1], False, init_ms, "init_error")
        log.emit(f"START RequestId: {request_id} Version: $LATEST")
        started = time.monotonic()
        deadline_ms = int(time.time() * 1000 + config.timeout_s * 1000)
        try:
            container.send(pack((request_id, _trace_id(), str(deadline_ms), invoked_arn), payload))
            reply = container.receive(started + config.timeout_s, log.emit)
        except _ContainerDied:
            body = self._exit_error(container, request_id, log)
            duration_ms = (time.monotonic() - started) * 1000
            self._end_lines(container, log, request_id, duration_ms, config, None, init_ms)
            return finish(body, False, duration_ms, "exit")
        if reply is None:
            duration_ms = (time.monotonic() - started) * 1000
            self._end_lines(container, log, request_id, duration_ms, config, None, init_ms)
            message = f"Task timed out after {duration_ms / 1000:.2f} seconds"
            body = self._timeout(container, request_id, message, log)
            return finish(body, False, duration_ms, "timeout")
        (status, duration, max_rss_kb), body = reply
        duration_ms = float(duration)
        self._end_lines(container, log, request_id, duration_ms, config, int(max_rss_kb), init_ms)
        return finish(body, status == "ok", duration_ms, "ok" if status == "ok" else "error")

    @staticmethod
    def _end_lines(
        container: _Container,
        log: _InvokeLog,
        request_id: str,
        duration_ms: float,
        config: FunctionConfig,
        max_rss_kb: int | None,
        init_ms: float | None,
    ) -> None:
        container.flush_partial_line(log.emit)
        log.emit(f"END RequestId: {request_id}")
        report = [
            f"REPORT RequestId: {request_id}",
            f"Duration: {duration_ms:.2f} ms",
            f"Billed Duration: {math.ceil(duration_ms)} ms",
            f"Memory Size: {config.memory_mb} MB",
        ]
        if max_rss_kb is not None:
            report.append(f"Max Memory Used: {max_rss_kb // 1024} MB")
        if init_ms is not None:
            report.append(f"Init Duration: {init_ms:.2f} ms")
        log.emit("\t".join(report) + "\t")

    def _timeout(
        self, container: _Container, request_id: str, message: str, log: _InvokeLog
    ) -> bytes:
        container.zygote.kill(container.pid)
        container.exited.wait(EXIT_REPORT_TIMEOUT_S)
        container.read_logs(log.emit)
        timestamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        log.emit(f"{timestamp} {request_id} {message}")
        return _error_payload("Sandbox.Timedout", f"RequestId: {request_id} Error: {message}")

    def _exit_error(self, container: _Container, request_id: str, log: _InvokeLog) -> bytes:
        if not container.exited.wait(EXIT_REPORT_TIMEOUT_S):
            container.zygote.kill(container.pid)  # it closed its socket but lives on
            container.exited.wait(EXIT_REPORT_TIMEOUT_S)
        message = f"RequestId: {request_id} Error: {_describe_exit(container.exit_status)}"
        log.emit(message)
        log.emit("Runtime.ExitError")
        return _error_payload("Runtime.ExitError", message)


def _task_root(code: FunctionCode) -> str:
    """A zip's directory, as Lambda's /var/task; the template's handlers keep the working
    directory of the stack (they are found through the installed package)."""
    return os.getcwd() if code.package else code.directory


def _sys_path(code: FunctionCode) -> list[str]:
    # A zip's root comes first, as LAMBDA_TASK_ROOT on Lambda: its modules import each other.
    return list(sys.path) if code.package else [code.directory, *sys.path]


def _init_duration_ms(container: _Container, ready: list[str]) -> float:
    """From the container's start to its handler being ready, plus what a fork of the
    preloaded zygote saved it (the runtime's start, the preloads its init imports). A spawn
    that waited for the zygote's own start counts from when the zygote could fork."""
    hidden_ms, zygote_ready_at = float(ready[1]), float(ready[2])
    begun = max(container.started_at, zygote_ready_at)
    return max(time.time() - begun, 0.0) * 1000 + hidden_ms


def _error_payload(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


def _describe_exit(status: int | None) -> str:
    if status is None:
        return "Runtime exited with error: signal: killed"
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        return "Runtime exited without providing a reason"
    if code > 0:
        return f"Runtime exited with error: exit status {code}"
    number = -code
    with contextlib.suppress(ValueError):
        word = _SIGNAL_WORDS.get(signal.Signals(number), signal.Signals(number).name)
        return f"Runtime exited with error: signal: {word}"
    return f"Runtime exited with error: signal {number}"


# Ids need to be unique, not secret: a seeded PRNG costs ~1 us where uuid4() and secrets read
# os.urandom (~15 us each on these VMs), on every invoke's path.
_random = random.Random()


def _random_uuid() -> str:
    digits = f"{_random.getrandbits(128):032x}"
    variant = "89ab"[int(digits[16], 16) & 3]
    return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{variant}{digits[17:20]}-{digits[20:]}"


def _trace_id() -> str:
    """An X-Ray trace header, as Lambda sets in _X_AMZN_TRACE_ID for every invoke."""
    root = f"1-{int(time.time()):08x}-{_random.getrandbits(96):024x}"
    return f"Root={root};Parent={_random.getrandbits(64):016x};Sampled=0"
