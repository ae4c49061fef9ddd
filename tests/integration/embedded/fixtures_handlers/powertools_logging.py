"""A handler using aws-lambda-powertools' Logger with the Lambda context injected."""

from typing import Any

from aws_lambda_powertools import Logger

logger = Logger(service="fixture")


@logger.inject_lambda_context
def handler(event: Any, context: Any) -> str:
    logger.info("handled", extra={"event": event})
    return "ok"
