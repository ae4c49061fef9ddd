"""What an emulated stack is, whichever engine runs it: the shape both local engines share."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any, ClassVar, Self

import boto3

from serverless_testbed.deployment import Deployment
from serverless_testbed.emulation.defaults import (
    DEFAULT_REGION,
    DEFAULT_STACK_NAME,
    DUMMY_CREDENTIALS,
    find_template,
)


class EmulatedStack:
    """Start with ``with`` (or start()/close()): each part registers its own stop on
    ``self._parts`` as it starts, and close() unwinds them in reverse, also after a failed
    start. Subclasses implement ``_start`` (which sets ``urls["aws"]``), ``client`` and
    ``deploy``."""

    target: ClassVar[str]

    def __init__(
        self,
        *,
        stack_name: str = DEFAULT_STACK_NAME,
        region: str = DEFAULT_REGION,
        template: str | Path | None = None,
        parameters: dict[str, str] | None = None,
    ) -> None:
        self.stack_name = stack_name
        self.region = region
        self.template = find_template(template)
        self.parameters = dict(parameters or {})
        self.urls: dict[str, str] = {}
        self._deployments: dict[str, Deployment] = {}
        self._clients: dict[str, Any] = {}
        self._session: boto3.Session | None = None
        self._parts = ExitStack()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> Self:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        parts, self._parts = self._parts, ExitStack()
        try:
            parts.close()
        finally:
            self._clients = {}

    @property
    def deployment(self) -> Deployment:
        return self._deployments[self.stack_name]

    @property
    def wait_scale(self) -> float:
        """How Step Functions Wait states are scaled (1: real time; only the embedded engine
        scales them)."""
        return 1.0

    @property
    def credentials(self) -> dict[str, str]:
        """AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY that this stack's endpoint accepts
        (the containers engine's LocalStack takes any: dummy ones)."""
        return dict(DUMMY_CREDENTIALS)

    def client_environment(self) -> dict[str, str]:
        """Environment for boto3 clients (and processes) to reach this stack."""
        return {
            "AWS_ENDPOINT_URL": self.urls["aws"],
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            **self.credentials,
        }

    def _new_session(self) -> boto3.Session:
        credentials = self.credentials
        self._session = boto3.Session(
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            region_name=self.region,
        )
        return self._session
