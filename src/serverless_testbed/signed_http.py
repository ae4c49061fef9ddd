"""POST to an IAM-authorized HTTP API, signed with SigV4 as API Gateway expects.

The pipeline's ``POST /run`` uses ``AWS_IAM`` (template.yaml): on AWS an unsigned request gets
403. The embedded stack verifies the signature against its own credentials; the containers
stack checks that a request is signed (LocalStack checks no signature), so a client that
forgets to sign fails locally too.
"""

from __future__ import annotations

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials

SERVICE = "execute-api"
JSON_HEADERS = {"Content-Type": "application/json"}
# Connections kept open per host between requests, as an HTTP client in front of API Gateway
# keeps them: a new connection per request cost the local HTTP API a thread start and an
# accept each. Past this many in flight at once the extra connections close after use.
KEPT_CONNECTIONS = 256

_connections = urllib3.PoolManager(maxsize=KEPT_CONNECTIONS, block=False, retries=False)


class RequestFailed(OSError):
    """No HTTP answer: refused, reset, timed out. ``reason`` is the socket-level error."""

    def __init__(self, message: str, reason: BaseException) -> None:
        super().__init__(message)
        self.reason = reason


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
    try:
        response = _connections.request(
            "POST", url, body=data, headers=headers, timeout=timeout_s, redirect=False
        )
    except urllib3.exceptions.HTTPError as error:
        raise RequestFailed(f"POST {url}: {error}", _socket_error(error)) from error
    return response.status, response.data


def _socket_error(error: urllib3.exceptions.HTTPError) -> BaseException:
    """What failed underneath urllib3's wrapper: ConnectionResetError, TimeoutError, ..."""
    if isinstance(error, urllib3.exceptions.ProtocolError) and len(error.args) > 1:
        inner = error.args[1]
        if isinstance(inner, BaseException):
            return inner
    return error.__context__ or error
