"""The local Lambda runtime runs handlers in real container processes, the way Lambda does."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serverless_testbed.embedded.lambda_runtime.code import FunctionCode
from serverless_testbed.embedded.lambda_runtime.runtime import (
    FunctionConfig,
    FunctionNotFoundError,
    InvokeResult,
    LambdaRuntime,
)
from tests.integration.helpers import wait_until

HANDLERS = "tests.integration.embedded.fixtures_handlers"
BASE_ENVIRONMENT = {
    "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}


def function(
    name: str, handler: str, *, timeout_s: float = 5.0, **environment: str
) -> FunctionConfig:
    return FunctionConfig(
        name=name,
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        handler=f"{HANDLERS}.{handler}",
        timeout_s=timeout_s,
        memory_mb=256,
        environment=environment,
        code=FunctionCode.of_package(HANDLERS),
    )


class LogLines:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, function_name: str, line: str) -> None:
        with self._lock:
            self.lines.append((function_name, line))


@pytest.fixture
def log_lines() -> LogLines:
    return LogLines()


@pytest.fixture
def runtime(log_lines: LogLines) -> Iterator[LambdaRuntime]:
    with LambdaRuntime(BASE_ENVIRONMENT, log_sink=log_lines) as runtime:
        yield runtime


def body(result: InvokeResult) -> Any:
    return json.loads(result.payload)


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_first_invoke_is_a_cold_start_and_the_next_reuses_the_container(runtime: LambdaRuntime):
    runtime.register(function("describe", "basic.describe"))

    first = runtime.invoke("describe", b'{"n": 1}')
    second = runtime.invoke("describe", b'{"n": 2}')

    assert (first.cold_start, second.cold_start) == (True, False)
    assert first.container_id == second.container_id
    assert body(first)["pid"] == body(second)["pid"]
    assert body(second)["event"] == {"n": 2}
    assert first.init_duration_ms is not None and second.init_duration_ms is None
    assert runtime.snapshot()["describe"] | {"container_pids": None} == {
        "containers": 1,
        "busy": 0,
        "idle": 1,
        "starting": 0,
        "cold_starts": 1,
        "invocations": 2,
        "errors": 0,
        "timeouts": 0,
        "exits": 0,
        "throttles": 0,
        "reserved_concurrency": None,
        "container_pids": None,
    }


def test_environment_is_set_before_the_handler_module_is_imported(runtime: LambdaRuntime):
    runtime.register(function("describe", "basic.describe", GREETING="hello"))

    environment = body(runtime.invoke("describe", b"{}"))["environment_at_import"]

    assert environment["GREETING"] == "hello"
    assert environment["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"
    assert environment["AWS_ACCESS_KEY_ID"] == "testing"
    assert environment["AWS_LAMBDA_FUNCTION_NAME"] == "describe"
    assert environment["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert environment["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert environment["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/describe"
    assert environment["_HANDLER"] == f"{HANDLERS}.basic.describe"
    assert environment["AWS_EXECUTION_ENV"].startswith("AWS_Lambda_python3.")
    assert environment["AWS_REGION"] == "us-east-1"
    assert "PYTEST_CURRENT_TEST" not in environment  # nothing else leaks from the host


def test_handler_gets_a_lambda_context(runtime: LambdaRuntime):
    config = function("describe", "basic.describe", timeout_s=30)
    runtime.register(config)

    result = runtime.invoke(config.arn, b"{}")
    described = body(result)

    context = described["context"]
    assert context["function_name"] == "describe"
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"] == config.arn
    assert context["memory_limit_in_mb"] == "256"
    assert context["aws_request_id"] == result.request_id
    assert context["log_group_name"] == "/aws/lambda/describe"
    assert context["log_stream_name"].endswith(f"[$LATEST]{result.container_id}")
    assert 0 < context["remaining_ms"] <= 30_000
    assert described["trace_id"].startswith("Root=1-")


def test_boto3_in_the_handler_uses_the_container_environment_and_config(
    runtime: LambdaRuntime, tmp_path: Path
):
    config_file = tmp_path / "aws-config"
    config_file.write_text("[default]\nmax_attempts = 7\n")
    runtime.register(
        function(
            "boto3",
            "boto3_settings.handler",
            AWS_ENDPOINT_URL_SQS="http://127.0.0.1:2",
            AWS_CONFIG_FILE=str(config_file),
        )
    )

    settings = body(runtime.invoke("boto3", b"{}"))

    assert settings == {
        "endpoint_url": "http://127.0.0.1:2",
        "region": "us-east-1",
        "max_attempts": 7,
        "access_key": "testing",
    }


def test_powertools_logger_works_with_the_context(runtime: LambdaRuntime):
    runtime.register(function("powertools", "powertools_logging.handler"))

    result = runtime.invoke("powertools", b'{"k": "v"}')

    assert body(result) == "ok"
    records = [json.loads(line) for line in result.log_tail.splitlines() if line.startswith("{")]
    assert len(records) == 1
    assert records[0]["message"] == "handled"
    assert records[0]["function_name"] == "powertools"
    assert records[0]["function_request_id"] == result.request_id
    assert records[0]["cold_start"] is True


def test_handler_logs_are_captured_per_invoke_and_sent_to_the_sink(
    runtime: LambdaRuntime, log_lines: LogLines
):
    runtime.register(function("logs", "basic.write_logs"))

    result = runtime.invoke("logs", b"{}")

    lines = result.log_tail.splitlines()
    assert lines[0].startswith("INIT_START")
    assert lines[1] == f"START RequestId: {result.request_id} Version: $LATEST"
    assert "printed line" in lines
    assert any(
        line.startswith("[WARNING]\t") and line.endswith(f"\t{result.request_id}\tlogged warning")
        for line in lines
    )
    assert "stderr line" in lines
    assert "no newline at the end" in lines
    assert lines[-2] == f"END RequestId: {result.request_id}"
    assert lines[-1].startswith(f"REPORT RequestId: {result.request_id}\tDuration: ")
    assert "Init Duration: " in lines[-1]
    assert [line for name, line in log_lines.lines if name == "logs"] == lines


def test_concurrent_invokes_get_separate_containers(runtime: LambdaRuntime, tmp_path: Path):
    runtime.register(function("wait", "basic.wait_for_file"))
    release = tmp_path / "release"
    results: list[InvokeResult] = []

    def invoke() -> None:
        results.append(runtime.invoke("wait", json.dumps({"release": str(release)}).encode()))

    threads = [threading.Thread(target=invoke) for _ in range(2)]
    for thread in threads:
        thread.start()
    wait_until(lambda: runtime.snapshot()["wait"]["busy"] == 2, timeout_s=30, what="2 busy")
    release.touch()
    for thread in threads:
        thread.join(timeout=30)

    assert len({result.container_id for result in results}) == 2
    assert all(result.cold_start for result in results)
    assert all(body(result)["released"] for result in results)
    assert runtime.snapshot()["wait"]["idle"] == 2


def test_idle_containers_are_reaped(log_lines: LogLines):
    with LambdaRuntime(BASE_ENVIRONMENT, idle_timeout_s=0.3, log_sink=log_lines) as runtime:
        runtime.register(function("describe", "basic.describe"))
        pid = body(runtime.invoke("describe", b"{}"))["pid"]

        wait_until(
            lambda: runtime.snapshot()["describe"]["containers"] == 0,
            timeout_s=10,
            what="the idle container to be reaped",
        )
        wait_until(lambda: process_gone(pid), timeout_s=10, what="the reaped process to exit")
        assert runtime.invoke("describe", b"{}").cold_start


def test_handler_exception_is_an_unhandled_error_and_the_container_survives(
    runtime: LambdaRuntime,
):
    runtime.register(function("fail", "basic.fail"))

    first = runtime.invoke("fail", b'{"n": 1}')
    second = runtime.invoke("fail", b'{"n": 2}')

    assert first.function_error == "Unhandled"
    error = body(first)
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "cannot handle {'n': 1}"
    assert error["requestId"] == first.request_id
    assert any("in fail" in frame for frame in error["stackTrace"])
    assert "[ERROR] ValueError: cannot handle {'n': 1}" in first.log_tail
    assert not second.cold_start and second.container_id == first.container_id
    assert runtime.snapshot()["fail"]["errors"] == 2


def test_timeout_kills_the_container_and_reports_it(runtime: LambdaRuntime):
    runtime.register(function("sleep", "basic.sleep", timeout_s=0.5))
    holder: list[InvokeResult] = []
    thread = threading.Thread(
        target=lambda: holder.append(runtime.invoke("sleep", b'{"seconds": 60}'))
    )
    thread.start()
    wait_until(lambda: runtime.snapshot()["sleep"]["busy"] == 1, timeout_s=30, what="busy")
    (pid,) = runtime.snapshot()["sleep"]["container_pids"]
    thread.join(timeout=30)
    (result,) = holder

    assert result.function_error == "Unhandled"
    assert body(result)["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 0.5" in body(result)["errorMessage"]
    assert "Task timed out after" in result.log_tail
    wait_until(lambda: process_gone(pid), timeout_s=10, what="the timed-out process to exit")
    assert runtime.snapshot()["sleep"]["containers"] == 0
    assert runtime.snapshot()["sleep"]["timeouts"] == 1
    assert runtime.invoke("sleep", b'{"seconds": 0}').cold_start


def test_crashing_container_is_a_runtime_exit_error_and_the_next_invoke_is_cold(
    runtime: LambdaRuntime,
):
    runtime.register(function("exit", "basic.exit_process"))

    crashed = runtime.invoke("exit", b'{"code": 3}')
    again = runtime.invoke("exit", b'{"code": 4}')

    assert crashed.function_error == "Unhandled"
    assert body(crashed)["errorType"] == "Runtime.ExitError"
    assert body(crashed)["errorMessage"].endswith("Runtime exited with error: exit status 3")
    assert "about to exit" in crashed.log_tail
    assert again.cold_start and again.container_id != crashed.container_id
    assert body(again)["errorMessage"].endswith("exit status 4")
    assert runtime.snapshot()["exit"]["containers"] == 0


def test_unserialisable_return_value_is_a_marshal_error(runtime: LambdaRuntime):
    runtime.register(function("set", "basic.return_a_set"))

    result = runtime.invoke("set", b"{}")

    assert result.function_error == "Unhandled"
    assert body(result)["errorType"] == "Runtime.MarshalError"
    assert body(result)["errorMessage"].startswith("Unable to marshal response: ")


def test_invalid_json_event_is_an_unmarshal_error(runtime: LambdaRuntime):
    runtime.register(function("describe", "basic.describe"))

    result = runtime.invoke("describe", b"{not json")

    assert body(result)["errorType"] == "Runtime.UnmarshalError"


def test_missing_handler_module_is_an_import_error_and_nothing_stays_alive(
    runtime: LambdaRuntime,
):
    runtime.register(function("missing", "no_such_module.handler"))

    result = runtime.invoke("missing", b"{}")

    assert result.function_error == "Unhandled"
    assert body(result)["errorType"] == "Runtime.ImportModuleError"
    assert "no_such_module" in body(result)["errorMessage"]
    assert runtime.snapshot()["missing"]["containers"] == 0


def test_missing_handler_function_is_handler_not_found(runtime: LambdaRuntime):
    runtime.register(function("nofunc", "basic.no_such_function"))

    result = runtime.invoke("nofunc", b"{}")

    assert body(result)["errorType"] == "Runtime.HandlerNotFound"


def test_reregistering_retires_the_old_containers(runtime: LambdaRuntime):
    runtime.register(function("describe", "basic.describe", VERSION="1"))
    old = runtime.invoke("describe", b"{}")
    old_pid = body(old)["pid"]

    runtime.register(function("describe", "basic.describe", VERSION="2"))
    new = runtime.invoke("describe", b"{}")

    assert new.cold_start and new.container_id != old.container_id
    assert body(new)["environment_at_import"]["VERSION"] == "2"
    wait_until(lambda: process_gone(old_pid), timeout_s=10, what="the old container to exit")
    assert runtime.snapshot()["describe"]["containers"] == 1


def test_registering_the_same_configuration_again_keeps_warm_containers(runtime: LambdaRuntime):
    runtime.register(function("describe", "basic.describe"))
    first = runtime.invoke("describe", b"{}")

    runtime.register(function("describe", "basic.describe"))

    assert runtime.invoke("describe", b"{}").container_id == first.container_id


def test_unknown_function_is_not_found(runtime: LambdaRuntime):
    with pytest.raises(FunctionNotFoundError):
        runtime.invoke("arn:aws:lambda:us-east-1:123456789012:function:nobody", b"{}")


def test_close_stops_every_container_process(log_lines: LogLines, tmp_path: Path):
    runtime = LambdaRuntime(BASE_ENVIRONMENT, log_sink=log_lines)
    runtime.register(function("describe", "basic.describe"))
    runtime.register(function("wait", "basic.wait_for_file", timeout_s=60))
    idle_pid = body(runtime.invoke("describe", b"{}"))["pid"]
    busy: list[InvokeResult] = []
    event = json.dumps({"release": str(tmp_path / "never")}).encode()
    thread = threading.Thread(target=lambda: busy.append(runtime.invoke("wait", event)))
    thread.start()
    wait_until(lambda: runtime.snapshot()["wait"]["busy"] == 1, timeout_s=30, what="busy")
    (busy_pid,) = runtime.snapshot()["wait"]["container_pids"]

    runtime.close()
    runtime.close()  # idempotent
    thread.join(timeout=10)

    assert process_gone(idle_pid) and process_gone(busy_pid)
    assert body(busy[0])["errorType"] == "Runtime.ExitError"
