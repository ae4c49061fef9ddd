"""The embedded stack's moto patches: every target exists in the installed moto, every patch
is applied by install(), none of the interpreter's copies of boto_client_for is left behind,
and each speed patch is in effect (checked by what it does, not by timing).

install() changes moto process-wide, so it runs in a process of its own
(moto_patch_probe.py); this module asserts on that process's report.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPOSITORY = Path(__file__).resolve().parents[3]

BEHAVIOUR_TARGETS = [
    "moto.awslambda.models.LambdaFunction.invoke",
    "moto.sqs.models.Queue.lambda_event_source_mappings",
    "moto.stepfunctions.responses.StepFunctionResponse.send_task_failure",
    "moto.stepfunctions.models.stepfunctions_backends",
    "moto.stepfunctions.parser.models.StepFunctionsParserBackend.start_execution",
    "moto.dynamodb.parsing.validators.OverlappingPathsValidator.check_for_overlapping_paths",
    "moto.dynamodb.comparisons.ConditionExpressionParser._lookup_expression_attribute_name",
    "moto.dynamodb.comparisons.ConditionExpressionParser._lookup_expression_attribute_value",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service."
    "state_task_service_callback.StateTaskServiceCallback._wait_for_task_token_heartbeat",
    "moto.stepfunctions.parser.utils.TMP_THREADS",
    # Executions not yet started passed over (with StepFunctionsParserBackend._get_executions,
    # listed under SPEED_TARGETS: the behaviour patch wraps the speed one, both in effect).
    "moto.stepfunctions.parser.backend.execution.Execution.status",
    "moto.utilities.docker_utilities.DockerModel.docker_client",
    # StopExecution waits for the execution's worker to set up
    "moto.stepfunctions.parser.backend.execution.Execution.stop",
    "moto.stepfunctions.parser.backend.execution_worker.ExecutionWorker.env",
    # moto's list of every model instance, held weakly (model_tracking.py)
    "moto.core.common_models.BaseModel.__new__",
    # The receipt handles a queue remembers, bounded (deleted_receipts.py)
    "moto.sqs.models.Queue.__init__",
    # One call at a time on a queue's messages
    "moto.sqs.models.SQSBackend.receive_message",
    "moto.sqs.models.SQSBackend.change_message_visibility",
    "moto.sqs.models.SQSBackend.purge_queue",
    "moto.sqs.models.Queue.add_message",
    "moto.sqs.models.Queue.delete_message",
    "moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp."
    "Timestamp._get_wait_seconds",
    # CloudFormation's tables made, updated and deleted where DynamoDB is served
    # (cloudformation_tables.py)
    "moto.dynamodb.models.table.Table.create_from_cloudformation_json",
    "moto.dynamodb.models.table.Table.delete_from_cloudformation_json",
    "moto.dynamodb.models.table.Table.update_from_cloudformation_json",
    "moto.dynamodb.models.table.Table.delete",
]
SPEED_TARGETS = [
    "botocore.loaders.JSONFileLoader.load_file",
    "moto.core.utils._load_service_model",
    "moto.stepfunctions.parser.asl.utils.boto_client.boto_client_for",
    "moto.stepfunctions.parser.backend.execution_worker.ExecutionWorker._get_evaluation_entrypoint",
    "moto.core.base_backend.AccountSpecificBackend._generate_regions",
    "moto.backends.list_of_moto_modules",
    "moto.moto_server.werkzeug_app.DomainDispatcherApplication.get_backend_for_host",
    "moto.core.responses.method_names_from_class",
    "moto.stepfunctions.parser.asl.utils.json_path.parse",
    "moto.stepfunctions.parser.asl.component.common.path.result_path.parse",
    "moto.dynamodb.responses.UpdateExpressionParser",
    "moto.dynamodb.models.UpdateExpressionParser",
    "moto.dynamodb.parsing.ast_nodes.DepthFirstTraverser.traverse",
    "moto.dynamodb.parsing.ast_nodes.Node.find_clauses",
    "moto.dynamodb.parsing.validators.deepcopy",
    "moto.dynamodb.responses.create_condition_expression_parser",
    "moto.dynamodb.models.create_condition_expression_parser",
    "moto.stepfunctions.models.StepFunctionBackend.describe_execution",
    "moto.stepfunctions.models.StepFunctionBackend.get_execution_history",
    "moto.stepfunctions.parser.models.StepFunctionsParserBackend._get_executions",
    "moto.stepfunctions.models.StateMachine._handle_name_input_idempotency",
    "moto.sqs.models.camelcase_to_underscores",
    "moto.core.responses.camelcase_to_underscores",
    "moto.sqs.models.SQSBackend.is_message_valid_based_on_retention_period",
    "moto.sqs.models.Queue.wait_for_messages",
    "moto.sqs.models.SQSBackend.send_message",
    "moto.sqs.models.Queue.attributes",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils."
    "_invoke_lambda_function",
]


def run_probe(*arguments: str) -> dict[str, Any]:
    probe = subprocess.run(
        [sys.executable, "-m", "tests.unit.embedded.moto_patch_probe", *arguments],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    result: dict[str, Any] = json.loads(probe.stdout)
    return result


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return run_probe("install")


def test_every_patch_target_exists_in_the_installed_moto() -> None:
    report = run_probe("exists", *BEHAVIOUR_TARGETS, *SPEED_TARGETS)

    missing = [target for target, exists in report["exists"].items() if not exists]

    assert len(report["exists"]) == len(BEHAVIOUR_TARGETS + SPEED_TARGETS)
    assert missing == [], f"moto {report['moto']} moved these patch targets"


def test_install_applies_every_patch_and_nothing_else(report: dict[str, Any]) -> None:
    rebound_copies = {f"{module}.boto_client_for" for module in report["boto_client_for_importers"]}
    rebound_copies |= {f"{module}.TMP_THREADS" for module in report["tmp_threads_holders"]}
    applied = set(report["applied"])

    assert set(BEHAVIOUR_TARGETS + SPEED_TARGETS) <= applied
    assert applied - set(BEHAVIOUR_TARGETS + SPEED_TARGETS) <= rebound_copies
    assert report["not_in_effect"] == []


def test_every_module_that_imports_boto_client_for_gets_the_reusing_one(
    report: dict[str, Any],
) -> None:
    clients = report["speed"]["clients_reused"]

    assert len(report["boto_client_for_importers"]) >= 13
    assert clients["unpatched"] == []
    assert report["boto_client_for_left"] == []
    assert clients["distinct_clients"] == 1, "one client per (region, service) for all"


def test_no_module_of_the_interpreter_keeps_the_threads_it_starts(
    report: dict[str, Any],
) -> None:
    assert len(report["tmp_threads_holders"]) >= 6
    assert report["tmp_threads_kept_by"] == []


@pytest.mark.parametrize(
    "speed_patch",
    [
        "botocore_data_once",
        "moto_extras_kept",
        "batch_utils_alone",
        "definition_parsed_once",
        "regions_without_models",
        "routing_from_memory",
        "action_methods_cached",
        "json_paths_parsed_once",
        "interpreter_invokes_in_process",
        "update_expressions_parsed_once",
        "parsed_trees_copied_directly",
        "trees_walked_with_one_table",
        "clauses_found_by_class",
        "conditions_parsed_once_per_update",
        "executions_indexed",
        "running_executions_indexed",
        "retention_without_queue_attributes",
        "long_poll_stops_at_first_visible",
        "names_converted_once",
    ],
)
def test_speed_patch_is_in_effect(report: dict[str, Any], speed_patch: str) -> None:
    assert report["speed"][speed_patch] is True
