"""The local Lambda runtime runs only code that was deployed (issue 9, part 1).

Before: ``CreateFunction`` with ``Handler="pty.spawn"`` and any zip, then ``Invoke`` with
``["bash", "-c", "..."]``, ran the command as the user of the stack. Now a handler must be a
module of the function's own zip (or, for the template's functions, of the installed
package's handlers), loaded from there.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest

from serverless_testbed.embedded.stack import EmbeddedStack
from tests.integration.helpers import LAMBDA_TRUST_POLICY, zip_of


@pytest.fixture(scope="module")
def role_arn(embedded_stack: EmbeddedStack) -> str:
    iam = embedded_stack.client("iam")
    role = iam.create_role(
        RoleName=f"code-execution-{uuid.uuid4().hex[:8]}",
        AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST_POLICY),
    )
    return str(role["Role"]["Arn"])


def _create_and_invoke(
    stack: EmbeddedStack, role_arn: str, handler: str, files: dict[str, str], event: Any
) -> tuple[str | None, dict[str, Any]]:
    lambda_client = stack.client("lambda")
    name = f"t{uuid.uuid4().hex[:12]}"
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role_arn,
        Handler=handler,
        Code={"ZipFile": zip_of(files)},
        Timeout=10,
    )
    try:
        response = lambda_client.invoke(FunctionName=name, Payload=json.dumps(event).encode())
        return response.get("FunctionError"), json.loads(response["Payload"].read())
    finally:
        lambda_client.delete_function(FunctionName=name)


@pytest.mark.parametrize("handler", ["pty.spawn", "os.system", "subprocess.call"])
def test_a_handler_naming_an_importable_module_outside_the_zip_runs_nothing(
    embedded_stack: EmbeddedStack, role_arn: str, tmp_path: Path, handler: str
) -> None:
    marker = tmp_path / "proof"
    command = f"id > {marker}"
    event: Any = ["bash", "-c", command] if handler == "pty.spawn" else command
    error, body = _create_and_invoke(
        embedded_stack, role_arn, handler, {"app.py": "def handler(e, c):\n    return 1\n"}, event
    )
    assert not marker.exists(), f"{handler} ran a command from an Invoke"
    assert error == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError", body
    module = handler.rsplit(".", 1)[0]
    assert f"Unable to import module '{module}'" in body["errorMessage"]


def test_a_zip_whose_module_shadows_a_stdlib_name_runs_its_own_file(
    embedded_stack: EmbeddedStack, role_arn: str
) -> None:
    code = (
        "import pathlib\n"
        "def system(event, context):\n"
        "    return {'file': __file__, 'cwd': str(pathlib.Path.cwd())}\n"
    )
    error, body = _create_and_invoke(embedded_stack, role_arn, "os.system", {"os.py": code}, {})
    assert error is None, body
    assert Path(body["file"]).parent == Path(body["cwd"])


def test_a_zip_deployed_function_runs_from_its_own_directory(
    embedded_stack: EmbeddedStack, role_arn: str
) -> None:
    files = {
        "app/__init__.py": "",
        "app/main.py": (
            "import os\nfrom app import helper\n"
            "def handler(event, context):\n"
            "    return {'file': __file__, 'cwd': os.getcwd(), 'answer': helper.ANSWER,"
            " 'echo': event}\n"
        ),
        "app/helper.py": "ANSWER = 42\n",
    }
    error, body = _create_and_invoke(embedded_stack, role_arn, "app.main.handler", files, {"a": 1})
    assert error is None, body
    assert body["answer"] == 42 and body["echo"] == {"a": 1}
    code_dir = Path(body["cwd"])
    assert Path(body["file"]) == code_dir / "app" / "main.py"
    assert (code_dir / "app" / "helper.py").read_text() == "ANSWER = 42\n"


def test_a_template_handler_with_someone_elses_zip_is_refused(
    embedded_stack: EmbeddedStack, role_arn: str
) -> None:
    """The installed package's handlers run only for the provisioner's placeholder code."""
    error, body = _create_and_invoke(
        embedded_stack,
        role_arn,
        "serverless_testbed.handlers.probe.handler",
        {"index.py": "print('not the placeholder')\n"},
        {},
    )
    assert error == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError", body


def test_a_handler_outside_the_handlers_package_with_the_placeholder_is_refused(
    embedded_stack: EmbeddedStack, role_arn: str, tmp_path: Path
) -> None:
    from serverless_testbed.emulation.provision import INLINE_CODE

    marker = tmp_path / "proof"
    error, body = _create_and_invoke(
        embedded_stack, role_arn, "pty.spawn", {"index.py": INLINE_CODE}, ["touch", str(marker)]
    )
    assert not marker.exists()
    assert error == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError", body


def test_the_aws_endpoint_refuses_credentials_other_than_the_stacks(
    embedded_stack: EmbeddedStack, tmp_path: Path
) -> None:
    """The reproduction's first step, with the dummy credentials any local user has."""
    stranger = boto3.client(
        "lambda",
        endpoint_url=embedded_stack.urls["aws"],
        region_name=embedded_stack.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        stranger.create_function(
            FunctionName="stranger",
            Runtime="python3.11",
            Role="arn:aws:iam::123456789012:role/any",
            Handler="pty.spawn",
            Code={"ZipFile": zip_of({"app.py": ""})},
        )
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException"
    names = [
        f["FunctionName"] for f in embedded_stack.client("lambda").list_functions()["Functions"]
    ]
    assert "stranger" not in names
