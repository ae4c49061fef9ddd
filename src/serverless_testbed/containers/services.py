"""One small class per container, in testcontainers-python's style: a pinned image, the
settings the pipeline needs, and a wait strategy on real readiness (not on a log line).

Imports testcontainers: import this module only when a Docker engine is to be used.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

from testcontainers.community.redis import RedisContainer as _CommunityRedisContainer
from testcontainers.core.config import ConnectionMode, testcontainers_config
from testcontainers.core.container import DockerContainer
from testcontainers.core.labels import LABEL_SESSION_ID, SESSION_ID
from testcontainers.core.network import Network
from testcontainers.core.wait_strategies import HttpWaitStrategy

from serverless_testbed.containers import images
from serverless_testbed.containers.health import localstack_services_ready

__all__ = [
    "LocalStackContainer",
    "RedisContainer",
    "StepFunctionsLocalContainer",
    "localstack_services_ready",
]

STARTUP_TIMEOUT_S = 120  # a first run pulls the images
GRACEFUL_STOP_S = 20
LOOPBACK = "127.0.0.1"
LOCAL_ENGINE_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
REDIS_PASSWORD_VARIABLE = "REDIS_PASSWORD"
# redis-server reads its settings from stdin ("-"), here a here-document that the shell fills
# in from the environment: the password is on no command line (a Linux host's `ps` shows the
# containers' processes), only in the container's environment, which the engine's users see.
REDIS_COMMAND = [
    "sh",
    "-c",
    f"exec redis-server - <<SETTINGS\nrequirepass ${REDIS_PASSWORD_VARIABLE}\nSETTINGS\n",
]


def published_on_loopback(ports: dict[Any, Any]) -> dict[Any, Any]:
    """Each port exposed without a host binding, published on 127.0.0.1 (at a free port)
    instead of on every interface of the host."""
    return {port: (LOOPBACK, None) if host is None else host for port, host in ports.items()}


class PublishedOnLoopback(DockerContainer):
    """A container whose ports other machines cannot reach when the engine runs on this one
    (testcontainers publishes exposed ports on every interface). An engine elsewhere
    (DOCKER_HOST=tcp://..., ssh://..., or this process in a container) is reached through the
    engine host's interfaces: there the ports stay published as testcontainers does."""

    def _configure(self) -> None:
        super()._configure()
        client = self.get_docker_client()
        if (
            client.get_connection_mode() is ConnectionMode.docker_host
            and client.host() in LOCAL_ENGINE_HOSTS
        ):
            self.ports = published_on_loopback(self.ports)


def lambda_docker_flags(session_label: tuple[str, str] = (LABEL_SESSION_ID, SESSION_ID)) -> str:
    """LAMBDA_DOCKER_FLAGS for the Lambda containers LocalStack starts: the label testcontainers'
    reaper (Ryuk) removes by, ``label=org.testcontainers.session-id=<this session>``, so they
    go when this process dies, even killed, like the containers testcontainers starts itself.
    LocalStack's flag parser reads ``-l KEY=VALUE`` as a container label."""
    key, value = session_label
    return f"-l {key}={value}"


def localstack_environment(
    services: tuple[str, ...], network_name: str, docker_flags: str
) -> dict[str, str]:
    """The LocalStack settings the pipeline needs (docker-compose.yml holds the same ones)."""
    return {
        "SERVICES": ",".join(services),
        "LAMBDA_DOCKER_NETWORK": network_name,
        # The zip is pure Python (packaging.py): run it natively on arm64 and x86_64 hosts
        # whatever FunctionArchitecture says, instead of emulated (or not at all).
        "LAMBDA_IGNORE_ARCHITECTURE": "1",
        # A function's first start pulls the runtime image: give it time.
        "LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT": "120",
        "LAMBDA_DOCKER_FLAGS": docker_flags,
    }


class LocalStackContainer(PublishedOnLoopback):
    """LocalStack with the Docker socket mounted, so that its Lambda runs functions in sibling
    containers on ``network`` (LAMBDA_DOCKER_NETWORK), where they reach LocalStack by alias."""

    alias = "localstack"

    def __init__(
        self,
        network: Network,
        *,
        image: str = images.LOCALSTACK_IMAGE,
        services: tuple[str, ...] = images.LOCALSTACK_SERVICES,
        docker_socket: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(image, network=network, network_aliases=[self.alias], **kwargs)
        self.with_exposed_ports(images.LOCALSTACK_PORT)
        # The engine's socket as the engine sees it (TESTCONTAINERS_DOCKER_SOCKET_OVERRIDE,
        # else what the docker client uses), as testcontainers' own reaper mounts it.
        socket = docker_socket or testcontainers_config.ryuk_docker_socket
        self.with_volume_mapping(socket, "/var/run/docker.sock", "rw")
        self.with_envs(**localstack_environment(services, network.name, lambda_docker_flags()))
        self.waiting_for(
            HttpWaitStrategy(images.LOCALSTACK_PORT, "/_localstack/health")
            .for_response_predicate(lambda body: localstack_services_ready(body, services))
            .with_startup_timeout(STARTUP_TIMEOUT_S)
        )

    def stop(self, force: bool = True, delete_volume: bool = True) -> None:
        """Stop with SIGTERM first: LocalStack then removes the Lambda containers it started
        at once (the reaper would only after this process is gone)."""
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.stop(timeout=GRACEFUL_STOP_S)
        super().stop(force=force, delete_volume=delete_volume)

    def url(self) -> str:
        port = self.get_exposed_port(images.LOCALSTACK_PORT)
        return f"http://{self.get_container_host_ip()}:{port}"

    @property
    def internal_url(self) -> str:
        """LocalStack's URL from other containers on the network."""
        return f"http://{self.alias}:{images.LOCALSTACK_PORT}"


class StepFunctionsLocalContainer(PublishedOnLoopback):
    """AWS Step Functions Local, calling Lambda, SQS and DynamoDB in LocalStack.

    Not CloudFormation-deployable and "unsupported" by AWS: the pipeline's own state machine runs
    in LocalStack's Step Functions (see stack.py); this one is for trying state machines (e.g.
    with SFN_MOCK_CONFIG) against the same services."""

    alias = "stepfunctions-local"

    def __init__(
        self,
        network: Network,
        localstack_url: str,
        *,
        region: str,
        account_id: str = "000000000000",  # LocalStack's, so that ARNs agree
        wait_time_scale: float = 1.0,
        image: str = images.STEPFUNCTIONS_LOCAL_IMAGE,
        **kwargs: Any,
    ) -> None:
        super().__init__(image, network=network, network_aliases=[self.alias], **kwargs)
        self.with_exposed_ports(images.STEPFUNCTIONS_LOCAL_PORT)
        self.with_envs(
            LAMBDA_ENDPOINT=localstack_url,
            SQS_ENDPOINT=localstack_url,
            DYNAMODB_ENDPOINT=localstack_url,
            AWS_DEFAULT_REGION=region,
            AWS_ACCOUNT_ID=account_id,
            WAIT_TIME_SCALE=str(wait_time_scale),
        )
        # Any HTTP answer on 8083 means the server is up (GET / is not an API call: 4xx).
        self.waiting_for(
            HttpWaitStrategy(images.STEPFUNCTIONS_LOCAL_PORT, "/")
            .for_status_code_matching(lambda status: 100 <= status < 600)
            .with_startup_timeout(STARTUP_TIMEOUT_S)
        )

    def url(self) -> str:
        port = self.get_exposed_port(images.STEPFUNCTIONS_LOCAL_PORT)
        return f"http://{self.get_container_host_ip()}:{port}"


class RedisContainer(PublishedOnLoopback, _CommunityRedisContainer):
    """Redis, pinned, with a random password per container, as the embedded stack's; ready
    when it answers an authenticated PING (testcontainers' PingWaitStrategy)."""

    alias = "redis"

    def __init__(
        self,
        network: Network,
        *,
        image: str = images.REDIS_IMAGE,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(image, network=network, network_aliases=[self.alias], **kwargs)
        self.password = password or secrets.token_hex(16)
        self.with_env(REDIS_PASSWORD_VARIABLE, self.password)
        self.with_command(REDIS_COMMAND)

    def url(self) -> str:
        """The URL with the password in it: whoever holds it holds this Redis."""
        port = self.get_exposed_port(images.REDIS_PORT)
        return f"redis://:{self.password}@{self.get_container_host_ip()}:{port}/0"
