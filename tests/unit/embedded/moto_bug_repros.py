"""The moto bugs the behaviour patches work around, reproduced with moto's in-process
``mock_aws`` (README, "moto bugs the patches work around").

    python -m tests.unit.embedded.moto_bug_repros [--patched] [NAME...]

prints what each reproduction saw, as JSON; ``--patched`` installs the embedded stack's moto
patches first.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto import mock_aws

ROLE = "arn:aws:iam::123456789012:role/r"
EXECUTING = {"stepfunctions": {"execute_state_machine": True}}


@contextmanager
def _held_back(cls: Any) -> Iterator[list[Any]]:
    """Inside the block, ``cls.start`` records the objects it is called on instead of
    starting them: the moment after StartExecution, made to last."""
    held: list[Any] = []
    start = cls.start
    cls.start = lambda self: held.append(self)
    try:
        yield held
    finally:
        cls.start = start


def _status_once_ended(sfn: Any, execution_arn: str, deadline: float) -> str:
    """The execution's status once it is no longer RUNNING, or at ``deadline``."""
    status: str = sfn.describe_execution(executionArn=execution_arn)["status"]
    while status == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.05)  # moto offers no way to wait for an execution's end
        status = sfn.describe_execution(executionArn=execution_arn)["status"]
    return status


def _waiting_for_a_token(queue_url: str) -> str:
    """A state machine of one task that sends its token to the queue and waits for it."""
    wait = {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {"QueueUrl": queue_url, "MessageBody.$": "$$.Task.Token"},
        "End": True,
    }
    return json.dumps({"StartAt": "Wait", "States": {"Wait": wait}})


def send_task_failure_cause() -> dict[str, Any]:
    with mock_aws(config=EXECUTING):
        sqs = boto3.client("sqs", region_name="us-east-1")
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="tokens")["QueueUrl"]
        definition = _waiting_for_a_token(queue)
        machine = sfn.create_state_machine(name="m", definition=definition, roleArn=ROLE)
        execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"])
        deadline = time.monotonic() + 30
        messages: list[dict[str, Any]] = []
        while not messages and time.monotonic() < deadline:
            messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
        token = messages[0]["Body"]
        sfn.send_task_failure(taskToken=token, error="Boom", cause="the reason")
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        while described["status"] == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.05)  # moto offers no way to wait for an execution's end
            described = sfn.describe_execution(executionArn=execution["executionArn"])
        return {key: described.get(key) for key in ("status", "error", "cause")}


def cloudformation_state_machine() -> dict[str, Any]:
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    machine = {
        "Type": "AWS::StepFunctions::StateMachine",
        "Properties": {"DefinitionString": json.dumps(definition), "RoleArn": ROLE},
    }
    with mock_aws(config=EXECUTING):
        cloudformation = boto3.client("cloudformation", region_name="us-east-1")
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        template = {"Resources": {"Machine": machine}}
        cloudformation.create_stack(StackName="s", TemplateBody=json.dumps(template))
        resources = cloudformation.describe_stack_resources(StackName="s")["StackResources"]
        arn = resources[0]["PhysicalResourceId"]
        listed = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]]
        try:
            sfn.start_execution(stateMachineArn=arn)
            started: str | None = "started"
        except sfn.exceptions.StateMachineDoesNotExist as error:
            started = error.response["Error"]["Code"]
        return {"listed": arn in listed, "start_execution": started}


def unnamed_executions() -> dict[str, Any]:
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    with mock_aws(config=EXECUTING):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        arn = sfn.create_state_machine(name="m", definition=json.dumps(definition), roleArn=ROLE)[
            "stateMachineArn"
        ]

        def start(execution_input: str) -> str:
            """The new execution's ARN, or the error's code."""
            try:
                return str(
                    sfn.start_execution(stateMachineArn=arn, input=execution_input)["executionArn"]
                )
            except sfn.exceptions.ExecutionAlreadyExists as error:
                return str(error.response["Error"]["Code"])

        first = start("{}")
        second = start("{}")  # moto: the first again while it runs, refused once it ended
        other_input = start('{"other": 1}')
        started = [a for a in (first, second, other_input) if a.startswith("arn:")]
        names = {str(sfn.describe_execution(executionArn=a).get("name")) for a in started}

        def outcome(answer: str) -> str:
            if answer == first:
                return "the first"
            return "new" if answer.startswith("arn:") else answer

        return {
            "second_start": outcome(second),
            "other_input": outcome(other_input),
            "names": sorted(names),
            "executions": len(set(started)),
        }


def _table_t() -> Any:
    """A DynamoDB client, and a table t with hash key pk (inside ``mock_aws``)."""
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return dynamodb


def undefined_name_in_update_expression() -> dict[str, Any]:
    with mock_aws():
        dynamodb = _table_t()
        try:
            dynamodb.update_item(
                TableName="t",
                Key={"pk": {"S": "1"}},
                UpdateExpression="SET #n = :v",
                ExpressionAttributeValues={":v": {"S": "x"}},
            )
            return {"answer": "updated"}
        except dynamodb.exceptions.ClientError as error:
            return {"answer": error.response["Error"]["Code"], "message": str(error)}
        except KeyError as error:  # in process, the 500 of moto's server is this exception
            return {"answer": "KeyError", "message": str(error)}


def undefined_names_in_conditions_and_filters() -> dict[str, Any]:
    """A condition (PutItem) naming an undefined #name, a filter (Scan) naming an undefined
    :value: what each answers, and whether the refused PutItem left the item alone."""
    with mock_aws():
        dynamodb = _table_t()
        kept = {"pk": {"S": "1"}, "colour": {"S": "kept"}}
        dynamodb.put_item(TableName="t", Item=kept)

        def answer(call: Any) -> dict[str, str]:
            try:
                call()
                return {"answer": "done"}
            except dynamodb.exceptions.ClientError as error:
                return {
                    "answer": error.response["Error"]["Code"],
                    "message": error.response["Error"]["Message"],
                }
            except KeyError as error:  # in process, the 500 of moto's server is this exception
                return {"answer": "KeyError", "message": str(error)}

        condition = answer(
            lambda: dynamodb.put_item(
                TableName="t",
                Item={"pk": {"S": "1"}, "colour": {"S": "replaced"}},
                ConditionExpression="#typo = :v",
                ExpressionAttributeValues={":v": {"S": "kept"}},
            )
        )
        filtered = answer(lambda: dynamodb.scan(TableName="t", FilterExpression="colour = :typo"))
        item = dynamodb.get_item(TableName="t", Key={"pk": {"S": "1"}})["Item"]
        return {"condition": condition, "filter": filtered, "item unchanged": item == kept}


def interpreter_threads_kept() -> dict[str, Any]:
    """How many threads moto's Step Functions interpreter holds on to after 20 executions of
    a one-Pass-state machine have ended."""
    from moto.stepfunctions.parser import utils

    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    with mock_aws(config=EXECUTING):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        arn = sfn.create_state_machine(name="m", definition=json.dumps(definition), roleArn=ROLE)[
            "stateMachineArn"
        ]
        before = len(utils.TMP_THREADS)
        started = [
            sfn.start_execution(stateMachineArn=arn, name=f"e{n}")["executionArn"]
            for n in range(20)
        ]
        deadline = time.monotonic() + 30
        statuses = {_status_once_ended(sfn, execution, deadline) for execution in started}
        return {"statuses": sorted(statuses), "threads_kept": len(utils.TMP_THREADS) - before}


def callbacks_while_another_execution_starts() -> dict[str, Any]:
    """SendTaskSuccess for a waiting execution while another one is in StartExecution's
    window: listed but not started (its start held back), then started but its worker's
    environment not set up (the worker's thread held back). Holding them back is how the
    reproduction makes the moment last; under load it lasts microseconds."""
    from moto.stepfunctions.parser.backend.execution import Execution
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    with mock_aws(config=EXECUTING):
        sqs = boto3.client("sqs", region_name="us-east-1")
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        deadline = time.monotonic() + 60

        def waiting_execution(name: str) -> tuple[str, str]:
            """A new execution waiting for its task token, and the token."""
            queue = sqs.create_queue(QueueName=name)["QueueUrl"]
            definition = _waiting_for_a_token(queue)
            machine = sfn.create_state_machine(name=name, definition=definition, roleArn=ROLE)
            execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name=name)
            messages: list[dict[str, Any]] = []
            while not messages and time.monotonic() < deadline:
                messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get(
                    "Messages", []
                )
            return execution["executionArn"], messages[0]["Body"]

        def callback(token: str, execution: str) -> dict[str, str]:
            try:
                sfn.send_task_success(taskToken=token, output='{"done": true}')
            except AttributeError as error:  # in process, the 500 of moto's server is this
                return {"send_task_success": f"AttributeError: {error}"}
            return {
                "send_task_success": "sent",
                "execution": _status_once_ended(sfn, execution, deadline),
            }

        first, first_token = waiting_execution("first")
        with _held_back(Execution) as held:
            sfn.start_execution(stateMachineArn=_machine_of(first), name="held")
        listed_not_started = callback(first_token, first)

        second, second_token = waiting_execution("second")
        with _held_back(ExecutionWorker):
            held[0].start()  # its worker made, its thread not started
        worker_not_ready = callback(second_token, second)
        return {"listed, not started": listed_not_started, "worker not ready": worker_not_ready}


def _machine_of(execution_arn: str) -> str:
    """The state machine's ARN of an execution's (arn:...:execution:MACHINE:NAME)."""
    prefix, _, rest = execution_arn.partition(":execution:")
    return f"{prefix}:stateMachine:{rest.rsplit(':', 1)[0]}"


def state_dump_with_a_function() -> dict[str, Any]:
    """moto's state dump (what GET /moto-api/data.json answers) once a Lambda function exists,
    with no Docker engine at DOCKER_HOST."""
    import io
    import os
    import zipfile

    from moto.moto_api._internal.responses import MotoAPIResponse

    os.environ["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"  # no engine, anywhere
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return event\n")
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        boto3.client("lambda", region_name="us-east-1").create_function(
            FunctionName="f",
            Runtime="python3.11",
            Role=role,
            Handler="index.handler",
            Code={"ZipFile": code.getvalue()},
        )
        try:
            status, _, body = MotoAPIResponse().model_data(None, "", {})
        except Exception as error:  # in the server, a 500
            return {"answer": type(error).__name__}
        functions = json.loads(body)["awslambda"]["LambdaFunction"]
        return {"answer": status, "functions": [f["function_name"] for f in functions]}


def two_receives_of_one_message() -> dict[str, Any]:
    """Two ReceiveMessage calls on a queue of one message, at once: the first is held back
    just after it found the message visible, until the second has answered (or 2 s passed,
    when the second waits for the first). Under load the moment lasts microseconds."""
    import threading

    from moto.sqs.models import Message

    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="q")["QueueUrl"]
        sqs.send_message(QueueUrl=queue, MessageBody="once")
        found, second_answered = threading.Event(), threading.Event()
        mark_received = Message.mark_received

        def held_once(self: Any, visibility_timeout: Any = None) -> None:
            if not found.is_set():
                found.set()
                second_answered.wait(timeout=2)
            mark_received(self, visibility_timeout)

        received: dict[str, list[str]] = {}

        def receive(who: str) -> None:
            answer = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0)
            received[who] = [m["Body"] for m in answer.get("Messages", [])]

        Message.mark_received = held_once  # type: ignore[method-assign]
        try:
            first = threading.Thread(target=receive, args=("first",))
            first.start()
            found.wait(timeout=10)
            second = threading.Thread(target=lambda: (receive("second"), second_answered.set()))
            second.start()
            first.join(timeout=30)
            second.join(timeout=30)
        finally:
            Message.mark_received = mark_received  # type: ignore[method-assign]
        return received


def receives_on_queues_redriving_into_each_other() -> dict[str, Any]:
    """Two queues, each the other's dead-letter queue (maxReceiveCount 1, visible again at
    once), 40 messages each, two receivers on each for 1 s: each receive moves what it finds
    past maxReceiveCount to the other queue. How many receivers had not returned 10 s later,
    and how many messages the two queues then hold."""
    import threading

    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import sqs_backends

    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        urls = [
            sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
            for name in ("a", "b")
        ]
        arns = [
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            for url in urls
        ]
        for url, other in zip(urls, reversed(arns), strict=True):
            redrive = json.dumps({"deadLetterTargetArn": other, "maxReceiveCount": "1"})
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": redrive})
            for start in range(0, 40, 10):
                entries = [{"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(10)]
                sqs.send_message_batch(QueueUrl=url, Entries=entries)
        backend = sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]  # as the stack's poller calls it
        until = time.monotonic() + 1

        def receive(name: str) -> None:
            while time.monotonic() < until:
                # ValueError: unpatched moto's own race on the message list
                with contextlib.suppress(ValueError):
                    backend.receive_message(name, 10, 0, 0, [])

        receivers = [threading.Thread(target=receive, args=(name,), daemon=True) for name in "abab"]
        for receiver in receivers:
            receiver.start()
        for receiver in receivers:
            receiver.join(timeout=10)
        hung = sum(receiver.is_alive() for receiver in receivers)
        held = sum(len(backend.get_queue(name)._messages) for name in "ab") if not hung else None
        return {"hung": hung, "messages": held}


def model_instances_kept() -> dict[str, Any]:
    """How many SQS message objects live on once 50 messages were sent, received and
    deleted, and what moto's state dump then lists of the queue's."""
    import gc

    from moto.moto_api._internal.responses import MotoAPIResponse
    from moto.sqs.models import Message

    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="q")["QueueUrl"]
        for i in range(50):
            sqs.send_message(QueueUrl=queue, MessageBody=f"m{i}")
            (message,) = sqs.receive_message(QueueUrl=queue)["Messages"]
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        gc.collect()
        alive = sum(1 for o in gc.get_objects() if type(o) is Message)
        _, _, body = MotoAPIResponse().model_data(None, "", {})
        dumped = json.loads(body)["sqs"]
        return {
            "messages_alive": alive,
            "queues_dumped": [q["name"] for q in dumped["Queue"]],
            "messages_dumped": len(dumped["Message"]),
        }


def stop_before_the_worker_is_set_up() -> dict[str, Any]:
    """StopExecution of a waiting execution while it is held back: listed but not started
    (its start held back), then started but its worker's environment not set up (the
    worker's thread held back). Each is released after the stop had a second to answer."""
    import threading

    from moto.stepfunctions.parser.backend.execution import Execution
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    with mock_aws(config=EXECUTING):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        definition = json.dumps(
            {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3, "End": True}}}
        )
        machine = sfn.create_state_machine(name="w", definition=definition, roleArn=ROLE)
        deadline = time.monotonic() + 60

        def stopped_while_held(name: str, held_class: Any) -> dict[str, str]:
            with _held_back(held_class) as held:
                arn = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name=name)[
                    "executionArn"
                ]
            answer: dict[str, str] = {}

            def stop() -> None:
                try:
                    sfn.stop_execution(executionArn=arn)
                    answer["stop_execution"] = "answered"
                except AttributeError as error:  # in process, the 500 of moto's server is this
                    answer["stop_execution"] = f"AttributeError: {error}"

            stopping = threading.Thread(target=stop)
            stopping.start()
            stopping.join(timeout=1)
            held[0].start()
            stopping.join(timeout=30)
            if answer.get("stop_execution") == "answered":
                status = _status_once_ended(sfn, arn, deadline)
            else:
                status = sfn.describe_execution(executionArn=arn)["status"]
            if status == "RUNNING":
                sfn.stop_execution(executionArn=arn)
            return {**answer, "status": status}

        return {
            "listed, not started": stopped_while_held("listed", Execution),
            "worker not set up": stopped_while_held("not-set-up", ExecutionWorker),
        }


REPROS = {
    "send-task-failure-cause": send_task_failure_cause,
    "cloudformation-state-machine": cloudformation_state_machine,
    "unnamed-executions": unnamed_executions,
    "undefined-name-in-update-expression": undefined_name_in_update_expression,
    "undefined-names-in-conditions-and-filters": undefined_names_in_conditions_and_filters,
    "interpreter-threads-kept": interpreter_threads_kept,
    "callbacks-while-another-execution-starts": callbacks_while_another_execution_starts,
    "state-dump-with-a-function": state_dump_with_a_function,
    "two-receives-of-one-message": two_receives_of_one_message,
    "receives-on-queues-redriving-into-each-other": (receives_on_queues_redriving_into_each_other),
    "model-instances-kept": model_instances_kept,
    "stop-before-the-worker-is-set-up": stop_before_the_worker_is_set_up,
}


def main() -> None:
    arguments = sys.argv[1:]
    if "--patched" in arguments:
        from serverless_testbed.embedded.moto import patches
        from serverless_testbed.emulation.invoke import Invoked

        patches.install(lambda name, payload: Invoked(b"{}"))
    names = [name for name in arguments if name != "--patched"] or list(REPROS)
    json.dump({name: REPROS[name]() for name in names}, sys.stdout)


if __name__ == "__main__":
    main()
