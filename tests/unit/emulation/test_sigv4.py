"""The SigV4 check recomputes botocore's signature: it accepts what botocore signs with the
same credentials and refuses anything else."""

from __future__ import annotations

import time

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from serverless_testbed.emulation import sigv4

CREDENTIALS = Credentials("AKIASTACKKEY0000001", "stack-secret")
URL = "http://127.0.0.1:4566/2015-03-31/functions/arn%3Aaws%3Alambda%3Af/invocations?b=2&a=1"


def signed(
    credentials: Credentials = CREDENTIALS, body: bytes = b'{"x": 1}', url: str = URL
) -> AWSRequest:
    request = AWSRequest(
        method="POST", url=url, data=body, headers={"Content-Type": "application/json"}
    )
    SigV4Auth(credentials, "lambda", "us-east-1").add_auth(request)
    request.headers["Host"] = "127.0.0.1:4566"
    request.headers["User-Agent"] = "added after signing"
    return request


def check(request: AWSRequest, body: bytes | None = None, **kwargs: float) -> sigv4.Refusal | None:
    target = request.url.split("4566", 1)[1]
    data = request.body if body is None else body
    return sigv4.check(request.method, target, request.headers.items(), data, CREDENTIALS, **kwargs)


def test_a_request_signed_with_the_credentials_passes() -> None:
    assert check(signed()) is None


def test_an_unsigned_request_is_refused() -> None:
    request = signed()
    del request.headers["Authorization"]
    assert check(request) == sigv4.MISSING


def test_other_credentials_are_refused() -> None:
    assert check(signed(Credentials("testing", "testing"))) == sigv4.UNKNOWN_KEY


def test_the_right_key_with_the_wrong_secret_is_refused() -> None:
    refusal = check(signed(Credentials(CREDENTIALS.access_key, "guessed")))
    assert refusal == sigv4.BAD_SIGNATURE


def test_a_changed_body_is_refused() -> None:
    assert check(signed(), body=b'{"x": 2}') == sigv4.BAD_SIGNATURE


def test_a_changed_path_is_refused() -> None:
    request = signed()
    request.url = request.url.replace("invocations", "configuration")
    assert check(request) == sigv4.BAD_SIGNATURE


def test_an_old_signature_is_refused() -> None:
    refusal = check(signed(), now=time.time() + sigv4.MAX_SKEW_S + 60)
    assert refusal is not None and refusal.message == "Signature expired"


@pytest.mark.parametrize("query", ["X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Signature=00"])
def test_query_authentication_is_refused(query: str) -> None:
    refusal = sigv4.check("GET", f"/?{query}", [("Host", "h")], b"", CREDENTIALS)
    assert refusal is not None and refusal.code == "IncompleteSignatureException"
