"""The worker's side of the control channel {prefix}_notify.

Every message must pass ``protocol.verify_control`` (HMAC-SHA256 of a shared secret, a
timestamp within ``CONTROL_MAX_AGE_MS``, a nonce never seen). Nonces are kept only as long as
a message carrying them could still be fresh, so memory stays bounded. Without a secret every
message is rejected.

Every worker receives every message (pub/sub), so a nonce seen before is not by itself a
replay. ``RedisNonceLedger`` records each nonce in Redis at its first delivery to any worker
(``{prefix}_nonce:{nonce}``, SET NX with the freshness window as expiry, the time from Redis's
own clock): a worker accepts an already recorded nonce only if it was listening before that
first delivery, i.e. it is receiving the original. A message captured earlier and replayed to
a worker started since is refused, though still fresh.

``execute_bash``, ``reboot_instance`` and ``terminate_instance`` run code on the worker's
machine: they are refused unless the worker was started with ``--allow-remote-exec``. Scripts
and commands are logged by length/exit code, never echoed with the secret.
"""

from __future__ import annotations

import json
import logging
import shlex
import subprocess
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from serverless_testbed.stress.protocol import (
    CONTROL_MAX_AGE_MS,
    ControlRejected,
    nonce_key,
    verify_control,
)

log = logging.getLogger("testbed.worker.control")

REMOTE_EXEC = frozenset({"execute_bash", "reboot_instance", "terminate_instance"})
DEFAULT_BASH_TIMEOUT_S = 300.0


class NonceMemory:
    """The nonces of recent messages; forgets those older than twice the freshness window."""

    def __init__(self, keep_ms: float = 2 * CONTROL_MAX_AGE_MS) -> None:
        self.keep_ms = keep_ms
        self.seen: set[str] = set()
        self._order: deque[tuple[float, str]] = deque()

    def remember(self, nonce: str, now_ms: float) -> None:
        self._order.append((now_ms, nonce))

    def prune(self, now_ms: float) -> None:
        while self._order and now_ms - self._order[0][0] > self.keep_ms:
            self.seen.discard(self._order.popleft()[1])


# Records the nonce with Redis's clock unless present; returns {1, now} for a first delivery,
# {0, first delivery} otherwise. replicate_commands lets Redis 6 write after TIME (7 always does).
_FIRST_DELIVERY = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('SET', KEYS[1], now, 'NX', 'PX', ARGV[1]) then return {1, now} end
return {0, tonumber(redis.call('GET', KEYS[1]) or now)}
"""


class RedisNonceLedger:
    """The nonces every worker of a prefix has accepted, in Redis, expiring with freshness."""

    def __init__(self, client: Any, prefix: str, keep_ms: float = 2 * CONTROL_MAX_AGE_MS) -> None:
        self._client = client
        self._prefix = prefix
        self._keep_ms = int(keep_ms)
        self._script = client.register_script(_FIRST_DELIVERY)
        self.listening_since_ms: int | None = None

    def start_listening(self) -> None:
        """Call just before subscribing: deliveries from now on reach this worker."""
        seconds, micros = self._client.time()
        self.listening_since_ms = int(seconds) * 1000 + int(micros) // 1000

    def check(self, nonce: str, command: str) -> None:
        """Raise ControlRejected unless this delivery can be the original message."""
        first, first_delivery_ms = self._script(
            keys=[nonce_key(self._prefix, nonce)], args=[self._keep_ms]
        )
        if first:
            return
        since = self.listening_since_ms
        if since is None or int(first_delivery_ms) < since:
            raise ControlRejected(
                f"replayed control message {command!r} (nonce {nonce} first delivered "
                "before this worker listened)"
            )


class ControlVerifier:
    def __init__(self, secret: str | None, ledger: RedisNonceLedger | None = None) -> None:
        self.secret = secret
        self.nonces = NonceMemory()
        self.ledger = ledger

    def verify(self, raw: str | bytes, now_ms: float | None = None) -> tuple[str, dict]:
        """(command, args) of a genuine message; raise ControlRejected otherwise."""
        now = now_ms if now_ms is not None else time.time() * 1000
        if not self.secret:
            raise ControlRejected("no control secret configured: every control message refused")
        self.nonces.prune(now)
        command, args = verify_control(raw, self.secret, self.nonces.seen, now)
        nonce = json.loads(raw)["nonce"]
        self.nonces.remember(nonce, now)
        if self.ledger is not None:
            self.ledger.check(nonce, command)
        return command, args


@dataclass
class ControlHandler:
    """Verifies and dispatches control messages; one log line per message."""

    verifier: ControlVerifier
    update_config: Callable[[], None]
    allow_remote_exec: bool = False
    reboot_command: str = "sudo reboot"
    terminate_command: str = "sudo shutdown -h now"
    handled: list[str] = field(default_factory=list)  # commands accepted, in order

    def handle(self, raw: str | bytes) -> None:
        try:
            command, args = self.verifier.verify(raw)
        except ControlRejected as rejected:
            log.warning("control message rejected: %s", rejected)
            return
        if command in REMOTE_EXEC and not self.allow_remote_exec:
            log.warning(
                "control command %r refused: remote execution is off "
                "(start the worker with --allow-remote-exec to allow it)",
                command,
            )
            return
        if command == "update_config":
            log.info("control: update_config")
            self.update_config()
        elif command == "execute_bash":
            self._execute_bash(args)
        elif command == "reboot_instance":
            self._system(command, self.reboot_command)
        elif command == "terminate_instance":
            self._system(command, self.terminate_command)
        else:
            log.warning("control command %r unknown: ignored", command)
            return
        self.handled.append(command)

    def _execute_bash(self, args: dict) -> None:
        script = args.get("script")
        if not isinstance(script, str):
            log.warning("control execute_bash: 'script' must be a string: ignored")
            return
        timeout = float(args.get("timeout", DEFAULT_BASH_TIMEOUT_S))
        log.info("control execute_bash: running a %d-character script", len(script))
        try:
            # bash by definition runs the script; it is signed and explicitly allowed.
            done = subprocess.run(
                ["bash", "-c", script], capture_output=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            log.warning("control execute_bash: timed out after %.0f s", timeout)
            return
        log.info("control execute_bash: exit code %d", done.returncode)

    def _system(self, command: str, line: str) -> None:
        log.warning("control %s: running %r", command, line)
        done = subprocess.run(shlex.split(line), capture_output=True, check=False)
        log.info("control %s: exit code %d", command, done.returncode)
