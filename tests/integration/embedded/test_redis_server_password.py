"""The Redis server's password reaches it through its stdin: it is in no file (a server
killed with its owner leaves its directory behind) and not in the process list."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import redis

from serverless_testbed.embedded.redis_server import RedisServer


def test_the_password_is_required_and_in_no_file_or_argument() -> None:
    password = secrets.token_hex(16)
    with RedisServer(password=password) as server:
        assert server.pid is not None
        with pytest.raises(redis.AuthenticationError):
            redis.Redis.from_url(server.url).ping()
        assert redis.Redis.from_url(server.authenticated_url).ping()

        directory = Path(f"/proc/{server.pid}/cwd").resolve()  # the server's --dir
        files = [path for path in directory.rglob("*") if path.is_file()]
        assert files, f"nothing in {directory}: not the server's directory"
        assert all(password.encode() not in path.read_bytes() for path in files)
        assert password.encode() not in Path(f"/proc/{server.pid}/cmdline").read_bytes()
