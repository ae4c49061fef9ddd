"""What the publisher and the workers say to each other through Redis.

Keys (``prefix`` defaults to ``dst``; the first four are the seed design's own):
    {prefix}_cfg                 string: config.json, canonical JSON (sorted keys, no spaces)
    {prefix}_notify              pub/sub channel: signed control messages
    {prefix}_q{n}                list: batch descriptors for consumer thread n (RPUSH / BLMOVE)
    {prefix}_stats               pub/sub channel: live per-worker snapshots, once a second
    {prefix}_tasks               hash: task id -> task spec JSON (written before any descriptor)
    {prefix}_workers             hash: worker id -> last heartbeat (epoch ms)
    {prefix}_inflight:{worker}   list: descriptors a worker has taken and not yet finished
    {prefix}_totals:{worker}     hash: "{task}:{counter}" -> cumulative count (exact, for summaries)
    {prefix}_nonce:{nonce}       string: when a control message was first delivered (Redis ms),
                                 expiring once the message can no longer be fresh

A descriptor stands for ``count`` operations of one task, indices ``first`` ..
``first + count - 1``, all intended for the slot that starts at ``at_ms`` and lasts
``slot_ms``. Workers expand it deterministically from the task spec, so the publisher never
writes one entry per request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

DEFAULT_PREFIX = "dst"
SLOT_MS = 10
CONTROL_SECRET_ENV = "TESTBED_CONTROL_SECRET"
CONTROL_MAX_AGE_MS = 30_000  # older signed messages are replays


def cfg_key(prefix: str) -> str:
    return f"{prefix}_cfg"


def notify_channel(prefix: str) -> str:
    return f"{prefix}_notify"


def queue_key(prefix: str, n: int) -> str:
    return f"{prefix}_q{n}"


def stats_channel(prefix: str) -> str:
    return f"{prefix}_stats"


def tasks_key(prefix: str) -> str:
    return f"{prefix}_tasks"


def workers_key(prefix: str) -> str:
    return f"{prefix}_workers"


def inflight_key(prefix: str, worker_id: str) -> str:
    return f"{prefix}_inflight:{worker_id}"


def totals_key(prefix: str, worker_id: str) -> str:
    return f"{prefix}_totals:{worker_id}"


def nonce_key(prefix: str, nonce: str) -> str:
    return f"{prefix}_nonce:{nonce}"


def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Descriptor:
    task: str
    first: int
    count: int
    at_ms: float
    slot_ms: int = SLOT_MS

    def encode(self) -> str:
        return canonical_json(
            {"t": self.task, "i": self.first, "n": self.count, "at": self.at_ms, "w": self.slot_ms}
        )

    @classmethod
    def decode(cls, raw: str | bytes) -> Descriptor:
        d = json.loads(raw)
        return cls(task=d["t"], first=d["i"], count=d["n"], at_ms=d["at"], slot_ms=d["w"])


class ControlRejected(Exception):
    """A control message that is unsigned, forged, stale or replayed."""


def sign_control(command: str, args: dict, secret: str, now_ms: float | None = None) -> str:
    """A control message for {prefix}_notify, signed with HMAC-SHA256 over its canonical body."""
    body = {
        "cmd": command,
        "args": args,
        "ts": int(now_ms if now_ms is not None else time.time() * 1000),
        "nonce": secrets.token_hex(16),
    }
    body["sig"] = _signature(body, secret)
    return canonical_json(body)


def verify_control(
    raw: str | bytes, secret: str, seen_nonces: set[str], now_ms: float | None = None
) -> tuple[str, dict]:
    """Return (command, args) of a genuine, fresh, first-seen message; raise ControlRejected."""
    try:
        body = json.loads(raw)
        signature = body.pop("sig")
        command, args, ts, nonce = body["cmd"], body["args"], body["ts"], body["nonce"]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ControlRejected(f"malformed or unsigned control message ({error!r})") from None
    if not hmac.compare_digest(str(signature), _signature(body, secret)):
        raise ControlRejected(f"bad signature on control message {command!r}")
    now = now_ms if now_ms is not None else time.time() * 1000
    if abs(now - ts) > CONTROL_MAX_AGE_MS:
        raise ControlRejected(f"stale control message {command!r} (ts {ts}, now {int(now)})")
    if nonce in seen_nonces:
        raise ControlRejected(f"replayed control message {command!r} (nonce {nonce})")
    seen_nonces.add(nonce)
    return command, args


def _signature(body: dict, secret: str) -> str:
    return hmac.new(secret.encode(), canonical_json(body).encode(), hashlib.sha256).hexdigest()
