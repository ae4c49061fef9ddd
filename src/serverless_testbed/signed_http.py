"""POST to an IAM-authorized HTTP API, signed with SigV4 as API Gateway expects.

The pipeline's ``POST /run`` uses ``AWS_IAM`` (template.yaml): on AWS an unsigned request gets
403. The embedded stack verifies the signature against its own credentials; the containers
stack checks that a request is signed (LocalStack checks no signature), so a client that
forgets to sign fails locally too.
"""

from __future__ import annotations

import urllib.error
import urllib.request

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials

SERVICE = "execute-api"
JSON_HEADERS = {"Content-Type": "application/json"}


def signed_post(
    url: str,
    data: bytes,
    *,
    credentials: Credentials | ReadOnlyCredentials,
    region: str,
    timeout_s: float,
) -> tuple[int, bytes]:
    """POST ``data`` (JSON) signed for ``execute-api``; (HTTP status, response body)."""
    request = AWSRequest(method="POST", url=url, data=data, headers=JSON_HEADERS)
    SigV4Auth(credentials, SERVICE, region).add_auth(request)
    return post(url, data, headers=dict(request.headers.items()), timeout_s=timeout_s)


def post(
    url: str, data: bytes, *, headers: dict[str, str] = JSON_HEADERS, timeout_s: float
) -> tuple[int, bytes]:
    """POST ``data`` as it is; (HTTP status, response body).

    An HTTP error status is returned, not raised; a connection failure raises ``OSError``."""
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
