"""Checking a request's AWS Signature Version 4 against one set of credentials.

The local stacks' endpoints on loopback take requests from every user of the machine; the
embedded stack makes random credentials and answers only requests signed with them. The
signature is recomputed from the request as it came over the wire (its method, raw path and
query, the headers it names as signed, the body's SHA-256), at the time and in the scope
(region, service) the request states, and compared in constant time: with botocore's own
signer, but for requests to ``/`` without a query (every JSON-protocol call), whose canonical
request is written here (botocore's signer took ~90 us per request, 5% of moto's server
CPU under load; tests/unit/emulation/test_sigv4.py checks the two agree). Query-string
(presigned) authentication is refused: no client of the stacks uses it.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials, ReadOnlyCredentials

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW_S = 15 * 60  # as AWS: a request dated further from now is refused


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused, with the error code AWS answers it with (HTTP 403)."""

    code: str
    message: str


MISSING = Refusal("MissingAuthenticationTokenException", "Missing Authentication Token")
UNKNOWN_KEY = Refusal(
    "UnrecognizedClientException", "The security token included in the request is invalid."
)
BAD_SIGNATURE = Refusal(
    "InvalidSignatureException",
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method.",
)


def check(
    method: str,
    raw_target: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    credentials: Credentials | ReadOnlyCredentials,
    *,
    now: float | None = None,
) -> Refusal | None:
    """None when the request is signed with ``credentials``; else why not.

    ``raw_target`` is the path and query as sent (still percent-encoded)."""
    received: dict[str, str] = {}  # lower-case name -> the first value sent
    for name, value in headers:
        received.setdefault(name.lower(), value)
    authorization = received.get("authorization", "")
    if not authorization:
        if "X-Amz-Signature=" in raw_target or "X-Amz-Algorithm=" in raw_target:
            return Refusal("IncompleteSignatureException", "Query authentication is not accepted")
        return MISSING
    fields = _authorization_fields(authorization)
    if fields is None:
        return Refusal("IncompleteSignatureException", "Authorization header is not SigV4")
    scope, signed_names, signature = fields
    access_key, _, rest = scope.partition("/")
    if not hmac.compare_digest(access_key.encode(), credentials.access_key.encode()):
        return UNKNOWN_KEY
    parts = rest.split("/")
    amz_date = received.get("x-amz-date", "")
    if len(parts) != 4 or parts[3] != "aws4_request" or not amz_date.startswith(parts[0]):
        return Refusal("IncompleteSignatureException", "Credential scope or X-Amz-Date is wrong")
    try:
        signed_at = _epoch_of(amz_date)
    except ValueError:
        return Refusal("IncompleteSignatureException", f"X-Amz-Date {amz_date!r} is not valid")
    if abs((time.time() if now is None else now) - signed_at) > MAX_SKEW_S:
        return Refusal("InvalidSignatureException", "Signature expired")
    body_hash = hashlib.sha256(body).hexdigest()
    claimed_hash = received.get("x-amz-content-sha256")
    if claimed_hash is not None and claimed_hash != body_hash:
        return BAD_SIGNATURE  # the signature would cover a claimed hash, not the body
    if any(name not in received for name in signed_names) or "host" not in signed_names:
        return BAD_SIGNATURE
    region, service = parts[1], parts[2]
    if raw_target == "/" and len(set(signed_names)) == len(signed_names):
        # Every JSON-protocol call: its canonical request is quick to write here.
        canonical = _canonical_request_at_root(method, signed_names, received, body_hash)
        key = _signing_key(credentials.secret_key, amz_date[:8], region, service)
        expected = hmac.new(
            key, _string_to_sign(amz_date, region, service, canonical), hashlib.sha256
        )
        expected_signature = expected.hexdigest()
    else:
        expected_signature = _botocore_signature(
            method, raw_target, received, signed_names, body, amz_date, region, service, credentials
        )
    if not hmac.compare_digest(expected_signature.encode(), signature.encode()):
        return BAD_SIGNATURE
    return None


def _epoch_of(amz_date: str) -> int:
    """Seconds since the epoch of an X-Amz-Date (``20260130T061556Z``); ValueError if not one."""
    if len(amz_date) != 16 or amz_date[8] != "T" or amz_date[15] != "Z":
        raise ValueError(amz_date)
    digits = amz_date[:8] + amz_date[9:15]
    if not digits.isdigit() or not digits.isascii():
        raise ValueError(amz_date)
    year, month, day = int(digits[0:4]), int(digits[4:6]), int(digits[6:8])
    hour, minute, second = int(digits[8:10]), int(digits[10:12]), int(digits[12:14])
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp())


def _canonical_request_at_root(
    method: str, signed_names: list[str], received: dict[str, str], body_hash: str
) -> str:
    """As botocore's ``SigV4Auth.canonical_request`` for the path ``/`` without a query."""
    names = sorted(signed_names)
    canonical_headers = "".join(f"{name}:{' '.join(received[name].split())}\n" for name in names)
    return f"{method.upper()}\n/\n\n{canonical_headers}\n{';'.join(names)}\n{body_hash}"


def _string_to_sign(amz_date: str, region: str, service: str, canonical_request: str) -> bytes:
    digest = hashlib.sha256(canonical_request.encode()).hexdigest()
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}".encode()


@lru_cache(maxsize=64)
def _signing_key(secret_key: str, day: str, region: str, service: str) -> bytes:
    """SigV4's key for one day, region and service (as botocore's ``signature`` derives it)."""
    key = f"AWS4{secret_key}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _botocore_signature(
    method: str,
    raw_target: str,
    received: dict[str, str],
    signed_names: list[str],
    body: bytes,
    amz_date: str,
    region: str,
    service: str,
    credentials: Credentials | ReadOnlyCredentials,
) -> str:
    """The signature botocore's signer computes for the request as received."""
    request = AWSRequest(
        method=method,
        url=f"http://{received['host']}{raw_target}",
        data=body,
        headers={name: received[name] for name in signed_names},
    )
    request.context["timestamp"] = amz_date
    signer = _RecomputingSigner(credentials, service, region, signed_names)
    return str(
        signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    )


class _RecomputingSigner(SigV4Auth):
    """botocore's signer, signing exactly the headers the request names."""

    def __init__(
        self,
        credentials: Credentials | ReadOnlyCredentials,
        service: str,
        region: str,
        signed_names: list[str],
    ) -> None:
        super().__init__(credentials, service, region)
        self._signed_names = signed_names

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        chosen = HTTPHeaders()
        for name in self._signed_names:
            chosen[name] = request.headers[name]
        return chosen


def _authorization_fields(authorization: str) -> tuple[str, list[str], str] | None:
    """(credential scope, signed header names, signature) of a SigV4 header, or None."""
    scheme, _, rest = authorization.partition(" ")
    if scheme != ALGORITHM:
        return None
    found: dict[str, str] = {}
    for field in rest.split(","):
        name, _, value = field.strip().partition("=")
        found[name] = value
    try:
        names = [name.lower() for name in found["SignedHeaders"].split(";") if name]
        return found["Credential"], names, found["Signature"]
    except KeyError:
        return None
