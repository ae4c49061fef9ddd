"""Pure logic of the Lambda experiments: reading Lambda's REPORT line, and which preloaded
imports a container's Init Duration is charged for."""

from __future__ import annotations

import pytest

from serverless_testbed.embedded.lambda_runtime.init_cost import (
    HiddenCosts,
    PreloadCost,
    import_trace,
)
from serverless_testbed.experiments.lambda_invoke import parse_report

COLD = (
    "START RequestId: 8c99 Version: $LATEST\nEND RequestId: 8c99\n"
    "REPORT RequestId: 8c99\tDuration: 1.23 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\t"
    "Max Memory Used: 41 MB\tInit Duration: 180.52 ms\t\n"
)


def test_a_cold_report_line_gives_every_field() -> None:
    report = parse_report(COLD)

    assert report is not None
    assert report.as_dict() == {
        "request_id": "8c99",
        "duration_ms": 1.23,
        "billed_duration_ms": 2.0,
        "memory_size_mb": 128,
        "max_memory_used_mb": 41,
        "init_duration_ms": 180.52,
    }


def test_a_warm_report_line_with_spaces_as_in_sam_local_has_no_init_duration() -> None:
    line = (
        "REPORT RequestId: 631f Duration: 9 ms Billed Duration: 100 ms Memory Size: 128 MB "
        "Max Memory Used: 19 MB"
    )

    report = parse_report(line)

    assert report is not None
    assert (report.duration_ms, report.billed_duration_ms, report.init_duration_ms) == (
        9.0,
        100.0,
        None,
    )


def test_a_log_without_report_line_has_no_report() -> None:
    assert parse_report("START RequestId: x Version: $LATEST\n") is None


COSTS = HiddenCosts(
    boot_ms=30.0,
    preloads=[
        PreloadCost("boto3", 200.0, frozenset({"boto3", "botocore", "urllib3"})),
        PreloadCost("botocore.session", 1.0, frozenset({"botocore"})),
        PreloadCost("aws_lambda_powertools", 50.0, frozenset({"aws_lambda_powertools"})),
    ],
    boto3_data_ms=100.0,
)


@pytest.mark.parametrize(
    ("asked", "ms", "charged"),
    [
        ({"json", "tests"}, 30.0, []),  # standard library only: the runtime's start
        ({"boto3"}, 331.0, ["boto3", "botocore.session"]),  # boto3 brings botocore
        ({"botocore"}, 331.0, ["boto3", "botocore.session"]),  # botocore came with boto3
        ({"aws_lambda_powertools"}, 80.0, ["aws_lambda_powertools"]),
        (
            {"boto3", "aws_lambda_powertools"},
            381.0,
            ["boto3", "botocore.session", "aws_lambda_powertools"],
        ),
    ],
)
def test_a_preload_is_charged_when_the_handlers_init_reaches_it(
    asked: set[str], ms: float, charged: list[str]
) -> None:
    assert COSTS.charged(asked) == (pytest.approx(ms), charged)


def test_the_import_trace_sees_imports_of_modules_already_loaded() -> None:
    with import_trace() as asked:
        import json  # noqa: F401  (already in sys.modules: no finder runs)
        from os import path  # noqa: F401

    assert {"json", "os"} <= asked
