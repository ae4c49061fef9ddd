"""Invoked by the delay state machine once its Wait is over: records when it fired
(pipeline/delayed.py) and returns the record, which becomes the execution's output.

Environment: TABLE_NAME.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from serverless_testbed.handlers.environment import aws_client, required_env
from serverless_testbed.pipeline.clock import SYSTEM_CLOCK, Clock
from serverless_testbed.pipeline.delayed import record_firing

logger = Logger(service="delayed_task")


@dataclass(frozen=True)
class DelayedTaskSettings:
    dynamodb: Any
    table_name: str
    clock: Clock = SYSTEM_CLOCK

    @classmethod
    def from_environment(cls) -> DelayedTaskSettings:
        return cls(dynamodb=aws_client("dynamodb"), table_name=required_env("TABLE_NAME"))


@functools.cache
def _settings() -> DelayedTaskSettings:
    return DelayedTaskSettings.from_environment()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, _settings())


def handle(event: dict[str, Any], settings: DelayedTaskSettings) -> dict[str, Any]:
    outcome, firing = record_firing(
        event, dynamodb=settings.dynamodb, table_name=settings.table_name, clock=settings.clock
    )
    result = {
        "outcome": outcome,
        "execution": firing.execution,
        "started_at": firing.started_at,
        "fired_at": firing.fired_at,
    }
    logger.info("delayed task fired", extra=result)
    return result
