"""A port another process already holds, named: the error every local server raises."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager

OPTIONS = {"aws": "--aws-port", "api": "--api-port", "redis": "--redis-port"}


class PortInUse(OSError):
    """``part``'s port is taken; the message names both (an OSError, as a failed bind is)."""

    def __init__(self, part: str, port: int) -> None:
        option = OPTIONS.get(part)
        advice = f"choose another {option}, or 0 for a free one" if option else "choose another"
        super().__init__(errno.EADDRINUSE, f"the {part} port {port} is already in use ({advice})")
        self.part = part
        self.port = port

    def __str__(self) -> str:
        return str(self.strerror)


@contextmanager
def naming_the_port(part: str, port: int) -> Iterator[None]:
    """Turn a failed bind of ``port`` into ``PortInUse`` naming ``part`` and the port."""
    try:
        yield
    except PortInUse:
        raise
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise PortInUse(part, port) from error
        raise
