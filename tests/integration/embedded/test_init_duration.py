"""Init Duration on the local runtime: the real time from a container's start to its handler
being ready, including the imports a preloading zygote already paid for (init_cost.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from serverless_testbed.embedded.lambda_runtime.code import FunctionCode
from serverless_testbed.embedded.lambda_runtime.runtime import FunctionConfig, LambdaRuntime

SLOW_IMPORT_S = 0.6  # of CPU time: the zygote measures what it hides in CPU time
BASE_ENVIRONMENT = {"AWS_REGION": "us-east-1"}
REPORT = re.compile(
    r"^REPORT RequestId: (?P<id>[0-9a-f-]{36})\tDuration: (?P<duration>\d+\.\d\d) ms\t"
    r"Billed Duration: (?P<billed>\d+) ms\tMemory Size: 256 MB\t"
    r"Max Memory Used: (?P<used>\d+) MB\t(Init Duration: (?P<init>\d+\.\d\d) ms\t)?$"
)


def function(name: str, handler: str) -> FunctionConfig:
    return FunctionConfig(
        name=name,
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        handler=f"tests.integration.embedded.fixtures_handlers.{handler}",
        timeout_s=5.0,
        memory_mb=256,
        environment={},
        code=FunctionCode.of_package("tests.integration.embedded.fixtures_handlers"),
    )


@pytest.fixture
def preloading_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LambdaRuntime]:
    """A runtime whose zygote preloads a library that takes SLOW_IMPORT_S to import."""
    (tmp_path / "testbed_slow_library.py").write_text(
        "import time\n"
        "started = time.process_time()\n"
        f"while time.process_time() - started < {SLOW_IMPORT_S}:\n"
        "    pass\n"
        "NAME = 'slow'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with LambdaRuntime(
        BASE_ENVIRONMENT, preload=("testbed_slow_library",), boto3_services=()
    ) as runtime:
        yield runtime


def report_of(log_tail: str) -> re.Match[str]:
    last = log_tail.splitlines()[-1]
    match = REPORT.match(last)
    assert match, f"not Lambda's REPORT line: {last!r}"
    return match


def test_a_preloaded_import_still_counts_in_init_duration(preloading_runtime: LambdaRuntime):
    preloading_runtime.register(function("user", "slow_library_user.handler"))
    preloading_runtime.register(function("plain", "basic.describe"))

    user = preloading_runtime.invoke("user", b"{}")
    plain = preloading_runtime.invoke("plain", b"{}")

    assert user.payload == b'"slow"'
    assert user.init_duration_ms is not None and plain.init_duration_ms is not None
    # The zygote imported the library once; the handler that imports it is charged for it...
    assert user.init_duration_ms >= SLOW_IMPORT_S * 1000
    assert float(report_of(user.log_tail)["init"]) == pytest.approx(user.init_duration_ms, abs=0.01)
    # ... and one that does not is not.
    assert plain.init_duration_ms < SLOW_IMPORT_S * 1000
    assert user.init_duration_ms - plain.init_duration_ms > SLOW_IMPORT_S * 1000 / 2


def test_report_lines_carry_init_duration_on_cold_starts_only(preloading_runtime: LambdaRuntime):
    preloading_runtime.register(function("plain", "basic.describe"))

    cold = preloading_runtime.invoke("plain", b"{}")
    warm = preloading_runtime.invoke("plain", b"{}")

    cold_report, warm_report = report_of(cold.log_tail), report_of(warm.log_tail)
    assert cold_report["init"] is not None and warm_report["init"] is None
    assert "INIT_START" in cold.log_tail and "INIT_START" not in warm.log_tail
    for result, report in ((cold, cold_report), (warm, warm_report)):
        assert report["id"] == result.request_id
        assert warm.log_tail.splitlines()[-2] == f"END RequestId: {warm.request_id}"
        # Lambda bills per 1 ms, rounded up.
        assert int(report["billed"]) == max(1, -(-int(float(report["duration"]) * 100) // 100))
        assert int(report["used"]) > 0
