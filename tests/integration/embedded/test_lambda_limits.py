"""A container's MemorySize is real on the local runtime where the host allows cgroups: its
memory is capped (passing it kills the container, as Lambda does) and, when asked, its CPU is
MemorySize / 1,769 of a core."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from serverless_testbed.embedded.lambda_runtime.code import FunctionCode
from serverless_testbed.embedded.lambda_runtime.limits import (
    CGROUP_ROOT,
    Controller,
    HostLimits,
    cgroup_of,
    cpu_quota_us,
)
from serverless_testbed.embedded.lambda_runtime.runtime import FunctionConfig, LambdaRuntime

PROBE = "serverless_testbed.handlers.probe.handler"


def _host_allows(controller: str) -> str:
    limits = HostLimits(limit_memory=controller == "memory", scale_cpu=controller == "cpu")
    try:
        return "" if getattr(limits, controller).base else getattr(limits, controller).reason
    finally:
        limits.close()


def probe(memory_mb: int, name: str = "probe") -> FunctionConfig:
    return FunctionConfig(
        name=name,
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        handler=PROBE,
        timeout_s=30.0,
        memory_mb=memory_mb,
        environment={},
        code=FunctionCode.of_package("serverless_testbed.handlers"),
    )


@pytest.fixture
def limited_runtime() -> Iterator[LambdaRuntime]:
    with LambdaRuntime(
        {"AWS_REGION": "us-east-1"}, preload=(), boto3_services=(), scale_cpu=True
    ) as runtime:
        yield runtime


def answer(result: Any) -> dict[str, Any]:
    assert result.function_error is None, result.payload
    return json.loads(result.payload)


def test_memory_past_the_size_kills_the_container_and_the_next_invoke_gets_a_new_one(
    limited_runtime: LambdaRuntime,
) -> None:
    reason = _host_allows("memory")
    if reason:
        pytest.skip(f"memory not limited on this host: {reason}")
    limited_runtime.register(probe(128))
    first = answer(limited_runtime.invoke("probe", b'{"alloc_mb": 16}'))

    killed = limited_runtime.invoke("probe", b'{"alloc_mb": 200}')

    assert killed.function_error == "Unhandled"
    error = json.loads(killed.payload)
    assert error["errorType"] == "Runtime.ExitError"
    assert error["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")
    after = limited_runtime.invoke("probe", b'{"alloc_mb": 16}')
    assert after.cold_start
    assert answer(after)["container_id"] != first["container_id"]
    assert answer(after)["invocations"] == 1


def test_memory_below_the_size_is_fine(limited_runtime: LambdaRuntime) -> None:
    limited_runtime.register(probe(512))

    result = answer(limited_runtime.invoke("probe", b'{"alloc_mb": 200}'))

    assert result["max_rss_mb"] >= 200


@pytest.mark.parametrize("memory_mb", [128, 512, 1769, 3008])
def test_the_cpu_quota_of_each_memory_size_is_set_on_the_host(
    limited_runtime: LambdaRuntime, memory_mb: int
) -> None:
    reason = _host_allows("cpu")
    if reason:
        pytest.skip(f"CPU not scaled on this host: {reason}")
    limited_runtime.register(probe(memory_mb, f"probe-{memory_mb}"))

    pid = answer(limited_runtime.invoke(f"probe-{memory_mb}", b"{}"))["pid"]

    group = cgroup_of(pid, "cpu")
    assert group is not None and group != CGROUP_ROOT / "cpu"
    assert int((group / "cpu.cfs_quota_us").read_text()) == cpu_quota_us(memory_mb)
    assert int((group / "cpu.cfs_period_us").read_text()) == 100_000
    assert cpu_quota_us(memory_mb) == round(100_000 * memory_mb / 1769)


def test_where_cpu_is_not_scaled_the_cold_start_log_says_so() -> None:
    limits = HostLimits(limit_memory=False, scale_cpu=True)
    limits.close()
    limits.cpu = Controller("cpu", None, "no permission")

    assert limits.notes == ["[testbed] CPU not scaled on this host: no permission"]


def test_without_cpu_scaling_asked_for_the_logs_carry_no_note() -> None:
    limits = HostLimits(limit_memory=True, scale_cpu=False)
    limits.close()
    limits.memory = Controller("memory", None, "no permission")

    assert limits.notes == []
