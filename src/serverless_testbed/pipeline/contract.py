"""The data that crosses the pipeline's boundaries, in one place.

POST /run body -> api handler -> StartExecution input -> (Step Functions adds the task token)
-> dispatcher payload -> SQS message body -> worker -> SendTaskSuccess output -> api response.

Every timestamp is wall-clock epoch milliseconds as a float (``time.time() * 1000``), so
stages measured on different hosts can be compared (and the README says which ones do).
Only the standard library is used here: this module ships inside the Lambda zip.
"""

from __future__ import annotations

from typing import Any, Final, Literal, NotRequired, TypedDict, get_args

# Names of the stage timestamps, in the order they happen. The worker's SendTaskSuccess output
# carries all of them under "timestamps"; latency reports derive stage durations from them.
DISPATCHER_START: Final = "dispatcher_start"  # dispatcher handler entered
MESSAGE_SENT: Final = "message_sent"  # dispatcher about to call SendMessage
SQS_SENT: Final = "sqs_sent"  # SQS attribute SentTimestamp (SQS's clock, whole ms)
SQS_FIRST_RECEIVE: Final = "sqs_first_receive"  # SQS attribute ApproximateFirstReceiveTimestamp
WORKER_START: Final = "worker_start"  # worker handler began this record
DYNAMODB_DONE: Final = "dynamodb_done"  # conditional update returned
CALLBACK_SENT: Final = "callback_sent"  # worker about to call SendTaskSuccess

STAGE_TIMESTAMPS = (
    DISPATCHER_START,
    MESSAGE_SENT,
    SQS_SENT,
    SQS_FIRST_RECEIVE,
    WORKER_START,
    DYNAMODB_DONE,
    CALLBACK_SENT,
)

# Fault injection: a testbed feature for exercising failure paths end to end, on every target.
# A request may name one stage that must fail; the named stage raises InjectedFault.
FaultStage = Literal["dispatcher", "worker"]
FAULT_STAGES: tuple[FaultStage, ...] = get_args(FaultStage)
INJECTED_FAULT_ERROR = "InjectedFault"

# Limits of POST /run (the api handler rejects anything else with a 4xx and starts nothing).
MAX_BODY_BYTES = 32 * 1024
# Arrays and objects nested deeper than this are refused (the body's own object is level 1).
# DynamoDB's limit for nested attributes; far below where JSON parsers and Step Functions'
# JSONPath processing recurse too deep (~500 levels failed the execution, ~1000 the parser).
MAX_JSON_DEPTH = 32
REQUEST_ID_PATTERN = r"^[A-Za-z0-9_-]{1,80}$"  # also the execution name


# The JSON objects handed from stage to stage. On the wire they are plain JSON; these types
# say what the code that builds them writes (the code that reads them checks, as senders can
# be anything).


class RunInput(TypedDict):
    """The state machine input: the validated POST /run body (every field of which is
    optional: request_id matching REQUEST_ID_PATTERN, payload an object, fail_at a stage),
    with request_id filled in."""

    request_id: str
    payload: dict[str, Any]
    fail_at: NotRequired[FaultStage]


class DispatchEvent(TypedDict):
    """The dispatcher's payload, built by the state machine's Parameters."""

    task_token: str
    execution: str  # the execution ARN
    request: dict[str, Any]  # the RunInput, passed on as the dispatcher received it


class MessageTimestamps(TypedDict):
    dispatcher_start: float
    message_sent: float


class QueueMessage(TypedDict):
    """The SQS message body (JSON) the dispatcher sends and the worker reads."""

    task_token: str
    execution: str
    request: dict[str, Any]  # the RunInput, passed on as the dispatcher received it
    timestamps: MessageTimestamps


class StageTimestamps(TypedDict):
    """Every entry of STAGE_TIMESTAMPS; None where the message or SQS did not carry it."""

    dispatcher_start: float | None
    message_sent: float | None
    sqs_sent: float | None
    sqs_first_receive: float | None
    worker_start: float
    dynamodb_done: float
    callback_sent: float


class WorkerOutput(TypedDict):
    """SendTaskSuccess's output (JSON), which the ASL passes on as the execution output."""

    request_id: str
    execution: str
    queue: str  # the queue's name
    message_id: str  # the SQS message id
    timestamps: StageTimestamps


# The other payloads, as comments.
#   SendTaskFailure: error INJECTED_FAULT_ERROR (fail_at == "worker"), "DynamoDB.<error code>"
#     (the conditional update failed otherwise) or "InvalidMessage" (no request_id); cause is
#     a readable sentence. A dispatcher fault is a Lambda function error: error
#     INJECTED_FAULT_ERROR, cause Lambda's error JSON (errorMessage, errorType, stackTrace).
#   DynamoDB item (one per request, written by one message: the condition refuses any other):
#     {"pk": request_id, "status": "DONE", "execution_arn", "payload": <JSON text>,
#      "message_id", "worker_start": N}
#     When the callback is refused because the execution ended without it (a crashed worker,
#     a redelivery after the task timeout), "status" becomes the execution's status (FAILED,
#     TIMED_OUT, ABORTED) with "execution_error" and "execution_cause": the item agrees.
#   api response 200 body:
#     {"request_id", "execution_arn", "status", "output": <worker output>,
#      "api": {"received": ms, "execution_started": ms, "execution_done": ms}}
#     received: the handler began; execution_started: StartExecution returned;
#     execution_done: DescribeExecution first showed the end (polling: 5 ms, x1.5, <= 100 ms).
#   api response 502 body: {"request_id", "execution_arn", "status", "error", "cause"}
#   api response 504 body: {"request_id", "execution_arn", "status": "RUNNING",
#     "error": "ExecutionDeadlineExceeded", "cause"}
#   api response 400/413 body: {"error": "InvalidRequest" | "RequestTooLarge", "message"}
#   api response 409 body (request_id reused with another input; the same input again returns
#     that execution's result): {"error": "ExecutionAlreadyExists", "message", "request_id",
#     "execution_arn"}
