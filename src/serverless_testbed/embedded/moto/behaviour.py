"""The patches without which moto's server would not behave like AWS for this pipeline.

Each sits at the narrowest point that fixes the behaviour:

- Lambda Invoke (the API, and Step Functions' ``lambda:invoke``) reaches the project's local
  Lambda runtime instead of moto's Docker runner or its echo backend; an invoke the runtime
  throttles answers Lambda's 429 TooManyRequestsException.
- moto's own SQS event-source mapping runs the function *inside* SendMessage; it is switched
  off, because the project's poller triggers functions asynchronously, as Lambda does.
- SendTaskFailure keeps its ``cause`` (moto's HTTP layer drops it: README, "moto bugs").
- State machines created by CloudFormation land in the backend that executes them (moto puts
  them in the non-executing one, so StartExecution answers StateMachineDoesNotExist: README,
  "moto bugs").
- UpdateItem with an update expression naming a ``#name`` that ExpressionAttributeNames does
  not define answers DynamoDB's ValidationException (moto's overlapping-paths check looked
  the name up first and failed with a KeyError: a 500, which botocore retries). So does a
  condition or filter expression naming a ``#name`` or ``:value`` that is not defined
  (PutItem, UpdateItem, DeleteItem, TransactWriteItems; Query, Scan), which moto's condition
  parser looked up without a check.
- StartExecution without a name gets a UUID for one, as on AWS (moto names it ``None``, so a
  second unnamed start of the same input returns the first execution and one of other input
  fails with ExecutionAlreadyExists: README, "moto bugs").
- SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat no longer fail (a 500) while
  another execution starts: they read every execution's status and worker environment, which
  an execution StartExecution has listed but not yet started does not have yet; such an
  execution now reads as not yet RUNNING and is passed over (README, "moto bugs").
- moto's state dump (``GET /moto-api/data.json``, what its dashboard shows) no longer fails
  with a 500 once a Lambda function exists: it read every public attribute of every model,
  and a function's ``docker_client`` connects to Docker (none here, and none needed: the
  local runtime runs functions); that attribute now reads as absent (README, "moto bugs").
- The Step Functions interpreter no longer keeps every thread it starts: it appended each
  (two per execution and one per Task state) to a module-level list that nothing reads or
  empties, ~2 KB apiece for the life of the process (README, "moto bugs").
- SQS calls that read and change a queue's messages (ReceiveMessage, DeleteMessage,
  ChangeMessageVisibility, PurgeQueue, and SendMessage's append, which moto already locked)
  run one at a time per queue, under the queue's own lock; a long poll still waits without
  holding it. moto ran them at once: two receives could both take a message they had each
  seen visible (delivered twice, the first receipt handle then invalid), a receive could fail
  with "Set changed size during iteration" (a 500), and a delete, which rebuilds the list,
  could drop a message sent meanwhile (README, "moto bugs").
- StopExecution of an execution that has not set up its worker yet (the moments after
  StartExecution) waits until it has, then stops it. moto failed it with a 500 (None.set_stop)
  when the worker had no environment yet, and answered 200 without stopping anything when the
  execution had no worker yet, which then ran on (README, "moto bugs").
- A task with HeartbeatSeconds no longer misses a callback that arrives before the
  interpreter has set up its heartbeat wait (it then waited out the whole heartbeat and
  failed with States.Timeout: seen as 25 s executions once the pipeline got fast).
"""

from __future__ import annotations

import base64
import json
import sys
import threading
import uuid
from collections.abc import Callable
from typing import Any

from serverless_testbed.embedded.moto.patching import Patch, patch, replace, replace_in_importers
from serverless_testbed.emulation.invoke import THROTTLE_MESSAGE, FunctionThrottled, Invoke

LOG_RESULT_BYTES = 4096  # Invoke with LogType=Tail returns the last 4 KB of the log


def apply(current_invoker: Callable[[], Invoke | None]) -> list[Patch]:
    """Apply every behaviour patch; Lambda invokes go to whatever ``current_invoker()`` says."""
    return [
        _route_lambda_invoke(current_invoker),
        _disable_inline_sqs_mappings(),
        _keep_send_task_failure_cause(),
        _create_cloudformation_state_machines_where_they_execute(),
        _name_unnamed_executions(),
        *apply_for_dynamodb(),
        _see_callbacks_that_beat_the_heartbeat_wait(),
        *_keep_no_finished_interpreter_threads(),
        *_pass_over_executions_not_yet_started(),
        _no_docker_client(),
        *_one_call_at_a_time_on_a_queues_messages(),
        *_stop_executions_that_have_not_set_up_yet(),
    ]


def apply_for_dynamodb() -> list[Patch]:
    """The ones DynamoDB's own server process needs (service_process.py); ``apply`` has them."""
    return [
        _refuse_undefined_names_in_update_expressions(),
        *_refuse_undefined_names_in_condition_expressions(),
    ]


def _route_lambda_invoke(current_invoker: Callable[[], Invoke | None]) -> Patch:
    from moto.awslambda.models import LambdaFunction

    @patch(LambdaFunction, "invoke")
    def invoke(
        original: Any, self: Any, body: Any, request_headers: Any, response_headers: Any
    ) -> bytes:
        invoker = current_invoker()
        if invoker is None:
            raise RuntimeError("no local Lambda runtime is running in this process")
        payload = body.encode() if isinstance(body, str) else (body or b"{}")
        try:
            outcome = invoker(self.function_name, payload)
        except FunctionThrottled as throttled:
            raise _too_many_requests(throttled) from None
        if outcome.function_error:
            response_headers["x-amz-function-error"] = outcome.function_error
        if request_headers.get("x-amz-log-type") == "Tail":  # LogType=Tail: the last 4 KB
            log = (getattr(outcome, "log_tail", "") + "\n").encode()[-LOG_RESULT_BYTES:]
            response_headers["x-amz-log-result"] = base64.b64encode(log).decode()
        return outcome.payload

    return invoke


def _too_many_requests(throttled: FunctionThrottled) -> Exception:
    """Lambda's answer to an invoke over its concurrency: 429, x-amzn-ErrorType
    TooManyRequestsException, and a body with the Reason botocore puts in the error."""
    from moto.awslambda.exceptions import LambdaClientError

    error = LambdaClientError("TooManyRequestsException", THROTTLE_MESSAGE)
    error.code = 429
    error.description = json.dumps(
        {"Reason": throttled.reason, "Type": "User", "message": THROTTLE_MESSAGE}
    )
    return error


def _disable_inline_sqs_mappings() -> Patch:
    from moto.sqs.models import Queue

    # The queue's mapping table (an attribute Queue.__init__ sets) is only read by
    # Queue.add_message's inline invocation; the mappings themselves stay in the Lambda
    # backend, where the poller lists them. A class-level property takes the attribute over.
    return replace(
        Queue, "lambda_event_source_mappings", property(lambda self: {}, lambda self, value: None)
    )


def _keep_send_task_failure_cause() -> Patch:
    from moto.stepfunctions.responses import StepFunctionResponse

    @patch(StepFunctionResponse, "send_task_failure")
    def send_task_failure(original: Any, self: Any) -> Any:
        from moto.core.responses import EmptyResult

        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"),
            error=self._get_param("error"),
            cause=self._get_param("cause"),
        )
        return EmptyResult()

    return send_task_failure


def _create_cloudformation_state_machines_where_they_execute() -> Patch:
    from moto.stepfunctions import models
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    # Only StateMachine's CloudFormation methods read this module-level name; the API goes
    # through responses.get_backend, which picks the executing backend by itself.
    return replace(models, "stepfunctions_backends", stepfunctions_parser_backends)


def _name_unnamed_executions() -> Patch:
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    @patch(StepFunctionsParserBackend, "start_execution")
    def start_execution(
        original: Any,
        self: Any,
        state_machine_arn: str,
        name: str | None = None,
        *arguments: Any,
        **options: Any,
    ) -> Any:
        return original(self, state_machine_arn, name or str(uuid.uuid4()), *arguments, **options)

    return start_execution


def _refuse_undefined_names_in_update_expressions() -> Patch:
    from moto.dynamodb.exceptions import ExpressionAttributeNameNotDefined
    from moto.dynamodb.parsing.validators import OverlappingPathsValidator

    @patch(OverlappingPathsValidator, "check_for_overlapping_paths")
    def check_for_overlapping_paths(original: Any, self: Any, node: Any) -> Any:
        try:
            return original(self, node)
        except KeyError as missing:  # the one lookup it makes: a #name not defined
            raise ExpressionAttributeNameNotDefined(str(missing.args[0])) from None

    return check_for_overlapping_paths


# DynamoDB's operations whose condition parser reads a FilterExpression; in the others
# (PutItem, UpdateItem, DeleteItem, TransactWriteItems) it reads a ConditionExpression.
FILTERING_OPERATIONS = frozenset({"query", "scan"})
NAME_NOT_DEFINED = (
    "Invalid {expression}: An expression attribute name used in the document path is not "
    "defined; attribute name: {name}"
)
VALUE_NOT_DEFINED = (
    "Invalid {expression}: An expression attribute value used in expression is not defined; "
    "attribute value: {name}"
)


def _refuse_undefined_names_in_condition_expressions() -> list[Patch]:
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.exceptions import MockValidationException

    def checked(method: str, defined: str, message: str) -> Patch:
        @patch(ConditionExpressionParser, method)
        def lookup(original: Any, self: Any, name: str) -> Any:
            if name not in (getattr(self, defined) or {}):
                raise MockValidationException(
                    message.format(expression=_expression_read(), name=name)
                )
            return original(self, name)

        return lookup

    return [
        checked(
            "_lookup_expression_attribute_name", "expression_attribute_names", NAME_NOT_DEFINED
        ),
        checked(
            "_lookup_expression_attribute_value", "expression_attribute_values", VALUE_NOT_DEFINED
        ),
    ]


def _expression_read() -> str:
    """Which expression moto's condition parser is reading, for the error's message: the
    parser is given only its text, so the operation is read from the calls under way (only
    when an expression is refused, so the walk costs nothing on the way that succeeds)."""
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name in FILTERING_OPERATIONS and "moto/dynamodb/" in code.co_filename.replace(
            "\\", "/"
        ):
            return "FilterExpression"
        frame = frame.f_back  # type: ignore[assignment]
    return "ConditionExpression"


class NotKept(list[Any]):
    """A list that keeps nothing appended to it."""

    def append(self, item: Any) -> None:
        pass


def _keep_no_finished_interpreter_threads() -> list[Patch]:
    from moto.stepfunctions.parser import utils

    # utils itself among them; modules imported later take the new list from utils.
    return replace_in_importers("moto.stepfunctions", "TMP_THREADS", utils.TMP_THREADS, NotKept())


def _worker_set_up(execution: Any) -> bool:
    """Whether the execution's worker exists and has set up its environment (on its own
    thread, moments after StartExecution listed the execution)."""
    worker = execution.exec_worker
    return worker is not None and worker.env is not None


def _pass_over_executions_not_yet_started() -> list[Patch]:
    from moto.stepfunctions.parser.backend.execution import Execution
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    status_of = vars(Execution)["status"].fget

    def status(self: Any) -> Any:
        # None until start() sets it: not yet RUNNING (moto read None.value and raised).
        return None if self.exec_status is None else status_of(self)

    @patch(StepFunctionsParserBackend, "_get_executions")
    def get_executions(original: Any, self: Any, execution_status: Any = None) -> list[Any]:
        # Every caller (SendTask*, the map-run calls) reads execution.exec_worker.env, which
        # the worker sets up on its own thread after StartExecution listed the execution; an
        # execution without one holds no task token and no map run yet.
        return [e for e in original(self, execution_status) if _worker_set_up(e)]

    return [replace(Execution, "status", property(status)), get_executions]


# How long StopExecution waits for an execution's worker to set up (it does so on its own
# thread moments after StartExecution); then moto's stop runs as it would have.
WORKER_SET_UP_WAIT_S = 10.0


def _stop_executions_that_have_not_set_up_yet() -> list[Patch]:
    from moto.stepfunctions.parser.backend.execution import Execution
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    set_up = threading.Condition()

    # Kept where moto keeps it (the instance's own "env"), so a worker that set it up before
    # the property was installed (or after it was undone) still reads its environment.
    def environment(self: Any) -> Any:
        return vars(self).get("env")

    def set_environment(self: Any, env: Any) -> None:
        with set_up:
            vars(self)["env"] = env
            set_up.notify_all()

    @patch(Execution, "stop")
    def stop(original: Any, self: Any, *a: Any, **o: Any) -> Any:
        with set_up:
            set_up.wait_for(lambda: _worker_set_up(self), timeout=WORKER_SET_UP_WAIT_S)
        return original(self, *a, **o)

    return [replace(ExecutionWorker, "env", property(environment, set_environment)), stop]


def _no_docker_client() -> Patch:
    from moto.utilities.docker_utilities import DockerModel

    def docker_client(self: Any) -> Any:
        # Only moto's own Docker runner reads it, and invokes go to the local runtime; an
        # AttributeError is what moto's state dump skips.
        raise AttributeError("the embedded stack runs functions in its own runtime, not Docker")

    return replace(DockerModel, "docker_client", property(docker_client))


def _one_call_at_a_time_on_a_queues_messages() -> list[Patch]:
    from moto.sqs.models import Queue, SQSBackend

    # A receive moves messages past maxReceiveCount to the dead-letter queue while it holds
    # its own queue's lock; taking the dead-letter queue's lock then would deadlock two
    # queues that redrive into each other (each receive holding one lock, waiting for the
    # other). So moves made under a queue's lock are added to their queue once it is released.
    held = threading.local()

    def by_queue_name(name: str) -> Patch:
        @patch(SQSBackend, name)
        def locked(original: Any, self: Any, queue_name: str, *a: Any, **o: Any) -> Any:
            queue = self.get_queue(queue_name)
            outer = vars(held).get("queue"), vars(held).get("moves")
            moves: list[tuple[Any, Any]] = []
            held.queue, held.moves = queue, moves
            try:
                # The queue's Condition (an RLock inside): SendMessage appends under it, and a
                # long poll's wait_for_messages releases it while it waits.
                with queue._messages_lock:
                    return original(self, queue_name, *a, **o)
            finally:
                held.queue, held.moves = outer
                for target, message in moves:
                    target.add_message(message)

        return locked

    @patch(Queue, "add_message")
    def add_message(original: Any, self: Any, message: Any) -> None:
        queue = vars(held).get("queue")
        if queue is not None and queue is not self:
            held.moves.append((self, message))
        else:
            original(self, message)

    @patch(Queue, "delete_message")
    def delete_message(original: Any, self: Any, receipt_handle: str) -> None:
        with self._messages_lock:
            original(self, receipt_handle)

    return [
        by_queue_name("receive_message"),
        by_queue_name("change_message_visibility"),
        by_queue_name("purge_queue"),
        add_message,
        delete_message,
    ]


def _see_callbacks_that_beat_the_heartbeat_wait() -> Patch:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as callback_module,
    )

    @patch(callback_module.StateTaskServiceCallback, "_wait_for_task_token_heartbeat")
    def wait_for_task_token_heartbeat(
        original: Any, self: Any, env: Any, callback_endpoint: Any, heartbeat_endpoint: Any
    ) -> Any:
        # The heartbeat endpoint is created after the invoke returns; a callback notified
        # before that set only the outcome, so look at it before waiting on heartbeats.
        outcome = callback_endpoint.get_outcome()
        if outcome is not None:
            return outcome
        return original(self, env, callback_endpoint, heartbeat_endpoint)

    return wait_for_task_token_heartbeat
