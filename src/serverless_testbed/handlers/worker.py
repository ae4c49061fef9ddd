"""Triggered by the request queue (batches, ReportBatchItemFailures): for each record, one
conditional DynamoDB update and one SendTaskSuccess/Failure (pipeline/work.py).

Records that raise (poison messages, callbacks not delivered) are reported as batch item
failures, so SQS makes them visible again and redrives them to the dead-letter queue after
maxReceiveCount; every other record counts as done, duplicates included.

Environment: TABLE_NAME.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from serverless_testbed.handlers.environment import aws_client, required_env
from serverless_testbed.pipeline.clock import SYSTEM_CLOCK, Clock
from serverless_testbed.pipeline.work import (
    CallbackNotDelivered,
    PoisonMessage,
    WorkOutcome,
    process_record,
    queue_name,
)

logger = Logger(service="worker")
# An all-failed batch still answers with its item failures instead of a function error.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

_OUTCOME_MESSAGES = {
    "succeeded": "callback sent: SendTaskSuccess",
    "failed": "callback sent: SendTaskFailure",
    "duplicate": "duplicate delivery: already applied, no callback sent",
    "token_gone": "task token no longer valid: item reconciled with the execution",
}


@dataclass(frozen=True)
class WorkerSettings:
    dynamodb: Any
    sfn: Any
    table_name: str
    clock: Clock = SYSTEM_CLOCK

    @classmethod
    def from_environment(cls) -> WorkerSettings:
        return cls(
            dynamodb=aws_client("dynamodb"),
            sfn=aws_client("stepfunctions"),
            table_name=required_env("TABLE_NAME"),
        )


@functools.cache
def _settings() -> WorkerSettings:
    return WorkerSettings.from_environment()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, _settings(), context)


def handle(event: dict[str, Any], settings: WorkerSettings, context: Any = None) -> dict[str, Any]:
    def record_handler(record: SQSRecord) -> None:
        where = {"message_id": record.message_id, "queue": queue_name(record.raw_event)}
        try:
            outcome = process_record(
                record.raw_event,
                dynamodb=settings.dynamodb,
                sfn=settings.sfn,
                table_name=settings.table_name,
                clock=settings.clock,
            )
        except PoisonMessage as poison:
            logger.warning(
                "poison message: left for redrive", extra={**where, "reason": str(poison)}
            )
            raise
        except CallbackNotDelivered as undelivered:
            logger.warning(
                "callback not delivered: left for redelivery",
                extra={**where, "reason": str(undelivered)},
            )
            raise
        _log(outcome, where)

    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )


def _log(outcome: WorkOutcome, where: dict[str, str]) -> None:
    details = {
        **where,
        "request_id": outcome.request_id,
        "execution": outcome.execution,
        "outcome": outcome.kind,
    }
    if outcome.output is not None:
        details["timestamps"] = outcome.output["timestamps"]
    if outcome.error is not None:
        details |= {"error": outcome.error, "cause": outcome.cause}
    logger.info(_OUTCOME_MESSAGES[outcome.kind], extra=details)
