"""POST /run (API Gateway HTTP API, payload format 2.0): validate, start the pipeline's
execution, wait for its end, answer with its output (contract.py has the bodies).

Environment: STATE_MACHINE_ARN, EXECUTION_DEADLINE_SECONDS (optional, default 25).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from serverless_testbed.handlers.environment import aws_client, float_env, required_env
from serverless_testbed.pipeline.clock import SYSTEM_CLOCK, Clock
from serverless_testbed.pipeline.execution import (
    ExecutionConflict,
    ExecutionResult,
    start_and_wait,
)
from serverless_testbed.pipeline.polling import RecentDurations
from serverless_testbed.pipeline.request import InvalidRequest, parse_run_request

DEFAULT_DEADLINE_S = 25.0  # under API Gateway's 30 s integration timeout
RESPONSE_MARGIN_S = 1.0  # kept from the function's own timeout to answer 504 in time

logger = Logger(service="api")


@dataclass(frozen=True)
class ApiSettings:
    sfn: Any
    state_machine_arn: str
    deadline_s: float = DEFAULT_DEADLINE_S
    clock: Clock = SYSTEM_CLOCK
    # What the runs this warm container waited for took: where its polling starts.
    durations: RecentDurations = field(default_factory=RecentDurations)

    @classmethod
    def from_environment(cls) -> ApiSettings:
        return cls(
            sfn=aws_client("stepfunctions"),
            state_machine_arn=required_env("STATE_MACHINE_ARN"),
            deadline_s=float_env("EXECUTION_DEADLINE_SECONDS", DEFAULT_DEADLINE_S),
        )


@functools.cache
def _settings() -> ApiSettings:
    return ApiSettings.from_environment()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, _settings(), remaining_s=_remaining_s(context))


def handle(
    event: dict[str, Any], settings: ApiSettings, remaining_s: float | None = None
) -> dict[str, Any]:
    received_ms = settings.clock.now_ms()
    http = APIGatewayProxyEventV2(event)
    try:
        request = parse_run_request(_body_bytes(http))
    except InvalidRequest as refused:
        logger.info("request refused", extra={"status": refused.status, "reason": refused.message})
        return _response(refused.status, {"error": refused.error, "message": refused.message})
    deadline_s = settings.deadline_s
    if remaining_s is not None:
        deadline_s = max(0.0, min(deadline_s, remaining_s - RESPONSE_MARGIN_S))
    try:
        result = start_and_wait(
            settings.sfn,
            settings.state_machine_arn,
            request,
            deadline_s=deadline_s,
            clock=settings.clock,
            durations=settings.durations,
        )
    except ExecutionConflict as conflict:
        logger.info("request_id reused", extra={"request_id": conflict.request_id})
        body = {
            "error": "ExecutionAlreadyExists",
            "message": str(conflict),
            "request_id": conflict.request_id,
            "execution_arn": conflict.execution_arn,
        }
        return _response(409, body)
    logger.info(
        "execution ended" if not result.deadline_passed else "execution deadline passed",
        extra={"request_id": result.request_id, "status": result.status},
    )
    return _result_response(result, received_ms, deadline_s)


def _result_response(result: ExecutionResult, received_ms: float, deadline_s: float) -> dict:
    identity = {
        "request_id": result.request_id,
        "execution_arn": result.execution_arn,
        "status": result.status,
    }
    if result.succeeded:
        api = {
            "received": received_ms,
            "execution_started": result.started_ms,
            "execution_done": result.done_ms,
        }
        return _response(200, {**identity, "output": result.output, "api": api})
    if result.deadline_passed:
        cause = f"the execution was still running after {deadline_s:g} s"
        return _response(504, {**identity, "error": "ExecutionDeadlineExceeded", "cause": cause})
    return _response(502, {**identity, "error": result.error, "cause": result.cause})


def _body_bytes(http: APIGatewayProxyEventV2) -> bytes | None:
    body = http.body
    if body is None:
        return None
    if not http.is_base64_encoded:
        return body.encode()
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error:
        raise InvalidRequest("body is marked base64 but is not valid base64") from None


def _remaining_s(context: Any) -> float | None:
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    return remaining_ms() / 1000 if callable(remaining_ms) else None


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
    }
