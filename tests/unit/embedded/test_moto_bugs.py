"""The moto bugs the behaviour patches work around are still in the installed moto, and the
patches fix them. When an "unpatched" test fails, moto fixed the bug: drop the patch.

Each side runs in a process of its own (moto_bug_repros.py): the patches are process-wide.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

REPOSITORY = Path(__file__).resolve().parents[3]


def reproduce(*arguments: str) -> dict[str, Any]:
    run = subprocess.run(
        [sys.executable, "-m", "tests.unit.embedded.moto_bug_repros", *arguments],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    result: dict[str, Any] = json.loads(run.stdout)
    return result


@pytest.fixture(scope="module")
def unpatched() -> dict[str, Any]:
    return reproduce()


@pytest.fixture(scope="module")
def patched() -> dict[str, Any]:
    return reproduce("--patched")


def test_unpatched_moto_drops_the_cause_of_send_task_failure(unpatched: dict[str, Any]) -> None:
    assert unpatched["send-task-failure-cause"] == {
        "status": "FAILED",
        "error": "Boom",
        "cause": None,
    }


def test_the_patch_keeps_the_cause(patched: dict[str, Any]) -> None:
    assert patched["send-task-failure-cause"]["cause"] == "the reason"


def test_unpatched_moto_cannot_start_a_state_machine_from_cloudformation(
    unpatched: dict[str, Any],
) -> None:
    assert unpatched["cloudformation-state-machine"] == {
        "listed": False,
        "start_execution": "StateMachineDoesNotExist",
    }


def test_the_patch_creates_it_where_it_executes(patched: dict[str, Any]) -> None:
    assert patched["cloudformation-state-machine"] == {"listed": True, "start_execution": "started"}


def test_unpatched_moto_takes_unnamed_executions_for_one_named_none(
    unpatched: dict[str, Any],
) -> None:
    seen = unpatched["unnamed-executions"]
    # While the first runs, the second start is answered with it (same name, same input);
    # once it has ended, refused: which one depends on the Pass state's speed.
    assert seen["second_start"] in {"the first", "ExecutionAlreadyExists"}
    assert seen["other_input"] == "ExecutionAlreadyExists"
    assert seen["names"] == ["None"]  # no name in DescribeExecution
    assert seen["executions"] == 1


def test_the_patch_names_each_unnamed_execution_with_a_new_uuid(patched: dict[str, Any]) -> None:
    seen = patched["unnamed-executions"]
    assert (seen["second_start"], seen["other_input"], seen["executions"]) == ("new", "new", 3)
    assert [str(uuid.UUID(name)) for name in seen["names"]] == seen["names"]


def test_unpatched_moto_fails_on_an_undefined_name_in_an_update_expression(
    unpatched: dict[str, Any],
) -> None:
    assert unpatched["undefined-name-in-update-expression"] == {
        "answer": "KeyError",
        "message": "'#n'",
    }


def test_the_patch_answers_dynamodbs_validation_error(patched: dict[str, Any]) -> None:
    seen = patched["undefined-name-in-update-expression"]
    assert seen["answer"] == "ValidationException"
    assert seen["message"].endswith(
        "Invalid UpdateExpression: An expression attribute name used in the document path is "
        "not defined; attribute name: #n"
    )


def test_unpatched_moto_fails_on_undefined_names_in_conditions_and_filters(
    unpatched: dict[str, Any],
) -> None:
    seen = unpatched["undefined-names-in-conditions-and-filters"]
    assert seen["condition"] == {"answer": "KeyError", "message": "'#typo'"}
    assert seen["filter"] == {"answer": "KeyError", "message": "':typo'"}


def test_the_patch_answers_validation_errors_that_name_the_expression(
    patched: dict[str, Any],
) -> None:
    assert patched["undefined-names-in-conditions-and-filters"] == {
        "condition": {
            "answer": "ValidationException",
            "message": "Invalid ConditionExpression: An expression attribute name used in the "
            "document path is not defined; attribute name: #typo",
        },
        "filter": {
            "answer": "ValidationException",
            "message": "Invalid FilterExpression: An expression attribute value used in "
            "expression is not defined; attribute value: :typo",
        },
        "item unchanged": True,
    }


def test_unpatched_moto_keeps_every_thread_its_interpreter_started(
    unpatched: dict[str, Any],
) -> None:
    seen = unpatched["interpreter-threads-kept"]
    assert seen["statuses"] == ["SUCCEEDED"]
    assert seen["threads_kept"] >= 2 * 20  # the execution's worker and its program's


def test_the_patch_keeps_none(patched: dict[str, Any]) -> None:
    assert patched["interpreter-threads-kept"] == {"statuses": ["SUCCEEDED"], "threads_kept": 0}


def test_unpatched_moto_fails_a_callback_while_another_execution_starts(
    unpatched: dict[str, Any],
) -> None:
    seen = unpatched["callbacks-while-another-execution-starts"]
    assert seen == {
        "listed, not started": {
            "send_task_success": "AttributeError: 'NoneType' object has no attribute 'value'"
        },
        "worker not ready": {
            "send_task_success": "AttributeError: 'NoneType' object has no attribute "
            "'callback_pool_manager'"
        },
    }


def test_the_patch_passes_over_executions_not_yet_started(patched: dict[str, Any]) -> None:
    done = {"send_task_success": "sent", "execution": "SUCCEEDED"}
    assert patched["callbacks-while-another-execution-starts"] == {
        "listed, not started": done,
        "worker not ready": done,
    }


def test_unpatched_moto_cannot_dump_its_state_once_a_function_exists(
    unpatched: dict[str, Any],
) -> None:
    assert unpatched["state-dump-with-a-function"] == {"answer": "DockerException"}


def test_the_patch_dumps_it_without_docker(patched: dict[str, Any]) -> None:
    assert patched["state-dump-with-a-function"] == {"answer": 200, "functions": ["f"]}


def test_unpatched_moto_hands_one_message_to_two_receives_at_once(
    unpatched: dict[str, Any],
) -> None:
    assert unpatched["two-receives-of-one-message"] == {"first": ["once"], "second": ["once"]}


def test_the_patch_hands_it_to_one(patched: dict[str, Any]) -> None:
    assert patched["two-receives-of-one-message"] == {"first": ["once"], "second": []}


def test_the_patch_s_queue_locks_do_not_deadlock_queues_redriving_into_each_other(
    patched: dict[str, Any],
) -> None:
    # A receive holding its queue's lock once waited for the other queue's to move a message.
    assert patched["receives-on-queues-redriving-into-each-other"] == {"hung": 0, "messages": 80}


def test_unpatched_moto_keeps_every_message_it_made_for_the_process_s_life(
    unpatched: dict[str, Any],
) -> None:
    # Each message and the copy each receive hands out, all deleted, all still dumped.
    assert unpatched["model-instances-kept"] == {
        "messages_alive": 100,
        "queues_dumped": ["q"],
        "messages_dumped": 100,
    }


def test_the_patch_frees_what_the_backend_let_go_of(patched: dict[str, Any]) -> None:
    assert patched["model-instances-kept"] == {
        "messages_alive": 0,
        "queues_dumped": ["q"],
        "messages_dumped": 0,
    }


def test_unpatched_moto_stops_an_execution_not_yet_set_up_wrongly_or_not_at_all(
    unpatched: dict[str, Any],
) -> None:
    assert unpatched["stop-before-the-worker-is-set-up"] == {
        "listed, not started": {"stop_execution": "answered", "status": "SUCCEEDED"},
        "worker not set up": {
            "stop_execution": "AttributeError: 'NoneType' object has no attribute 'set_stop'",
            "status": "RUNNING",
        },
    }


def test_the_patch_waits_for_the_worker_and_stops_it(patched: dict[str, Any]) -> None:
    aborted = {"stop_execution": "answered", "status": "ABORTED"}
    assert patched["stop-before-the-worker-is-set-up"] == {
        "listed, not started": aborted,
        "worker not set up": aborted,
    }
