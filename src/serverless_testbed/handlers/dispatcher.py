"""Invoked by Step Functions (lambda:invoke.waitForTaskToken): sends the task token and the
request to the request queue. An uncaught error (e.g. InjectedFault) is a Lambda function
error, which fails the Dispatch task and so the execution.

Environment: QUEUE_URL.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from serverless_testbed.handlers.environment import aws_client, required_env
from serverless_testbed.pipeline.clock import SYSTEM_CLOCK, Clock
from serverless_testbed.pipeline.dispatch import dispatch

logger = Logger(service="dispatcher")


@dataclass(frozen=True)
class DispatcherSettings:
    sqs: Any
    queue_url: str
    clock: Clock = SYSTEM_CLOCK

    @classmethod
    def from_environment(cls) -> DispatcherSettings:
        return cls(sqs=aws_client("sqs"), queue_url=required_env("QUEUE_URL"))


@functools.cache
def _settings() -> DispatcherSettings:
    return DispatcherSettings.from_environment()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, _settings())


def handle(event: dict[str, Any], settings: DispatcherSettings) -> dict[str, Any]:
    # Stamped once the clients exist: a cold start's set-up belongs to the invoke, as it
    # would with module-level clients on AWS.
    started_ms = settings.clock.now_ms()
    sent = dispatch(
        settings.sqs, settings.queue_url, event, started_ms=started_ms, clock=settings.clock
    )
    logger.info(
        "message sent",
        extra={
            "request_id": sent.request_id,
            "execution": sent.execution,
            "message_id": sent.message_id,
            "queue_url": settings.queue_url,
            "timestamps": sent.body["timestamps"],
        },
    )
    return {"message_id": sent.message_id, "request_id": sent.request_id}
