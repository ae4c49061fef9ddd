"""LocalStack's readiness: every service the pipeline needs is available or running."""

from __future__ import annotations

import json

import pytest

from serverless_testbed.containers.services import localstack_services_ready

NEEDED = ("sqs", "lambda")


def _health(**services: str) -> str:
    return json.dumps({"services": services, "edition": "community", "version": "4.14.0"})


def test_ready_when_every_needed_service_is_available_or_running() -> None:
    body = _health(sqs="running", s3="error", **{"lambda": "available"})

    assert localstack_services_ready(body, NEEDED)


@pytest.mark.parametrize(
    "body",
    [
        _health(sqs="running"),  # lambda missing
        _health(sqs="running", **{"lambda": "initializing"}),
        _health(sqs="error", **{"lambda": "running"}),
        "not json",
        "[]",
    ],
)
def test_not_ready_otherwise(body: str) -> None:
    assert not localstack_services_ready(body, NEEDED)
