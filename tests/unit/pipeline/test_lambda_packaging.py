"""What ships in the Lambda zip: the handlers and pipeline/ import only the standard library,
boto3/botocore and aws-lambda-powertools, and load in a fresh process with only the
environment Lambda and template.yaml give them."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import serverless_testbed

PACKAGE = Path(serverless_testbed.__file__).resolve().parent
LAMBDA_CODE = [
    *sorted((PACKAGE / "handlers").glob("*.py")),
    *sorted((PACKAGE / "pipeline").glob("*.py")),
]
ALLOWED_THIRD_PARTY = {"boto3", "botocore", "aws_lambda_powertools"}
ALLOWED_OWN = ("serverless_testbed.handlers", "serverless_testbed.pipeline")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_lambda_code_imports_only_the_stdlib_boto3_and_powertools() -> None:
    for path in LAMBDA_CODE:
        for module in _imports(path):
            top = module.split(".")[0]
            if top == "serverless_testbed":
                assert module == "serverless_testbed" or module.startswith(ALLOWED_OWN), (
                    f"{path.name} imports {module}"
                )
            else:
                assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY, (
                    f"{path.name} imports {module}"
                )


PROBE = """
import json, sys
from serverless_testbed.handlers import api, dispatcher, worker
from serverless_testbed.handlers.environment import aws_client
settings = [api._settings(), dispatcher._settings(), worker._settings()]
print(json.dumps({
    "endpoints": sorted(
        {aws_client(name).meta.endpoint_url for name in ("stepfunctions", "sqs", "dynamodb")}
    ),
    "region": aws_client("sqs").meta.region_name,
    "queue_url": settings[1].queue_url,
    "unwanted": sorted(m for m in ("pydantic", "moto", "rich") if m in sys.modules),
}))
"""


def test_the_handlers_load_in_a_fresh_process_with_only_the_lambda_environment() -> None:
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(PACKAGE.parent),
        "AWS_ENDPOINT_URL": "http://127.0.0.1:4599",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "STATE_MACHINE_ARN": "arn:aws:states:eu-west-1:123456789012:stateMachine:pipeline",
        "EXECUTION_DEADLINE_SECONDS": "25",
        "QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/requests",
        "TABLE_NAME": "requests",
    }

    finished = subprocess.run(
        [sys.executable, "-c", PROBE], env=environment, capture_output=True, text=True, timeout=60
    )

    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout.strip().splitlines()[-1])
    assert report == {
        "endpoints": ["http://127.0.0.1:4599"],
        "region": "eu-west-1",
        "queue_url": environment["QUEUE_URL"],
        "unwanted": [],
    }
