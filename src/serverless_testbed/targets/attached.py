"""A local stack that already runs in another process (`testbed up`), used, not started.

`testbed up --json FILE` writes the stack's endpoints and outputs to FILE; a command given
that file (``TargetOptions.attach``) works with that stack, so state that outlives one
command (a delayed task still waiting, for example) can be seen and changed by the next.
The embedded stack applies template.yaml straight through each service's API, with no
CloudFormation stack to describe, which is why its outputs come from the file.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import boto3

from serverless_testbed import lambda_api
from serverless_testbed.deployment import Deployment, deployment_from_outputs
from serverless_testbed.emulation.defaults import DUMMY_CREDENTIALS
from serverless_testbed.emulation.description import read_description
from serverless_testbed.errors import UsageError
from serverless_testbed.targets.stack import Target

REACHABLE_TIMEOUT_S = 3.0


class AttachedStack:
    """A running local stack described by `testbed up --json`; close() leaves it running."""

    def __init__(
        self,
        deployment: Deployment,
        urls: dict[str, str],
        wait_scale: float,
        resources: dict[str, str] | None = None,
    ) -> None:
        self._deployment = deployment
        self._resources = dict(resources or {})
        self._wait_scale = wait_scale
        self.stack_name = deployment.stack_name
        self.region = deployment.region
        self.urls = dict(urls)
        self._credentials = dict(DUMMY_CREDENTIALS)

    @classmethod
    def read(cls, target: Target, path: Path) -> AttachedStack:
        described = read_description(path)
        written_for = described.get("target", "embedded")
        if written_for != target:
            raise UsageError(f"{path} describes a {written_for} stack, not --target {target}")
        urls = described.get("endpoints")
        outputs = described.get("outputs")
        if not isinstance(urls, dict) or "aws" not in urls or not isinstance(outputs, dict):
            raise UsageError(
                f"{path} has no endpoints.aws or outputs: write it with `testbed up --json FILE`"
            )
        _check_reachable(urls["aws"], path)
        region = str(described.get("region", ""))
        credentials = _credentials(described.get("credentials"), path)
        session = boto3.Session(
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            region_name=region,
        )
        deployment = deployment_from_outputs(
            outputs,
            stack_name=str(described.get("stack", "")),
            target=target,
            region=region,
            session=session,
            endpoint_url=urls["aws"],
        )
        resources = described.get("resources")
        attached = cls(
            deployment,
            urls,
            float(described.get("wait_scale", 1.0)),
            {str(k): str(v) for k, v in resources.items()} if isinstance(resources, dict) else None,
        )
        attached._credentials = credentials
        return attached

    @property
    def deployment(self) -> Deployment:
        return self._deployment

    @property
    def wait_scale(self) -> float:
        return self._wait_scale

    def client(self, service: str) -> Any:
        return self._deployment.client(service)

    def client_environment(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.urls["aws"],
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            **self._credentials,
        }

    def resource_ids(self) -> dict[str, str]:
        """As `testbed up --json` wrote them; from an older file, the functions named by the
        outputs (``<LogicalId>Name`` -> its value)."""
        if self._resources:
            return dict(self._resources)
        return {
            key.removesuffix("Name"): value
            for key, value in self._deployment.outputs().items()
            if key.endswith("FunctionName")
        }

    @contextmanager
    def event_source_paused(self, function_name: str, timeout_s: float = 60.0) -> Iterator[None]:
        with lambda_api.event_source_paused(self.client("lambda"), function_name, timeout_s):
            yield

    def logs(self, function_name: str) -> list[str]:
        """What the stack's CloudWatch Logs hold (the embedded runtime keeps its lines in the
        process that runs it, so an attached embedded stack shows none here)."""
        return lambda_api.function_log_lines(self.client("logs"), function_name)

    def deploy(self, stack_name: str, parameters: dict[str, str] | None = None) -> Deployment:
        raise UsageError("an attached stack is used as it is; deploy from the process running it")

    def close(self) -> None:
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _credentials(described: Any, path: Path) -> dict[str, str]:
    """The stack's AWS credentials as the file holds them (the embedded stack accepts no
    others); dummy ones when the file has none (a LocalStack takes any)."""
    if described is None:
        return dict(DUMMY_CREDENTIALS)
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    if not isinstance(described, dict) or not all(
        isinstance(described.get(name), str) and described[name] for name in names
    ):
        raise UsageError(f"{path}: credentials must hold {' and '.join(names)}")
    return {name: described[name] for name in names}


def _check_reachable(url: str, path: Path) -> None:
    try:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=REACHABLE_TIMEOUT_S):
            pass
    except urllib.error.HTTPError:
        return  # something answers: the server runs
    except (urllib.error.URLError, OSError) as error:
        raise UsageError(
            f"no stack answers at {url} (from {path}): is `testbed up` still running? ({error})"
        ) from None
