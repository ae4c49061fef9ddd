"""Checking a request's AWS Signature Version 4 against one set of credentials.

The local stacks' endpoints on loopback take requests from every user of the machine; the
embedded stack makes random credentials and answers only requests signed with them. The
signature is recomputed with botocore's own signer, from the request as it came over the
wire (its method, raw path and query, the headers it names as signed, the body's SHA-256),
at the time and in the scope (region, service) the request states, and compared in constant
time. Query-string (presigned) authentication is refused: no client of the stacks uses it.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import time
from collections.abc import Iterable
from dataclasses import dataclass

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
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
    received = HTTPHeaders()
    for name, value in headers:
        received[name] = value
    authorization = received.get("Authorization", "")
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
    amz_date = received.get("X-Amz-Date", "")
    if len(parts) != 4 or parts[3] != "aws4_request" or not amz_date.startswith(parts[0]):
        return Refusal("IncompleteSignatureException", "Credential scope or X-Amz-Date is wrong")
    try:
        signed_at = calendar.timegm(time.strptime(amz_date, SIGV4_TIMESTAMP))
    except ValueError:
        return Refusal("IncompleteSignatureException", f"X-Amz-Date {amz_date!r} is not valid")
    if abs((time.time() if now is None else now) - signed_at) > MAX_SKEW_S:
        return Refusal("InvalidSignatureException", "Signature expired")
    claimed_hash = received.get("X-Amz-Content-SHA256")
    if claimed_hash is not None and claimed_hash != hashlib.sha256(body).hexdigest():
        return BAD_SIGNATURE  # the signature would cover a claimed hash, not the body
    if any(name not in received for name in signed_names) or "host" not in signed_names:
        return BAD_SIGNATURE
    request = AWSRequest(
        method=method,
        url=f"http://{received['Host']}{raw_target}",
        data=body,
        headers={name: received[name] for name in signed_names},
    )
    request.context["timestamp"] = amz_date
    signer = _RecomputingSigner(credentials, parts[2], parts[1], signed_names)
    expected = signer.signature(
        signer.string_to_sign(request, signer.canonical_request(request)), request
    )
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return BAD_SIGNATURE
    return None


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
