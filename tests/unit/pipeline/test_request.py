"""POST /run body validation (pipeline/request.py)."""

from __future__ import annotations

import json

import pytest

from serverless_testbed.pipeline.contract import MAX_BODY_BYTES, MAX_JSON_DEPTH
from serverless_testbed.pipeline.request import InvalidRequest, RunRequest, parse_run_request


def test_an_empty_object_gets_a_fresh_request_id_and_an_empty_payload() -> None:
    request = parse_run_request(b"{}", new_request_id=lambda: "fresh")

    assert request == RunRequest(request_id="fresh", payload={}, fail_at=None)
    assert request.to_input() == {"request_id": "fresh", "payload": {}}


def test_the_default_request_id_is_a_uuid4_hex() -> None:
    request_id = parse_run_request("{}").request_id

    assert len(request_id) == 32
    int(request_id, 16)


def test_every_field_is_kept_in_the_state_machine_input() -> None:
    body = {"request_id": "r-1_A", "payload": {"n": [1, 2]}, "fail_at": "worker"}

    assert parse_run_request(json.dumps(body)).to_input() == body


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (None, "empty"),
        (b"", "empty"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "UTF-8"),
        (b"NaN", "not valid JSON"),
        (b'{"payload": {"x": Infinity}}', "not valid JSON"),
        (b'["a", "list"]', "must be a JSON object, got an array"),
        (b"42", "must be a JSON object, got a number"),
        (b"null", "must be a JSON object, got null"),
        (b'{"surprise": 1, "payload": {}}', "unknown field(s) surprise"),
        (b'{"request_id": 7}', "request_id must be a string, got a number"),
        (b'{"request_id": ""}', "request_id"),
        (b'{"request_id": "has spaces in it"}', "request_id 'has spaces in it'"),
        (b'{"request_id": "trailing-newline\\n"}', "request_id"),
        (json.dumps({"request_id": "x" * 81}).encode(), "1-80 characters"),
        (b'{"payload": "not an object"}', "payload must be a JSON object, got a string"),
        (b'{"payload": null}', "payload must be a JSON object, got null"),
        (b'{"fail_at": "nowhere"}', 'fail_at must be one of dispatcher, worker, got "nowhere"'),
        (b'{"fail_at": ["worker"]}', "fail_at must be one of"),
    ],
)
def test_a_bad_body_is_a_400_that_names_what_is_wrong(body: bytes | None, words: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_run_request(body)

    assert refused.value.status == 400
    assert refused.value.error == "InvalidRequest"
    assert words in refused.value.message


def test_a_body_over_the_limit_is_a_413_before_it_is_parsed() -> None:
    body = b"{" + b" " * MAX_BODY_BYTES + b"}"

    with pytest.raises(InvalidRequest) as refused:
        parse_run_request(body)

    assert refused.value.status == 413
    assert refused.value.error == "RequestTooLarge"
    assert str(MAX_BODY_BYTES) in refused.value.message


def test_a_body_at_the_limit_is_accepted() -> None:
    body = b'{"payload": {"blob": "' + b"x" * (MAX_BODY_BYTES - 25) + b'"}}'
    assert len(body) == MAX_BODY_BYTES

    assert len(parse_run_request(body).payload["blob"]) == MAX_BODY_BYTES - 25


def _nested(levels: int) -> bytes:
    """A body whose arrays/objects nest ``levels`` deep, the body's own object included."""
    inner = "[" * (levels - 2) + "]" * (levels - 2)
    return ('{"payload": {"a": ' + inner + "}}").encode()


def test_nesting_up_to_the_documented_depth_is_accepted() -> None:
    request = parse_run_request(_nested(MAX_JSON_DEPTH))

    assert isinstance(request.payload["a"], list)


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 1, 600, 100_000])
def test_deeper_nesting_is_refused_with_400_before_parsing(levels: int) -> None:
    body = _nested(levels)[:MAX_BODY_BYTES]

    with pytest.raises(InvalidRequest, match=f"more than {MAX_JSON_DEPTH} levels") as refused:
        parse_run_request(body)
    assert refused.value.status == 400


def test_brackets_inside_strings_are_not_nesting() -> None:
    text = "[{" * 200 + '\\" still a string ' + "]}" * 200
    request = parse_run_request(json.dumps({"payload": {"text": text}}))

    assert request.payload["text"] == text
