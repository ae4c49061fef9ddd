"""emulation/provision.py: template.yaml translated offline for the emulators.

The real template and state machine are translated with aws-sam-translator (into a cache of
the test's own); small templates written here cover the cases the real one does not have.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from serverless_testbed.emulation import provision
from serverless_testbed.emulation.provision import HttpApi, Route
from serverless_testbed.errors import UsageError

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"
GATEWAY = "http://127.0.0.1:9999/teststack"
FUNCTIONS = {  # logical id -> handler module
    "ApiFunction": "api",
    "DispatcherFunction": "dispatcher",
    "WorkerFunction": "worker",
    "DelayedTaskFunction": "delayed_task",
    "ProbeFunction": "probe",
}


class NoIam:
    """The template names no managed policy, so IAM must never be asked."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"IAM was asked for {name}")


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


def translate(template: Path = TEMPLATE, **parameters: str) -> provision.TranslatedStack:
    return provision.translate(
        template, parameters, region="us-east-1", iam_client=NoIam(), api_base_url=GATEWAY
    )


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == kind}


@pytest.fixture(scope="module")
def translated(tmp_path_factory: pytest.TempPathFactory) -> provision.TranslatedStack:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        return translate()


def test_every_function_gets_placeholder_code_and_keeps_its_handler(
    translated: provision.TranslatedStack,
) -> None:
    functions = of_type(translated.template, "AWS::Lambda::Function")
    assert set(functions) == set(FUNCTIONS)
    for logical_id, function in functions.items():
        properties = function["Properties"]
        assert properties["Code"] == {"ZipFile": provision.INLINE_CODE}
        assert (
            properties["Handler"] == f"serverless_testbed.handlers.{FUNCTIONS[logical_id]}.handler"
        )


def test_the_http_api_is_taken_out_and_described_as_routes(
    translated: provision.TranslatedStack,
) -> None:
    assert translated.apis == (
        HttpApi("HttpApi", "dev", (Route("POST", "/run", "ApiFunction", signed=True),)),
    )
    kinds = {r["Type"] for r in translated.template["Resources"].values()}
    assert not [kind for kind in kinds if kind.startswith(provision.API_RESOURCE_PREFIX)]
    assert "HttpApi" not in json.dumps(translated.template["Resources"])  # permissions went too


def test_the_api_url_output_points_at_the_local_gateway_with_the_stage(
    translated: provision.TranslatedStack,
) -> None:
    assert translated.api_url_output == "ApiUrl"
    assert translated.template["Outputs"]["ApiUrl"]["Value"] == f"{GATEWAY}/HttpApi/dev"


def test_a_stage_parameter_moves_the_routes_and_the_url() -> None:
    result = translate(StageName="prod")
    assert [api.stage for api in result.apis] == ["prod"]
    assert result.template["Outputs"]["ApiUrl"]["Value"] == f"{GATEWAY}/HttpApi/prod"


def test_the_state_machine_is_the_asl_file_joined_with_its_substitutions(
    translated: provision.TranslatedStack,
) -> None:
    machine = of_type(translated.template, "AWS::StepFunctions::StateMachine")[
        "PipelineStateMachine"
    ]
    properties = machine["Properties"]
    assert "DefinitionSubstitutions" not in properties and "Definition" not in properties
    pieces = properties["DefinitionString"]["Fn::Join"][1]
    assert {"Fn::GetAtt": ["DispatcherFunction", "Arn"]} in pieces
    assert {"Ref": "TaskTimeoutSeconds"} in pieces
    text = "".join(p if isinstance(p, str) else "7" for p in pieces)
    assert "${" not in text
    payload = json.loads(text)["States"]["Dispatch"]["Parameters"]["Payload"]
    assert payload["task_token.$"] == "$$.Task.Token"  # the context prefix kept whole


def test_a_translation_is_cached_by_content_and_read_back(own_cache: Path) -> None:
    first = translate()
    (cached,) = own_cache.rglob("*.json")
    text = json.loads(cached.read_text())
    text["Resources"]["RequestQueue"]["Properties"]["MarkedByTheTest"] = "yes"
    cached.write_text(json.dumps(text))

    second = translate()

    assert "MarkedByTheTest" not in first.template["Resources"]["RequestQueue"]["Properties"]
    assert second.template["Resources"]["RequestQueue"]["Properties"]["MarkedByTheTest"] == "yes"
    assert len(list(own_cache.rglob("*.json"))) == 1
    translate(StageName="other")  # other parameters: another entry
    assert len(list(own_cache.rglob("*.json"))) == 2


FUNCTION_WITH_AN_OPEN_API = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      CodeUri: src/
      Events:
        Get:
          Type: HttpApi
          Properties:
            Method: GET
            Path: /hello
"""


def test_an_implicit_api_without_auth_has_unsigned_routes_on_the_default_stage(
    tmp_path: Path,
) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(FUNCTION_WITH_AN_OPEN_API)

    result = translate(template)

    (api,) = result.apis
    assert api.stage == "$default"
    assert api.routes == (Route("GET", "/hello", "Hello", signed=False),)
    assert result.api_url_output is None


STATE_MACHINE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Machine:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: {uri}
      DefinitionSubstitutions:
        Known: value
"""


def test_a_missing_definition_file_is_a_one_line_usage_error(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(STATE_MACHINE.format(uri="missing.asl.json"))
    with pytest.raises(UsageError, match=r"^state machine Machine: DefinitionUri missing"):
        translate(template)


def test_a_placeholder_without_a_substitution_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "machine.asl.json").write_text(
        '{"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "${Known} ${Unknown}", '
        '"End": true}}}'
    )
    template = tmp_path / "template.yaml"
    template.write_text(STATE_MACHINE.format(uri="machine.asl.json"))
    with pytest.raises(
        UsageError, match=r"^state machine Machine: no substitution for \$\{Unknown\}$"
    ):
        translate(template)


def test_a_missing_or_broken_template_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^template not found: "):
        translate(tmp_path / "none.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("Resources: [unclosed\n")
    with pytest.raises(UsageError, match=f"^{re.escape(str(broken))}: not a valid template: "):
        translate(broken)
