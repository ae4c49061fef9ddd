"""Messages between the Lambda runtime and its container processes.

A message is one ``multiprocessing.connection.Connection`` frame: a 4-byte header length, a
small JSON header, then the raw body (an event or a response payload, passed through as is).
"""

from __future__ import annotations

import json
import struct
from typing import Any

_HEADER_LENGTH = struct.Struct("!I")


def pack(header: dict[str, Any], body: bytes = b"") -> bytes:
    encoded = json.dumps(header, separators=(",", ":")).encode()
    return b"".join((_HEADER_LENGTH.pack(len(encoded)), encoded, body))


def unpack(message: bytes) -> tuple[dict[str, Any], bytes]:
    (length,) = _HEADER_LENGTH.unpack_from(message)
    end = _HEADER_LENGTH.size + length
    return json.loads(message[_HEADER_LENGTH.size : end]), message[end:]
