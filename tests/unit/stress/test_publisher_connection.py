"""--redis / --tls / password handling shared by `testbed publish` and `testbed worker`."""

from __future__ import annotations

import pytest

from serverless_testbed.errors import UsageError
from serverless_testbed.stress.connection import redis_target


@pytest.mark.parametrize(
    ("address", "tls", "url"),
    [
        ("localhost:6379", False, "redis://localhost:6379"),
        ("localhost:6379", True, "rediss://localhost:6379"),
        ("redis://cache.example:6380/2", False, "redis://cache.example:6380/2"),
        ("redis://cache.example:6380", True, "rediss://cache.example:6380"),
        ("rediss://cache.example:6380", False, "rediss://cache.example:6380"),
        ("[::1]:6379", False, "redis://[::1]:6379"),
    ],
)
def test_addresses_become_urls_and_tls_switches_the_scheme(
    address: str, tls: bool, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_PASSWORD", raising=False)
    target = redis_target(address, tls=tls)
    assert target.url == target.redacted == url


def test_the_password_comes_from_the_environment_and_is_never_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MY_REDIS_SECRET", "p@ss/word")
    target = redis_target("cache:6379", tls=True, password_env="MY_REDIS_SECRET")
    assert target.url == "rediss://:p%40ss%2Fword@cache:6379"
    assert target.redacted == "rediss://:***@cache:6379"


def test_a_password_in_the_url_wins_and_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_PASSWORD", "from-env")
    target = redis_target("redis://app:in-url@cache:6379")
    assert target.url == "redis://app:in-url@cache:6379"
    assert target.redacted == "redis://app:***@cache:6379"


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("cache", "--redis: expected HOST:PORT, redis://host:port or rediss://host:port"),
        ("http://cache:80", "--redis: expected HOST:PORT"),
        ("redis://cache:99999", "--redis: invalid port in 'redis://cache:99999'"),
        ("redis://u:secret@cache:x", "--redis: invalid port in 'redis://***@cache:x'"),
    ],
)
def test_bad_addresses_are_usage_errors_without_the_password(address: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        redis_target(address)
    assert str(caught.value).startswith(message)
    assert "secret" not in str(caught.value)
