"""The reliable queue: take, ack with exact totals, heartbeat, reclaim from dead workers.

Consumer ``n`` of worker ``W`` moves a descriptor from ``{prefix}_q{n}`` to its own in-flight
list ``{prefix}_inflight:W:q{n}`` (BLMOVE), executes it, then acks it with one Lua script that
removes it from the in-flight list AND adds the descriptor's counts to ``{prefix}_totals:W``,
only if the removal happened. So:

- a worker killed mid-descriptor leaves it in its in-flight list; another worker, seeing the
  dead worker's heartbeat older than ``dead_after_ms``, moves it back to the front of the queue
  (``reclaim``, atomic in one script that re-checks the heartbeat). Its operations may run a
  second time (at-least-once execution), but
- counts are added only at ack, once per descriptor, by the one worker that still owned it: a
  worker that was declared dead and comes back finds its entry gone and adds nothing. Totals
  stay exact: scheduled == executed + failed once every descriptor is acked.

Heartbeats and the staleness check both use the server's clock (``TIME``), so clock skew
between worker machines cannot make a live worker look dead.
"""

from __future__ import annotations

from typing import Any

from serverless_testbed.stress.protocol import inflight_key, queue_key, workers_key

_NOW_MS = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) "

HEARTBEAT = _NOW_MS + "redis.call('HSET', KEYS[1], ARGV[1], now) return now"

ACK = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
for i = 2, #ARGV, 2 do
  if string.find(ARGV[i + 1], '.', 1, true) then
    redis.call('HINCRBYFLOAT', KEYS[2], ARGV[i], ARGV[i + 1])
  else
    redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1])
  end
end
return 1
"""

# KEYS: workers hash, in-flight list, target queue. ARGV: worker id, dead-after ms.
RECLAIM = (
    _NOW_MS
    + """
local beat = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if now - beat < tonumber(ARGV[2]) then return -1 end
local moved = 0
while redis.call('LMOVE', KEYS[2], KEYS[3], 'RIGHT', 'LEFT') do moved = moved + 1 end
return moved
"""
)


def consumer_inflight_key(prefix: str, worker_id: str, n: int) -> str:
    return f"{inflight_key(prefix, worker_id)}:q{n}"


class ReliableQueue:
    """The Redis side of one worker's consumers (thread-safe: redis-py pools connections)."""

    def __init__(self, client: Any, prefix: str, worker_id: str) -> None:
        self.client = client
        self.prefix = prefix
        self.worker_id = worker_id
        self._heartbeat = client.register_script(HEARTBEAT)
        self._ack = client.register_script(ACK)
        self._reclaim = client.register_script(RECLAIM)

    def take(self, n: int, timeout_s: float) -> bytes | None:
        """Block up to ``timeout_s`` for the next descriptor of queue ``n``; keep it in flight."""
        return self.client.blmove(
            queue_key(self.prefix, n),
            consumer_inflight_key(self.prefix, self.worker_id, n),
            timeout_s,
            "LEFT",
            "RIGHT",
        )

    def ack(self, n: int, raw: bytes, totals: dict[str, int | float]) -> bool:
        """Remove ``raw`` from flight and add ``totals``; False (nothing added) if reclaimed."""
        argv: list[Any] = [raw]
        for name, value in totals.items():
            argv += [name, repr(float(value)) if isinstance(value, float) else str(value)]
        keys = [
            consumer_inflight_key(self.prefix, self.worker_id, n),
            f"{self.prefix}_totals:{self.worker_id}",
        ]
        return bool(self._ack(keys=keys, args=argv))

    def heartbeat(self) -> int:
        """Record that this worker lives (server time, ms); registers it in {prefix}_workers."""
        return int(self._heartbeat(keys=[workers_key(self.prefix)], args=[self.worker_id]))

    def release(self, n: int, threads: int) -> int:
        """Put this worker's own in-flight descriptors of consumer ``n`` back (graceful stop)."""
        return self._move_back(consumer_inflight_key(self.prefix, self.worker_id, n), n, threads)

    def reclaim_dead(self, dead_after_ms: int, threads: int, now_ms: int) -> int:
        """Move every dead worker's in-flight descriptors back to the front of a queue.

        ``now_ms`` (server time, e.g. from ``heartbeat``) only pre-selects the candidates; the
        script re-checks each one atomically.
        """
        moved = 0
        for raw_id, raw_beat in self.client.hgetall(workers_key(self.prefix)).items():
            worker = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
            if worker == self.worker_id or now_ms - int(float(raw_beat)) < dead_after_ms:
                continue
            pattern = f"{inflight_key(self.prefix, worker)}:q*"
            for raw_key in self.client.scan_iter(match=pattern, count=100):
                key = raw_key.decode() if isinstance(raw_key, bytes) else raw_key
                n = _queue_number(key)
                keys = [workers_key(self.prefix), key, queue_key(self.prefix, n % threads)]
                result = int(self._reclaim(keys=keys, args=[worker, dead_after_ms]))
                moved += max(result, 0)
        return moved

    def _move_back(self, key: str, n: int, threads: int) -> int:
        moved = 0
        target = queue_key(self.prefix, n % max(threads, 1))
        while self.client.lmove(key, target, "RIGHT", "LEFT") is not None:
            moved += 1
        return moved


def _queue_number(inflight: str) -> int:
    suffix = inflight.rsplit(":q", 1)[-1]
    return int(suffix) if suffix.isdigit() else 0
