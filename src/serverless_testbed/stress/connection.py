"""The Redis connection options `testbed publish` and `testbed worker` share.

``--redis`` takes ``HOST:PORT``, ``redis://[user:password@]host:port[/db]`` or ``rediss://...``
(TLS); ``--tls`` turns TLS on for the first two forms (ElastiCache in-transit encryption). The
password comes from the URL or from the environment variable named by ``--redis-password-env``
(default REDIS_PASSWORD), never from a plain flag, and is never printed: use ``redacted``.
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from serverless_testbed.errors import UsageError

PASSWORD_ENV = "REDIS_PASSWORD"
_HOST_PORT = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[^:/\s]+):(?P<port>\d{1,5})$")


def add_redis_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument(
        "--redis",
        required=required,
        metavar="HOST:PORT|URL",
        help="Redis address: HOST:PORT, redis://[user:pass@]host:port[/db] or rediss://... (TLS)",
    )
    parser.add_argument(
        "--tls", action="store_true", help="connect with TLS (implied by a rediss:// URL)"
    )
    parser.add_argument(
        "--tls-ca-file",
        metavar="PEM",
        help="CA bundle to verify the server's TLS certificate with (default: the system's)",
    )
    parser.add_argument(
        "--redis-password-env",
        default=PASSWORD_ENV,
        metavar="NAME",
        help=f"environment variable holding the Redis password (default {PASSWORD_ENV}); "
        "a password in the URL wins",
    )


@dataclass(frozen=True, slots=True)
class RedisTarget:
    url: str  # may hold the password: never print it, print ``redacted``
    redacted: str
    ca_file: str | None = None

    def client(self, **options: Any) -> Any:
        import redis

        if self.ca_file and self.url.startswith("rediss://"):
            options.setdefault("ssl_ca_certs", self.ca_file)
        return redis.Redis.from_url(self.url, **options)


def redis_target(
    address: str,
    *,
    tls: bool = False,
    password_env: str = PASSWORD_ENV,
    ca_file: str | None = None,
) -> RedisTarget:
    """Parse ``--redis``; raise UsageError (one line, password-free) when it makes no sense."""
    text = address.strip()
    match = _HOST_PORT.match(text)
    if match:
        text = f"redis://{match['host']}:{match['port']}"
    parts = urlsplit(text)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise UsageError(
            f"--redis: expected HOST:PORT, redis://host:port or rediss://host:port "
            f"(got {_redact(parts) if parts.hostname else _scrub(address)!r})"
        )
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        raise UsageError(f"--redis: invalid port in {_scrub(address)!r}") from None
    scheme = "rediss" if tls or parts.scheme == "rediss" else "redis"
    netloc = parts.netloc
    if parts.password is None and os.environ.get(password_env):
        user = quote(parts.username or "", safe="")
        netloc = f"{user}:{quote(os.environ[password_env], safe='')}@{netloc}"
    url = urlunsplit((scheme, netloc, parts.path, parts.query, ""))
    if ca_file is not None and not os.path.isfile(ca_file):
        raise UsageError(f"--tls-ca-file: no such file: {ca_file}")
    return RedisTarget(url=url, redacted=_redact(urlsplit(url)), ca_file=ca_file)


def target_from_args(args: argparse.Namespace) -> RedisTarget:
    return redis_target(
        args.redis,
        tls=args.tls,
        password_env=args.redis_password_env,
        ca_file=args.tls_ca_file,
    )


def _redact(parts: Any) -> str:
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    user = f"{parts.username}:***@" if parts.password else ""
    return urlunsplit((parts.scheme, f"{user}{host}{port}", parts.path, "", ""))


def _scrub(text: str) -> str:
    return re.sub(r"//[^@/]*@", "//***@", text)
