"""The SigV4 check recomputes botocore's signature: it accepts what botocore signs with the
same credentials and refuses anything else."""

from __future__ import annotations

import hashlib
import time

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

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


# Requests to "/" without a query (every JSON-protocol call) are checked without botocore's
# signer: whatever botocore signs there must pass, and any change must not.
ROOT_URL = "http://127.0.0.1:4566/"


def signed_at_root(
    headers: dict[str, str], body: bytes = b'{"TableName": "t"}', service: str = "dynamodb"
) -> AWSRequest:
    request = AWSRequest(method="POST", url=ROOT_URL, data=body, headers=headers)
    SigV4Auth(CREDENTIALS, service, "eu-west-1").add_auth(request)
    request.headers["Host"] = "127.0.0.1:4566"
    return request


JSON_HEADERS = {
    "X-Amz-Target": "DynamoDB_20120810.UpdateItem",
    "Content-Type": "application/x-amz-json-1.0",
}


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"X-Amz-Security-Token": "token/with+signs=="},
        {"X-Amz-Content-SHA256": hashlib.sha256(b'{"TableName": "t"}').hexdigest()},
        {"X-Custom": "  spaced   out\tvalue  "},
        {"Content-Length": "18", "Accept": "*/*"},
    ],
)
def test_a_json_call_signed_by_botocore_passes(extra: dict[str, str]) -> None:
    assert check(signed_at_root({**JSON_HEADERS, **extra})) is None


@pytest.mark.parametrize("header", ["X-Amz-Target", "Content-Type", "X-Amz-Date", "Host"])
def test_a_json_call_with_a_signed_header_changed_is_refused(header: str) -> None:
    request = signed_at_root(JSON_HEADERS)
    value = request.headers[header]
    request.headers.replace_header(header, value[:-1] + ("0" if value[-1] != "0" else "1"))
    refusal = check(request)
    assert refusal is not None and refusal.code in (
        "InvalidSignatureException",
        "IncompleteSignatureException",  # X-Amz-Date no longer matches the scope's day
    )


def test_a_json_call_with_another_body_or_secret_is_refused() -> None:
    assert check(signed_at_root(JSON_HEADERS), body=b'{"TableName": "u"}') == sigv4.BAD_SIGNATURE
    request = AWSRequest(method="POST", url=ROOT_URL, data=b"{}", headers=dict(JSON_HEADERS))
    SigV4Auth(Credentials(CREDENTIALS.access_key, "guessed"), "sqs", "us-east-1").add_auth(request)
    request.headers["Host"] = "127.0.0.1:4566"
    assert check(request) == sigv4.BAD_SIGNATURE


@pytest.mark.parametrize("amz_date", ["20261332T000000Z", "2026-01-01T00:00:00Z", "x"])
def test_an_invalid_date_is_refused(amz_date: str) -> None:
    request = signed_at_root(JSON_HEADERS)
    request.headers.replace_header("X-Amz-Date", amz_date)
    refusal = check(request)
    assert refusal is not None and refusal.code == "IncompleteSignatureException"


@settings(max_examples=200, deadline=None)
@given(
    value=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1),
    body=st.binary(max_size=64),
    service=st.sampled_from(["dynamodb", "states", "sqs"]),
)
def test_any_header_value_botocore_signs_at_root_passes(
    value: str, body: bytes, service: str
) -> None:
    if not value.strip():
        return  # botocore sends no empty header
    request = signed_at_root({**JSON_HEADERS, "X-Amz-Target": value}, body, service)
    assert check(request, body=body) is None  # as received: an empty body is b""
    request.headers.replace_header("X-Amz-Target", value + "x")
    assert check(request, body=body) == sigv4.BAD_SIGNATURE
