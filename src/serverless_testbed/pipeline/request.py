"""POST /run bodies: parsed and validated with the standard library only (it ships in the zip)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from serverless_testbed.pipeline.contract import (
    FAULT_STAGES,
    MAX_BODY_BYTES,
    MAX_JSON_DEPTH,
    REQUEST_ID_PATTERN,
)

KNOWN_FIELDS = ("request_id", "payload", "fail_at")
_REQUEST_ID = re.compile(REQUEST_ID_PATTERN)
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")


class InvalidRequest(Exception):
    """A body the api refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400, error: str = "InvalidRequest") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error = error


@dataclass(frozen=True)
class RunRequest:
    request_id: str
    payload: dict[str, Any] = field(default_factory=dict)
    fail_at: str | None = None

    def to_input(self) -> dict[str, Any]:
        """The state machine input (and the ``request`` the dispatcher and worker see)."""
        data: dict[str, Any] = {"request_id": self.request_id, "payload": self.payload}
        if self.fail_at is not None:
            data["fail_at"] = self.fail_at
        return data


def parse_run_request(
    body: bytes | str | None, new_request_id: Callable[[], str] = lambda: uuid.uuid4().hex
) -> RunRequest:
    """The validated request, or InvalidRequest naming what is wrong."""
    raw = body.encode() if isinstance(body, str) else body
    if not raw:
        raise InvalidRequest("body is empty: send a JSON object, e.g. {}")
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidRequest(
            f"body is {len(raw)} bytes: the limit is {MAX_BODY_BYTES}",
            status=413,
            error="RequestTooLarge",
        )
    data = _json_object(raw)
    unknown = sorted(set(data) - set(KNOWN_FIELDS))
    if unknown:
        raise InvalidRequest(
            f"unknown field(s) {', '.join(unknown)}: allowed are {', '.join(KNOWN_FIELDS)}"
        )
    return RunRequest(
        request_id=_request_id(data) if "request_id" in data else new_request_id(),
        payload=_payload(data) if "payload" in data else {},
        fail_at=_fail_at(data) if "fail_at" in data else None,
    )


def _json_object(raw: bytes) -> dict[str, Any]:
    def refuse_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("body is not UTF-8 text") from None
    _refuse_deep_nesting(text)
    try:
        data = json.loads(text, parse_constant=refuse_constant)
    except ValueError as error:
        raise InvalidRequest(f"body is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise InvalidRequest(f"body must be a JSON object, got {_json_type(data)}")
    return data


def _refuse_deep_nesting(text: str) -> None:
    """Count nesting before parsing: a parser (here, or a later stage's) recurses per level."""
    depth = 0
    for bracket in _JSON_BRACKET.finditer(_JSON_STRING.sub("", text)):
        if bracket.group() in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise InvalidRequest(
                    f"body nests arrays/objects more than {MAX_JSON_DEPTH} levels deep: "
                    f"the limit is {MAX_JSON_DEPTH}"
                )
        else:
            depth -= 1


def _request_id(data: dict[str, Any]) -> str:
    value = data["request_id"]
    if not isinstance(value, str):
        raise InvalidRequest(f"request_id must be a string, got {_json_type(value)}")
    if not _REQUEST_ID.fullmatch(value):
        raise InvalidRequest(
            f"request_id {value[:100]!r} must be 1-80 characters of A-Z, a-z, 0-9, _ or -"
        )
    return value


def _payload(data: dict[str, Any]) -> dict[str, Any]:
    value = data["payload"]
    if not isinstance(value, dict):
        raise InvalidRequest(f"payload must be a JSON object, got {_json_type(value)}")
    return value


def _fail_at(data: dict[str, Any]) -> str:
    value = data["fail_at"]
    if value not in FAULT_STAGES or not isinstance(value, str):
        raise InvalidRequest(
            f"fail_at must be one of {', '.join(FAULT_STAGES)}, got {json.dumps(value)[:100]}"
        )
    return value


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)
