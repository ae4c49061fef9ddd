"""The data that crosses the pipeline's boundaries, in one place.

POST /run body -> api handler -> StartExecution input -> (Step Functions adds the task token)
-> dispatcher payload -> SQS message body -> worker -> SendTaskSuccess output -> api response.

Every timestamp is wall-clock epoch milliseconds as a float (``time.time() * 1000``), so
stages measured on different hosts can be compared (and the README says which ones do).
Only the standard library is used here: this module ships inside the Lambda zip.
"""

from __future__ import annotations

# Names of the stage timestamps, in the order they happen. The worker's SendTaskSuccess output
# carries all of them under "timestamps"; latency reports derive stage durations from them.
DISPATCHER_START = "dispatcher_start"  # dispatcher handler entered
MESSAGE_SENT = "message_sent"  # dispatcher about to call SendMessage
SQS_SENT = "sqs_sent"  # SQS attribute SentTimestamp (SQS's clock, whole ms)
SQS_FIRST_RECEIVE = "sqs_first_receive"  # SQS attribute ApproximateFirstReceiveTimestamp
WORKER_START = "worker_start"  # worker handler began this record
DYNAMODB_DONE = "dynamodb_done"  # conditional update returned
CALLBACK_SENT = "callback_sent"  # worker about to call SendTaskSuccess

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
FAULT_STAGES = ("dispatcher", "worker")
INJECTED_FAULT_ERROR = "InjectedFault"

# Limits of POST /run (the api handler rejects anything else with a 4xx and starts nothing).
MAX_BODY_BYTES = 32 * 1024
# Arrays and objects nested deeper than this are refused (the body's own object is level 1).
# DynamoDB's limit for nested attributes; far below where JSON parsers and Step Functions'
# JSONPath processing recurse too deep (~500 levels failed the execution, ~1000 the parser).
MAX_JSON_DEPTH = 32
REQUEST_ID_PATTERN = r"^[A-Za-z0-9_-]{1,80}$"  # also the execution name

# Field names.
#   POST /run body (all optional):
#     {"request_id": str matching REQUEST_ID_PATTERN, "payload": object, "fail_at": FAULT_STAGES}
#   State machine input = the validated body with request_id filled in.
#   Dispatcher payload (built by the state machine's Parameters):
#     {"task_token": str, "execution": execution ARN, "request": <state machine input>}
#   SQS message body (JSON):
#     {"task_token", "execution", "request", "timestamps": {DISPATCHER_START, MESSAGE_SENT}}
#   Worker output (SendTaskSuccess output, JSON) = the execution output (the ASL passes it on):
#     {"request_id", "execution", "queue": <queue name>, "message_id": <SQS message id>,
#      "timestamps": {every STAGE_TIMESTAMPS}}
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
