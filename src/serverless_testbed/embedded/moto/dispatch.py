"""A shorter way through moto's server for the JSON-protocol calls the pipeline makes most.

moto serves each service with a Flask app: every request builds a Flask request context,
matches the app's URL map, runs flask_cors' ``after_request`` and builds a Flask ``Response``
around what the service's ``BaseResponse.dispatch`` returned (``convert_to_flask_response``).
For a JSON-protocol call (``POST /`` with an ``X-Amz-Target`` header) to Step Functions,
DynamoDB or SQS that machinery always ends in the same handler, and it was about a sixth of
the stack process's CPU under load. ``JsonTargetDispatch`` calls that handler itself and
writes what the Flask app would have answered: the same status line, headers (in the same
order, with the ``Access-Control-Allow-Origin: *`` flask_cors adds) and body. Everything
else (other services, other paths and methods, CORS requests with an ``Origin``, answers
outside the common shape) takes moto's own route.

Which backend serves a request is still decided by moto's ``DomainDispatcherApplication``
(from the credential scope of the request's signature); the handler for ``POST /`` is read
once per backend from that backend's own Flask URL map.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import ClientError
from flask import Response as FlaskResponse
from moto.core.request import Request
from moto.moto_api import recorder
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Response as WerkzeugResponse

# moto's backend names (``app.service``) answered here; Lambda is REST-JSON (its paths name
# the action), IAM and CloudFormation are query protocol: those keep moto's route.
DIRECT_SERVICES = frozenset({"dynamodb", "stepfunctions", "sqs"})
DEFAULT_CONTENT_TYPE = "text/html; charset=utf-8"  # what a Flask Response says without one
CORS_ORIGIN = "Access-Control-Allow-Origin"
# What werkzeug's url_root and moto's raw_path / raw_url read from the environ.
URL_SOURCES = (
    "wsgi.url_scheme",
    "HTTP_HOST",
    "SERVER_NAME",
    "SERVER_PORT",
    "SCRIPT_NAME",
    "PATH_INFO",
    "QUERY_STRING",
    "RAW_URI",
)
URLS_KEPT = 256
_NEWLINE = re.compile(r"[\r\n]")

Handler = Callable[[Request, str, dict[str, str]], Any]
StartResponse = Callable[..., Any]


class ServerRequest(Request):
    """moto's request type as its server builds it (``BackendRequest``), without Flask."""

    from_wsgi_server = True


class JsonTargetDispatch:
    """WSGI app: JSON-protocol calls straight to the service's handler, the rest to moto."""

    def __init__(self, dispatcher: DomainDispatcherApplication, *, cors: bool) -> None:
        """``cors``: whether moto's apps run flask_cors (moto's ``DISABLE_GLOBAL_CORS``
        unset), so answers carry its ``Access-Control-Allow-Origin: *``."""
        self._dispatcher = dispatcher
        self._cors = cors
        self._handlers: dict[int, Handler | None] = {}
        self._urls: dict[tuple[Any, ...], str] = {}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        app, handler = self.route(environ)
        if handler is None:
            return app(environ, start_response)
        return self._answer(handler, environ, start_response)

    def route(self, environ: dict[str, Any]) -> tuple[Any, Handler | None]:
        """moto's app for the request, and the handler to call directly (None: the app)."""
        app = self._dispatcher.get_application(environ)
        if (
            environ.get("PATH_INFO") != "/"
            or environ.get("REQUEST_METHOD") != "POST"
            or "HTTP_X_AMZ_TARGET" not in environ
            or "HTTP_ORIGIN" in environ  # CORS: flask_cors' answer depends on it
        ):
            return app, None
        key = id(app)  # moto keeps one app per backend for the process's life
        if key not in self._handlers:
            self._handlers[key] = _handler_of(app)
        return app, self._handlers[key]

    def _answer(
        self, handler: Handler, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        # As moto.core.utils.convert_to_flask_response, then Flask's handling of what it
        # returns or raises (debug mode: any other exception propagates to the server).
        try:
            request = ServerRequest(environ)
            recorder._record_request(request)
            try:
                result = handler(request, self._raw_url(request), dict(request.headers))
            except ClientError as exc:
                result = 400, {}, exc.response["Error"]["Message"]
        except HTTPException as exc:  # Flask answers with the exception's own response
            response = FlaskResponse.force_type(exc, environ)  # type: ignore[arg-type]
            return self._with_cors(response)(environ, start_response)
        if len(result) == 3:
            status, headers, content = result
        else:
            status, headers, content = 200, {}, result
        written = _written_answer(status, headers, content)
        if written is None:  # an unusual shape: let werkzeug build it, as Flask would
            response = FlaskResponse(response=content, status=status, headers=headers)
            return self._with_cors(response)(environ, start_response)
        status_line, header_list, body = written
        if self._cors and not any(
            name.lower() == "access-control-allow-origin" for name, _ in header_list
        ):
            header_list.append((CORS_ORIGIN, "*"))
        start_response(status_line, header_list)
        return [body]

    def _raw_url(self, request: ServerRequest) -> str:
        """``request.raw_url``, kept per value of the environ entries werkzeug builds it
        from (a few hosts and paths: ~8% of a cheap call's CPU to build each time)."""
        key = tuple(request.environ.get(name) for name in URL_SOURCES)
        url = self._urls.get(key)
        if url is None:
            url = request.raw_url
            if len(self._urls) < URLS_KEPT:
                self._urls[key] = url
        return url

    def _with_cors(self, response: WerkzeugResponse) -> WerkzeugResponse:
        if self._cors and CORS_ORIGIN not in response.headers:
            response.headers.add(CORS_ORIGIN, "*")
        return response


def _handler_of(app: Any) -> Handler | None:
    """The callback moto's Flask app runs for ``POST /``, for the services answered here."""
    if getattr(app, "service", None) not in DIRECT_SERVICES:
        return None
    try:
        endpoint, arguments = app.url_map.bind("localhost").match("/", method="POST")
    except HTTPException:  # no route, or a redirect
        return None
    view = app.view_functions.get(endpoint)
    callback = getattr(view, "callback", None)
    if arguments or callback is None:
        return None
    return callback


def _written_answer(
    status: Any, headers: Any, content: Any
) -> tuple[str, list[tuple[str, str]], bytes] | None:
    """What ``flask.Response(response=content, status=status, headers=headers)`` sends,
    for the shapes moto's JSON handlers return; None for any other shape."""
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if type(status) is not int or not 200 <= status < 600 or status in (204, 304):
        return None
    reason = HTTP_STATUS_CODES.get(status)
    if reason is None or not isinstance(headers, dict):
        return None
    if isinstance(content, str):
        body = content.encode()
    elif isinstance(content, bytes):
        body = content
    else:
        return None
    header_list: list[tuple[str, str]] = []
    has_content_type = False
    for name, value in headers.items():
        if not isinstance(name, str) or isinstance(value, (list, tuple, set)):
            return None
        text = value if isinstance(value, str) else str(value)
        if _NEWLINE.search(text) is not None:
            return None
        lowered = name.lower()
        if lowered in ("location", "content-location", "content-length"):
            return None
        has_content_type = has_content_type or lowered == "content-type"
        header_list.append((name, text))
    if not has_content_type:
        header_list.append(("Content-Type", DEFAULT_CONTENT_TYPE))
    header_list.append(("Content-Length", str(len(body))))
    return f"{status} {reason.upper()}", header_list, body
