"""Defaults every emulated stack shares, and where template.yaml is found."""

from __future__ import annotations

import sys
from pathlib import Path

from serverless_testbed.errors import UsageError

DEFAULT_STACK_NAME = "testbed"
DEFAULT_REGION = "us-east-1"
# Dummy credentials: the emulators accept any; these keep boto3 from looking for real ones.
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# Lambda's default quota of concurrent executions per account and Region (README, "Lambda
# concurrency"): what a local stack allows unless told otherwise.
LAMBDA_ACCOUNT_CONCURRENCY = 1000
# Ended executions a local Step Functions keeps per state machine, newest first (~27 KB each
# for the pipeline's: ~270 MB at most); embedded/moto/execution_retention.py says why.
ENDED_EXECUTIONS_KEPT = 10_000


def find_template(explicit: str | Path | None = None) -> Path:
    """template.yaml: the explicit path, else ./template.yaml, else the installed copy."""
    candidates = (
        [Path(explicit)]
        if explicit
        else [
            Path.cwd() / "template.yaml",
            Path(__file__).resolve().parents[3] / "template.yaml",  # a source checkout
            Path(sys.prefix) / "share" / "serverless-testbed" / "template.yaml",
        ]
    )
    for path in candidates:
        if path.is_file():
            return path
    raise UsageError(f"template.yaml not found (looked in {', '.join(map(str, candidates))})")
