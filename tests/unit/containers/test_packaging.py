"""The containers stack's deploy inputs, built without Docker: the Lambda zip (the package and
its pure-Python requirements) and template.yaml translated with each function's code in S3."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from serverless_testbed.containers import packaging
from serverless_testbed.deployment import STACK_OUTPUTS
from serverless_testbed.errors import UsageError

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"
HANDLERS = ("api", "dispatcher", "worker", "delayed_task", "probe")
GATEWAY = "http://127.0.0.1:9999/teststack"


@pytest.fixture
def no_requirements(tmp_path: Path) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text("\n")
    return path


@pytest.fixture(scope="module")
def zip_with_requirements(tmp_path_factory: pytest.TempPathFactory) -> packaging.CodeArchive:
    """The real thing: src/requirements.txt installed by pip (from the package index)."""
    return packaging.build_lambda_zip(
        tmp_path_factory.mktemp("zip") / "lambda.zip", packaging.requirements_for(TEMPLATE)
    )


def _names(archive: packaging.CodeArchive) -> set[str]:
    with zipfile.ZipFile(archive.path) as opened:
        return set(opened.namelist())


def test_the_zip_holds_the_handler_modules_at_the_paths_the_template_names(
    tmp_path: Path, no_requirements: Path
) -> None:
    archive = packaging.build_lambda_zip(tmp_path / "code.zip", no_requirements)

    names = _names(archive)
    for handler in HANDLERS:
        assert f"serverless_testbed/handlers/{handler}.py" in names
    assert "serverless_testbed/__init__.py" in names
    assert "serverless_testbed/pipeline/contract.py" in names
    assert not [name for name in names if "__pycache__" in name]


def test_the_same_code_gives_the_same_zip_and_s3_key(tmp_path: Path, no_requirements: Path) -> None:
    first = packaging.build_lambda_zip(tmp_path / "a.zip", no_requirements)
    second = packaging.build_lambda_zip(tmp_path / "b.zip", no_requirements)

    assert first.sha256 == second.sha256
    assert first.s3_key == f"serverless-testbed/{first.sha256}.zip"


def test_the_zip_carries_the_handlers_requirements(
    zip_with_requirements: packaging.CodeArchive,
) -> None:
    names = _names(zip_with_requirements)

    assert "aws_lambda_powertools/__init__.py" in names
    assert "serverless_testbed/handlers/worker.py" in names


def test_a_requirement_that_cannot_be_installed_is_a_one_line_usage_error(
    tmp_path: Path,
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("this-package-does-not-exist-anywhere-4f1c==0.0.1\n")

    with pytest.raises(UsageError) as raised:
        packaging.build_lambda_zip(tmp_path / "code.zip", requirements)

    assert str(raised.value).startswith(f"pip could not install {requirements}")
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "code.zip").exists(), "nothing half-done"


@pytest.fixture
def translated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with mock_aws():
        iam = boto3.client(
            "iam",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        yield packaging.translate_with_code_in_s3(
            TEMPLATE,
            {},
            region="us-east-1",
            iam_client=iam,
            api_base_url=GATEWAY,
            code_bucket="code-bucket",
            code_key="serverless-testbed/abc.zip",
        ).template


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == kind}


def test_every_function_runs_the_uploaded_zip(translated: dict[str, Any]) -> None:
    functions = _of_type(translated, "AWS::Lambda::Function")

    assert set(functions) == {
        "ApiFunction",
        "DispatcherFunction",
        "WorkerFunction",
        "DelayedTaskFunction",
        "ProbeFunction",
    }
    for function in functions.values():
        assert function["Properties"]["Code"] == {
            "S3Bucket": "code-bucket",
            "S3Key": "serverless-testbed/abc.zip",
        }
    handlers = {f["Properties"]["Handler"] for f in functions.values()}
    assert handlers == {f"serverless_testbed.handlers.{name}.handler" for name in HANDLERS}


def test_the_result_is_plain_cloudformation_without_the_http_api(
    translated: dict[str, Any],
) -> None:
    assert "Transform" not in translated
    kinds = {resource["Type"] for resource in translated["Resources"].values()}
    assert not [kind for kind in kinds if kind.startswith("AWS::Serverless::")]
    assert not [kind for kind in kinds if kind.startswith("AWS::ApiGatewayV2::")]
    assert "AWS::Lambda::EventSourceMapping" in kinds


def test_the_api_url_output_points_at_the_local_gateway(translated: dict[str, Any]) -> None:
    outputs = translated["Outputs"]

    assert set(STACK_OUTPUTS.values()) <= set(outputs)
    assert outputs["ApiUrl"]["Value"].startswith(f"{GATEWAY}/")


def test_the_state_machine_definition_is_the_asl_file_with_its_substitutions(
    translated: dict[str, Any],
) -> None:
    machines = _of_type(translated, "AWS::StepFunctions::StateMachine")
    assert set(machines) == {"PipelineStateMachine", "DelayStateMachine"}
    properties = machines["PipelineStateMachine"]["Properties"]
    pieces = properties["DefinitionString"]["Fn::Join"][1]

    assert "DefinitionSubstitutions" not in properties
    assert {"Fn::GetAtt": ["DispatcherFunction", "Arn"]} in pieces
    text = "".join(piece if isinstance(piece, str) else "0" for piece in pieces)
    assert json.loads(text)["States"]["Dispatch"]["Resource"].endswith("waitForTaskToken")

    delay = machines["DelayStateMachine"]["Properties"]
    pieces = delay["DefinitionString"]["Fn::Join"][1]
    assert "DefinitionSubstitutions" not in delay
    assert {"Fn::GetAtt": ["DelayedTaskFunction", "Arn"]} in pieces
    text = "".join(piece if isinstance(piece, str) else "arn" for piece in pieces)
    waits = {s["Type"] for s in json.loads(text)["States"].values()}
    assert "Wait" in waits
