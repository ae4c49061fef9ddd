"""The containers target attached to a pipeline that already runs: `docker compose up` (whose
testbed service deployed template.yaml into LocalStack and serves POST /run), found by the
stack's CloudFormation outputs at ``aws_url``. Nothing is started, deployed or stopped.

``api_url`` replaces the base of the stack's ApiUrl output when clients reach the HTTP API
somewhere else than the serving process announced (another published port, another host).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Self
from urllib.parse import urlsplit

import boto3

from serverless_testbed import lambda_api
from serverless_testbed.deployment import Deployment, discover_deployment, stack_resource_ids
from serverless_testbed.emulation.defaults import (
    DEFAULT_REGION,
    DEFAULT_STACK_NAME,
    DUMMY_CREDENTIALS,
)
from serverless_testbed.errors import UsageError


class AttachedStack:
    target = "containers"

    def __init__(
        self,
        *,
        aws_url: str,
        api_url: str | None = None,
        redis_url: str | None = None,
        stack_name: str = DEFAULT_STACK_NAME,
        region: str = DEFAULT_REGION,
    ) -> None:
        self.stack_name = stack_name
        self.region = region
        self.urls: dict[str, str] = {"aws": checked_url("--aws-url", aws_url)}
        self.urls["stepfunctions"] = self.urls["aws"]
        if redis_url:
            self.urls["redis"] = redis_url
        self._api_url = checked_url("--api-url", api_url) if api_url else None
        self._session = boto3.Session(
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=region,
        )
        self._deployment: Deployment | None = None
        self._clients: dict[str, Any] = {}

    def start(self) -> Self:
        found = discover_deployment(
            self.stack_name,
            target=self.target,
            session=self._session,
            endpoint_url=self.urls["aws"],
        )
        if self._api_url:
            found = replace(found, api_url=rebased_api_url(found.api_url, self._api_url))
        self._deployment = found
        self.urls["api"] = found.api_url
        return self

    @property
    def deployment(self) -> Deployment:
        assert self._deployment is not None, "start the stack first"
        return self._deployment

    @property
    def wait_scale(self) -> float:
        return 1.0  # LocalStack cannot scale Wait states

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._session.client(service, endpoint_url=self.urls["aws"])
        return self._clients[service]

    def client_environment(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.urls["aws"],
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            **DUMMY_CREDENTIALS,
        }

    def resource_ids(self) -> dict[str, str]:
        return stack_resource_ids(self.client("cloudformation"), self.stack_name)

    @contextmanager
    def event_source_paused(self, function_name: str, timeout_s: float = 60.0) -> Iterator[None]:
        with lambda_api.event_source_paused(self.client("lambda"), function_name, timeout_s):
            yield

    def logs(self, function_name: str) -> list[str]:
        return lambda_api.function_log_lines(self.client("logs"), function_name)

    def deploy(self, stack_name: str, parameters: dict[str, str] | None = None) -> Deployment:
        raise UsageError(
            "an attached stack is served by the process that deployed it: run another "
            "`testbed serve --stack-name NAME` (or drop --aws-url to start containers here)"
        )

    def close(self) -> None:
        self._clients = {}

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def rebased_api_url(announced: str, base: str) -> str:
    """The stack's ApiUrl with scheme, host and port of ``base`` (its path kept, since it
    names the stack, the API and the stage): http://0.0.0.0:8080/testbed/HttpApi/dev with
    http://127.0.0.1:4567 gives http://127.0.0.1:4567/testbed/HttpApi/dev."""
    path = urlsplit(announced).path
    return base.rstrip("/") + path


def checked_url(option: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{option} {url!r}: expected http(s)://HOST[:PORT]")
    if parts.path.strip("/"):
        raise UsageError(f"{option} {url!r}: give the base URL only, without a path")
    return url.rstrip("/")
