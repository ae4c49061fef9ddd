"""The worker's work for one SQS record: one conditional DynamoDB update, then the callback.

Outcomes (the handler logs them; the batch reports the raised ones as item failures):
- success: the item is written once and SendTaskSuccess carries the worker output;
- failure: SendTaskFailure with a named error (InjectedFault, DynamoDB.<code>, InvalidMessage);
- duplicate: the item already exists for another message, or was already reconciled: no
  write, no callback (a redelivery of the *same* message applies the update again and calls
  back: the delivery that wrote the item may have died before its callback);
- token gone: Step Functions no longer waits for this token (timed out, or the execution
  ended): the record is done, and the item is reconciled with the execution's end: if the
  execution did not succeed (a worker that crashed, a redelivery that came after the task
  timeout), the item this message wrote takes the execution's status, error and cause, so the
  table never says DONE for an execution that FAILED;
- PoisonMessage (raised): no task token to answer; SQS redrives it to the dead-letter queue;
- CallbackNotDelivered (raised): SendTask* failed otherwise (e.g. throttled); the item written
  for this delivery is removed again so the redelivery applies it and calls back once.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from serverless_testbed.pipeline.clock import Clock
from serverless_testbed.pipeline.contract import (
    CALLBACK_SENT,
    DISPATCHER_START,
    DYNAMODB_DONE,
    INJECTED_FAULT_ERROR,
    MESSAGE_SENT,
    SQS_FIRST_RECEIVE,
    SQS_SENT,
    WORKER_START,
)
from serverless_testbed.pipeline.faults import fault_cause, fault_requested

TOKEN_GONE_ERRORS = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})
ITEM_DONE = "DONE"
EXECUTION_SUCCEEDED = "SUCCEEDED"
EXECUTION_RUNNING = "RUNNING"
# A token refused while the execution still runs is its failure being recorded: wait that long.
RECONCILE_WAIT_S = 5.0
INVALID_MESSAGE_ERROR = "InvalidMessage"
MAX_CAUSE_CHARS = 32_768  # SendTaskFailure's limit


class PoisonMessage(Exception):
    """A record that cannot be answered: not JSON, or no task token."""


class CallbackNotDelivered(Exception):
    """SendTaskSuccess/Failure failed in a way worth retrying through SQS redelivery."""


@dataclass(frozen=True)
class WorkOutcome:
    kind: str  # "succeeded" | "failed" | "duplicate" | "token_gone"
    request_id: str
    execution: str
    message_id: str
    output: dict[str, Any] | None = None  # what SendTaskSuccess carried
    error: str | None = None  # what SendTaskFailure carried, or the token-gone error code
    cause: str | None = None


@dataclass(frozen=True)
class _Message:
    task_token: str
    execution: str
    request: dict[str, Any]
    timestamps: dict[str, Any]


def process_record(
    record: dict[str, Any], *, dynamodb: Any, sfn: Any, table_name: str, clock: Clock
) -> WorkOutcome:
    worker_start = clock.now_ms()
    message_id = str(record.get("messageId", ""))
    message = _message(record.get("body"))
    request_id = message.request.get("request_id")
    outcome = {"execution": message.execution, "message_id": message_id}
    if not isinstance(request_id, str) or not request_id:
        error, cause = INVALID_MESSAGE_ERROR, "the message's request has no request_id"
        return _fail(sfn, message.task_token, error, cause, request_id="", **outcome)
    outcome["request_id"] = request_id
    if fault_requested(message.request, "worker"):
        cause = fault_cause("worker", request_id)
        return _fail(sfn, message.task_token, INJECTED_FAULT_ERROR, cause, **outcome)
    try:
        _apply_once(dynamodb, table_name, message, request_id, message_id, worker_start)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code == "ConditionalCheckFailedException":
            return WorkOutcome("duplicate", **outcome)
        cause = error.response["Error"].get("Message") or str(error)
        return _fail(sfn, message.task_token, f"DynamoDB.{code}", cause, **outcome)
    dynamodb_done = clock.now_ms()
    output = {
        "request_id": request_id,
        "execution": message.execution,
        "queue": queue_name(record),
        "message_id": message_id,
        "timestamps": {
            DISPATCHER_START: message.timestamps.get(DISPATCHER_START),
            MESSAGE_SENT: message.timestamps.get(MESSAGE_SENT),
            SQS_SENT: _attribute_ms(record, "SentTimestamp"),
            SQS_FIRST_RECEIVE: _attribute_ms(record, "ApproximateFirstReceiveTimestamp"),
            WORKER_START: worker_start,
            DYNAMODB_DONE: dynamodb_done,
            CALLBACK_SENT: clock.now_ms(),
        },
    }
    try:
        sfn.send_task_success(taskToken=message.task_token, output=json.dumps(output))
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in TOKEN_GONE_ERRORS:
            reconciled = _reconcile(
                dynamodb, sfn, table_name, message, request_id, message_id, clock
            )
            return WorkOutcome("token_gone", error=code, cause=reconciled, **outcome)
        _release(dynamodb, table_name, request_id, message_id)
        raise CallbackNotDelivered(f"SendTaskSuccess for {request_id}: {code}") from error
    return WorkOutcome("succeeded", output=output, **outcome)


def _message(body: Any) -> _Message:
    try:
        data = json.loads(body)
    except (TypeError, ValueError):
        raise PoisonMessage("the body is not JSON") from None
    if not isinstance(data, dict):
        raise PoisonMessage("the body is not a JSON object")
    task_token = data.get("task_token")
    if not isinstance(task_token, str) or not task_token:
        raise PoisonMessage("the body has no task_token")
    request = data.get("request")
    timestamps = data.get("timestamps")
    return _Message(
        task_token=task_token,
        execution=str(data.get("execution", "")),
        request=request if isinstance(request, dict) else {},
        timestamps=timestamps if isinstance(timestamps, dict) else {},
    )


def _apply_once(
    dynamodb: Any,
    table_name: str,
    message: _Message,
    request_id: str,
    message_id: str,
    worker_start: float,
) -> None:
    """The one write per request: the condition turns another message's copy, and any
    delivery after a reconciliation, into a no-op (ConditionalCheckFailed)."""
    dynamodb.update_item(
        TableName=table_name,
        Key={"pk": {"S": request_id}},
        UpdateExpression=(
            "SET #status = :status, execution_arn = :execution, payload = :payload, "
            "message_id = :message_id, worker_start = :worker_start"
        ),
        ConditionExpression=(
            "attribute_not_exists(pk) OR (message_id = :message_id AND #status = :status)"
        ),
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={
            ":status": {"S": ITEM_DONE},
            ":execution": {"S": message.execution or "-"},
            ":payload": {"S": json.dumps(message.request.get("payload", {}))},
            ":message_id": {"S": message_id or "-"},
            ":worker_start": {"N": repr(worker_start)},
        },
    )


def _reconcile(
    dynamodb: Any,
    sfn: Any,
    table_name: str,
    message: _Message,
    request_id: str,
    message_id: str,
    clock: Clock,
) -> str:
    """Make the item this message wrote agree with how its execution ended; say what was done.

    The compensating update is conditional on this message's own DONE item, so it never
    touches an item another message wrote, and a later redelivery finds it reconciled."""
    execution = _ended_execution(sfn, message.execution, clock)
    if execution is None:
        return "the execution's end is unknown: the item is left as it is"
    status = str(execution.get("status"))
    if status == EXECUTION_SUCCEEDED:
        return "the execution succeeded (an earlier delivery's callback): the item agrees"
    error = str(execution.get("error") or "")
    cause = str(execution.get("cause") or "")
    try:
        dynamodb.update_item(
            TableName=table_name,
            Key={"pk": {"S": request_id}},
            UpdateExpression="SET #status = :ended, execution_error = :error, "
            "execution_cause = :cause",
            ConditionExpression="message_id = :message_id AND #status = :done",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":ended": {"S": status},
                ":error": {"S": error or "-"},
                ":cause": {"S": cause[:MAX_CAUSE_CHARS] or "-"},
                ":message_id": {"S": message_id or "-"},
                ":done": {"S": ITEM_DONE},
            },
        )
    except ClientError as failed:
        code = failed.response["Error"]["Code"]
        if code == "ConditionalCheckFailedException":
            return f"the execution {status}; the item was already reconciled"
        raise CallbackNotDelivered(f"reconciling {request_id} with {status}: {code}") from failed
    return f"the execution {status} ({error}): the item now says {status}"


def _ended_execution(sfn: Any, execution_arn: str, clock: Clock) -> dict[str, Any] | None:
    """DescribeExecution once the execution has ended (None: unknown, or still running)."""
    if not execution_arn:
        return None
    deadline = clock.monotonic() + RECONCILE_WAIT_S
    while True:
        try:
            described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        except ClientError:
            return None
        if described.get("status") != EXECUTION_RUNNING:
            return described
        if clock.monotonic() > deadline:
            return None
        clock.sleep(0.1)


def _release(dynamodb: Any, table_name: str, request_id: str, message_id: str) -> None:
    """Undo this delivery's write, so that the redelivery is not taken for a duplicate."""
    # If this fails too, the redelivery is taken for a duplicate and the execution ends by
    # its task timeout: loud, not silent.
    with contextlib.suppress(ClientError):
        dynamodb.delete_item(
            TableName=table_name,
            Key={"pk": {"S": request_id}},
            ConditionExpression="message_id = :message_id",
            ExpressionAttributeValues={":message_id": {"S": message_id or "-"}},
        )


def _fail(
    sfn: Any,
    task_token: str,
    error: str,
    cause: str,
    *,
    request_id: str,
    execution: str,
    message_id: str,
) -> WorkOutcome:
    outcome = {"request_id": request_id, "execution": execution, "message_id": message_id}
    try:
        sfn.send_task_failure(taskToken=task_token, error=error, cause=cause[:MAX_CAUSE_CHARS])
    except ClientError as failed:
        code = failed.response["Error"]["Code"]
        if code in TOKEN_GONE_ERRORS:
            return WorkOutcome("token_gone", error=code, **outcome)
        raise CallbackNotDelivered(f"SendTaskFailure for {request_id}: {code}") from failed
    return WorkOutcome("failed", error=error, cause=cause, **outcome)


def queue_name(record: dict[str, Any]) -> str:
    """The name of the SQS queue an event record came from (the last part of its ARN)."""
    return str(record.get("eventSourceARN", "")).rsplit(":", 1)[-1]


def _attribute_ms(record: dict[str, Any], name: str) -> float | None:
    value = (record.get("attributes") or {}).get(name)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
