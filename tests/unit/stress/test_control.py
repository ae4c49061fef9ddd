"""The worker's control channel: only signed, fresh, first-seen messages are obeyed."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from serverless_testbed.stress.control import ControlHandler, ControlVerifier
from serverless_testbed.stress.protocol import (
    CONTROL_MAX_AGE_MS,
    ControlRejected,
    sign_control,
)

SECRET = "unit-secret"


def handler(allow: bool = False, secret: str | None = SECRET) -> tuple[ControlHandler, list[int]]:
    reloads: list[int] = []
    return (
        ControlHandler(ControlVerifier(secret), lambda: reloads.append(1), allow_remote_exec=allow),
        reloads,
    )


def test_a_signed_update_config_reloads_the_config() -> None:
    control, reloads = handler()
    control.handle(sign_control("update_config", {"sha256": "x"}, SECRET))
    assert reloads == [1]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (json.dumps({"cmd": "update_config", "args": {}}), "malformed or unsigned"),
        (sign_control("update_config", {}, "wrong-secret"), "bad signature"),
        (sign_control("update_config", {}, SECRET, now_ms=1_000), "stale"),
    ],
    ids=["unsigned", "forged", "stale"],
)
def test_unsigned_forged_and_stale_messages_are_rejected_and_logged(
    raw: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    control, reloads = handler()
    with caplog.at_level(logging.WARNING):
        control.handle(raw)
    assert reloads == []
    assert reason in caplog.text


def test_a_replayed_message_is_rejected_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    control, reloads = handler()
    message = sign_control("update_config", {}, SECRET)
    with caplog.at_level(logging.WARNING):
        control.handle(message)
        control.handle(message)
    assert reloads == [1]
    assert "replayed" in caplog.text


def test_a_tampered_body_fails_the_signature() -> None:
    body = json.loads(sign_control("execute_bash", {"script": "true"}, SECRET))
    body["args"]["script"] = "rm -rf /tmp/x"
    with pytest.raises(ControlRejected, match="bad signature"):
        ControlVerifier(SECRET).verify(json.dumps(body))


def test_without_a_secret_every_message_is_rejected() -> None:
    with pytest.raises(ControlRejected, match="no control secret"):
        ControlVerifier(None).verify(sign_control("update_config", {}, SECRET))


def test_nonces_are_forgotten_once_their_messages_could_no_longer_be_fresh() -> None:
    verifier = ControlVerifier(SECRET)
    verifier.verify(sign_control("update_config", {}, SECRET, now_ms=0), now_ms=0)
    assert len(verifier.nonces.seen) == 1
    later = 3 * CONTROL_MAX_AGE_MS
    verifier.verify(sign_control("update_config", {}, SECRET, now_ms=later), now_ms=later)
    assert len(verifier.nonces.seen) == 1


def test_execute_bash_is_refused_without_allow_remote_exec(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    marker = tmp_path / "touched"
    control, _ = handler(allow=False)
    with caplog.at_level(logging.WARNING):
        control.handle(sign_control("execute_bash", {"script": f"touch {marker}"}, SECRET))
    assert not marker.exists()
    assert "refused" in caplog.text and control.handled == []


def test_a_signed_execute_bash_runs_when_allowed(tmp_path: Path) -> None:
    marker = tmp_path / "touched"
    control, _ = handler(allow=True)
    control.handle(sign_control("execute_bash", {"script": f"touch {marker}"}, SECRET))
    assert marker.exists()
    assert control.handled == ["execute_bash"]


def test_reboot_and_terminate_are_refused_without_allow_remote_exec() -> None:
    control, _ = handler(allow=False)
    control.reboot_command = control.terminate_command = "false-command-never-run"
    control.handle(sign_control("reboot_instance", {}, SECRET))
    control.handle(sign_control("terminate_instance", {}, SECRET))
    assert control.handled == []
