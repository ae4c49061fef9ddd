"""Small helpers the integration tests share: HTTP calls, waiting on a condition, and the
fixtures of a Lambda function made by hand (its zip, its role's trust policy)."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from botocore.credentials import Credentials, ReadOnlyCredentials

from serverless_testbed.signed_http import post, signed_post

T = TypeVar("T")
# LocalStack (the containers target) and a gateway started without credentials take any
# signed request; the embedded stack takes only its own credentials (stack.credentials).
LOCAL_CREDENTIALS = Credentials("testing", "testing")
AnyCredentials = Credentials | ReadOnlyCredentials | Mapping[str, str]
# The trust policy of a role Lambda functions run as.
LAMBDA_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def zip_of(files: dict[str, str]) -> bytes:
    """A zip archive holding ``files`` (name -> text), as a function's code."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def http_post(
    url: str,
    body: Any,
    timeout_s: float = 60,
    *,
    credentials: AnyCredentials = LOCAL_CREDENTIALS,
    signed: bool = True,
    region: str = "us-east-1",
) -> tuple[int, dict[str, Any]]:
    """POST a JSON body (or raw bytes), SigV4-signed with ``credentials`` (a botocore
    Credentials, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY as in a stack's ``credentials``
    and `testbed up --json`) unless ``signed=False``; return (status, parsed JSON body)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    if signed:
        status, raw = signed_post(
            url, data, credentials=as_credentials(credentials), region=region, timeout_s=timeout_s
        )
    else:
        status, raw = post(url, data, timeout_s=timeout_s)
    return status, _parse(raw)


def as_credentials(credentials: AnyCredentials) -> Credentials | ReadOnlyCredentials:
    if isinstance(credentials, Credentials | ReadOnlyCredentials):
        return credentials
    return Credentials(credentials["AWS_ACCESS_KEY_ID"], credentials["AWS_SECRET_ACCESS_KEY"])


def _parse(raw: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {"raw": raw.decode(errors="replace")}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def wait_until(
    condition: Callable[[], T], *, timeout_s: float, what: str, interval_s: float = 0.02
) -> T:
    """Poll ``condition`` until it returns something truthy; fail naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)
        interval_s = min(interval_s * 1.5, 0.25)


def ended_execution(
    sfn: Any, execution_arn: str, *, timeout_s: float = 30, interval_s: float = 0.02
) -> dict[str, Any]:
    """DescribeExecution once the execution is no longer RUNNING."""

    def described_if_ended() -> dict[str, Any] | None:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        return described if described["status"] != "RUNNING" else None

    return wait_until(
        described_if_ended,
        timeout_s=timeout_s,
        what=f"{execution_arn} to end",
        interval_s=interval_s,
    )
