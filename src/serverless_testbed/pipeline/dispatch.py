"""The dispatcher's work: pack the task token and the request into one SQS message."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from serverless_testbed.pipeline.clock import Clock
from serverless_testbed.pipeline.contract import (
    DISPATCHER_START,
    MESSAGE_SENT,
    QueueMessage,
)
from serverless_testbed.pipeline.faults import InjectedFault, fault_cause, fault_requested


class InvalidDispatchEvent(Exception):
    """The state machine invoked the dispatcher without a task token or request: the ASL's
    Parameters and this code disagree."""


@dataclass(frozen=True)
class Dispatched:
    message_id: str
    request_id: str
    execution: str
    body: QueueMessage


def dispatch(
    sqs: Any, queue_url: str, event: dict[str, Any], *, started_ms: float, clock: Clock
) -> Dispatched:
    """Send {task_token, execution, request, timestamps} to the request queue.

    ``event`` is the payload the state machine builds (contract.py); a request with
    fail_at == "dispatcher" raises InjectedFault before anything is sent."""
    task_token, execution, request = _parts(event)
    request_id = str(request.get("request_id", ""))
    if fault_requested(request, "dispatcher"):
        raise InjectedFault(fault_cause("dispatcher", request_id))
    body: QueueMessage = {
        "task_token": task_token,
        "execution": execution,
        "request": request,
        "timestamps": {DISPATCHER_START: started_ms, MESSAGE_SENT: clock.now_ms()},
    }
    sent = sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=json.dumps(body),
        MessageAttributes={"request_id": {"DataType": "String", "StringValue": request_id}}
        if request_id
        else {},
    )
    return Dispatched(sent["MessageId"], request_id, execution, body)


def _parts(event: Any) -> tuple[str, str, dict[str, Any]]:
    if not isinstance(event, dict):
        raise InvalidDispatchEvent(f"the event must be an object, got {type(event).__name__}")
    task_token, request = event.get("task_token"), event.get("request")
    if not isinstance(task_token, str) or not task_token:
        raise InvalidDispatchEvent("the event has no task_token (is the Task waitForTaskToken?)")
    if not isinstance(request, dict):
        raise InvalidDispatchEvent("the event has no request object")
    return task_token, str(event.get("execution", "")), request
