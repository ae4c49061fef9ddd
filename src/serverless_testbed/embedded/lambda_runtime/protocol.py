"""Messages between the Lambda runtime and its container processes.

A message is one ``multiprocessing.connection.Connection`` frame: a 4-byte length, a few
text fields (separated by the ASCII unit separator), then the raw body (an event or a
response payload, passed through untouched). Plain fields instead of a JSON header: this
is on every invoke's path, twice each way.

    runtime -> container   invoke: request id, trace header, deadline (epoch ms), invoked ARN
    container -> runtime   ready:  "ok", hidden init ms (what the zygote's preloads saved it,
                                   see init_cost.py), epoch s the zygote could first fork
                                   | "error" + the error object as body
                           result: "ok" | "error", duration ms, max RSS kB + the payload
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

SEPARATOR = "\x1f"
_LENGTH = struct.Struct("!I")


def pack(fields: Sequence[str], body: bytes = b"") -> bytes:
    head = SEPARATOR.join(fields).encode()
    return b"".join((_LENGTH.pack(len(head)), head, body))


def unpack(message: bytes) -> tuple[list[str], bytes]:
    (length,) = _LENGTH.unpack_from(message)
    end = _LENGTH.size + length
    return message[_LENGTH.size : end].decode().split(SEPARATOR), message[end:]
