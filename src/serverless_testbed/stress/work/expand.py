"""Deterministic expansion of a batch descriptor into the operations it stands for.

Operation ``i`` of a task depends only on the task spec (its resolved ``seed``, ``seeds``
weights, ``data`` and ``samples``) and on ``i``: never on which worker, thread or descriptor
split produced it. Every random number is a counter-based hash (SplitMix64's finaliser) of
(seed, index, purpose), and random bytes are SHAKE-128 of the same triple, so no PRNG state is
carried from one operation to the next.

Rules (the seed design's grammar):
- ``seeds`` = weights ``[w0, w1, ...]``: candidate seed ``k`` is ``seed + k`` (so with
  ``seed: 1, seeds: [2.2, 6.6]`` seed 1 is drawn 25% and seed 2 75% of the time). The draw
  for operation ``i`` hashes (task seed, i). Without ``seeds`` every operation uses ``seed``.
- key of operation ``i`` drawn with seed ``s``: 16 hex digits of hash(s, i). The same (s, i)
  gives the same key in every task, so a ``getItem`` task with the seed of an earlier
  ``updateItem`` task reads the items that task wrote.
- ``data``: a string is the literal value; an integer ``n`` is ``n`` random bytes; ``{"r": r,
  "len": m}`` makes the column name ``name + str(rand % r)`` with ``m`` random bytes.
- ``samples: k`` (k > 0): ``k`` payloads per seed are generated once; operation ``i`` uses
  payload ``rand % k`` (the fast path). ``samples: 0``: every operation gets fresh bytes.
- ``getItem``, ``deleteItem`` and ``query`` carry no item: only the key.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from serverless_testbed.stress.traffic import RandomColumn, TaskSpec

MASK64 = (1 << 64) - 1
_INDEX_MASK = (1 << 56) - 1
WRITES = frozenset({"updateItem", "putItem"})
# Purposes keep the hash streams for different choices of one operation independent.
_SEED_CHOICE, _KEY, _SAMPLE_PICK, _COLUMN = 1, 2, 3, 4

Value = str | bytes


def mix64(x: int) -> int:
    """SplitMix64's finaliser: a bijective, well-mixing 64-bit hash."""
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def rand(seed: int, index: int, purpose: int, base: int | None = None) -> int:
    """A 64-bit random number that depends only on (seed, index, purpose).

    ``base`` = ``mix64(seed)``, precomputed by callers in a hot loop. The purpose sits in the
    top byte, the index in the low 56 bits: distinct (index, purpose) -> distinct inputs ->
    distinct outputs (mix64 is a bijection).
    """
    if base is None:
        base = mix64(seed)
    if purpose > 0xFF:  # many data columns: fold the high part into the base (rare path)
        base = mix64(base ^ (purpose >> 8))
    return mix64(base ^ (index & _INDEX_MASK) ^ ((purpose & 0xFF) << 56))


def random_bytes(seed: int, index: int, purpose: int, length: int) -> bytes:
    return hashlib.shake_128(b"%d.%d.%d" % (seed, index, purpose)).digest(length)


@dataclass(frozen=True, slots=True)
class Operation:
    index: int
    action: str
    key: str
    item: dict[str, Value] | None  # column -> value, for updateItem / putItem only

    def encode(self) -> bytes:
        """A canonical byte form, for hashing the stream."""
        parts = [b"%d|%s|%s" % (self.index, self.action.encode(), self.key.encode())]
        for name, value in sorted((self.item or {}).items()):
            raw = value.encode() if isinstance(value, str) else value
            parts.append(b"%s=%s" % (name.encode(), raw.hex().encode()))
        return b"|".join(parts) + b"\n"


class Expander:
    """Turns indices of one task into operations; build once per task, reuse for every batch."""

    def __init__(self, spec: TaskSpec) -> None:
        self.spec = spec
        self.action = spec.action
        self.columns = list(spec.data.items())
        if spec.seeds:
            self.candidates = [spec.seed + k for k in range(len(spec.seeds))]
            total = sum(spec.seeds)
            self.cumulative = [w / total for w in itertools.accumulate(spec.seeds)]
        else:
            self.candidates = [spec.seed]
            self.cumulative = [1.0]
        self.bases = {seed: mix64(seed) for seed in self.candidates}
        self.task_base = mix64(spec.seed)
        self.writes = spec.action in WRITES
        self.samples: dict[int, list[dict[str, Value]]] = {}
        if self.writes and spec.samples > 0:
            for seed in self.candidates:
                # Sample j of seed s is the payload of the (negative, never used) index -1-j.
                self.samples[seed] = [self._payload(seed, -1 - j) for j in range(spec.samples)]

    def seed_for(self, index: int) -> int:
        if len(self.candidates) == 1:
            return self.candidates[0]
        u = rand(self.spec.seed, index, _SEED_CHOICE, self.task_base) / 2**64
        position = bisect.bisect_right(self.cumulative, u)
        return self.candidates[min(position, len(self.candidates) - 1)]

    def operation(self, index: int) -> Operation:
        seed = self.seed_for(index)
        base = self.bases[seed]
        key = f"{rand(seed, index, _KEY, base):016x}"
        item = None
        if self.writes:
            samples = self.samples.get(seed)
            if samples:
                item = samples[rand(seed, index, _SAMPLE_PICK, base) % len(samples)]
            else:
                item = self._payload(seed, index)
        return Operation(index, self.action, key, item)

    def operations(self, first: int, count: int) -> Iterator[Operation]:
        for index in range(first, first + count):
            yield self.operation(index)

    def _payload(self, seed: int, index: int) -> dict[str, Value]:
        item: dict[str, Value] = {}
        for position, (name, rule) in enumerate(self.columns):
            purpose = _COLUMN + position * 2
            if isinstance(rule, str):
                item[name] = rule
            elif isinstance(rule, RandomColumn):
                suffix = rand(seed, index, purpose, self.bases.get(seed)) % rule.r
                item[f"{name}{suffix}"] = random_bytes(seed, index, purpose + 1, rule.len)
            else:
                item[name] = random_bytes(seed, index, purpose + 1, rule)
        return item


def stream_digest(operations: Iterable[Operation]) -> str:
    """sha256 over operations in index order (sorts them first: any split gives the same)."""
    digest = hashlib.sha256()
    for operation in sorted(operations, key=lambda op: op.index):
        digest.update(operation.encode())
    return digest.hexdigest()
