"""The container classes: pinned images, the settings the pipeline needs, and wait strategies
that wait for real readiness (checked against a real HTTP server on loopback). Building a
container object needs no Docker engine when the API version is given."""

from __future__ import annotations

import inspect
import json
import shlex
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from docker.utils.utils import convert_port_bindings
from testcontainers.core.config import ConnectionMode, testcontainers_config

from serverless_testbed.containers import images
from serverless_testbed.containers.services import (
    REDIS_PASSWORD_VARIABLE,
    LocalStackContainer,
    RedisContainer,
    StepFunctionsLocalContainer,
    localstack_services_ready,
    published_on_loopback,
)

NEEDED = ("sqs", "lambda")
NO_ENGINE_CONTACT = {"docker_client_kw": {"version": "1.44"}}
NETWORK = SimpleNamespace(name="testbed-net")


def _health(**services: str) -> str:
    return json.dumps({"services": services, "edition": "community", "version": "4.14.0"})


def test_ready_when_every_needed_service_is_available_or_running() -> None:
    body = _health(sqs="running", s3="error", **{"lambda": "available"})

    assert localstack_services_ready(body, NEEDED)


@pytest.mark.parametrize(
    "body",
    [
        _health(sqs="running"),  # lambda missing
        _health(sqs="running", **{"lambda": "initializing"}),
        _health(sqs="error", **{"lambda": "running"}),
        "not json",
        "[]",
    ],
)
def test_not_ready_otherwise(body: str) -> None:
    assert not localstack_services_ready(body, NEEDED)


def test_localstack_runs_lambdas_through_the_socket_on_the_shared_network() -> None:
    container = LocalStackContainer(NETWORK, docker_socket="/run/docker.sock", **NO_ENGINE_CONTACT)

    assert container.image.endswith(images.LOCALSTACK_IMAGE)
    assert container.env["SERVICES"] == ",".join(images.LOCALSTACK_SERVICES)
    assert container.env["LAMBDA_DOCKER_NETWORK"] == NETWORK.name
    assert container.volumes["/run/docker.sock"]["bind"] == "/var/run/docker.sock"
    assert str(images.LOCALSTACK_PORT) in container.ports
    assert container.internal_url == "http://localstack:4566"


def test_localstack_runs_the_pure_python_zip_natively_on_any_host_architecture() -> None:
    container = LocalStackContainer(NETWORK, docker_socket="/run/docker.sock", **NO_ENGINE_CONTACT)

    assert container.env["LAMBDA_IGNORE_ARCHITECTURE"] == "1"
    assert int(container.env["LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT"]) >= 60


def test_the_lambda_containers_carry_the_label_the_reaper_removes_by() -> None:
    """Ryuk removes what matches ``label=org.testcontainers.session-id=<session>``: the flags
    LocalStack hands its Lambda containers give them exactly that label."""
    from testcontainers.core import container as testcontainers_container
    from testcontainers.core.labels import LABEL_SESSION_ID, SESSION_ID

    container = LocalStackContainer(NETWORK, docker_socket="/run/docker.sock", **NO_ENGINE_CONTACT)
    flags = shlex.split(container.env["LAMBDA_DOCKER_FLAGS"])

    # Parsed as LocalStack parses LAMBDA_DOCKER_FLAGS: "-l"/"--label" KEY=VALUE.
    assert flags[0] in ("-l", "--label") and len(flags) == 2
    key, _, value = flags[1].partition("=")
    assert (key, value) == (LABEL_SESSION_ID, SESSION_ID)
    # ...and that is the filter testcontainers' reaper registers for this session.
    reaper_source = inspect.getsource(testcontainers_container.Reaper)
    assert 'f"label={LABEL_SESSION_ID}={SESSION_ID}' in reaper_source
    assert testcontainers_container.SESSION_ID == SESSION_ID


def test_the_docker_socket_defaults_to_what_testcontainers_mounts_into_ryuk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from testcontainers.core.config import testcontainers_config

    monkeypatch.setattr(testcontainers_config, "_ryuk_docker_socket", "/engine/side/docker.sock")

    container = LocalStackContainer(NETWORK, **NO_ENGINE_CONTACT)

    assert container.volumes["/engine/side/docker.sock"]["bind"] == "/var/run/docker.sock"


def test_step_functions_local_calls_lambda_sqs_and_dynamodb_in_localstack() -> None:
    container = StepFunctionsLocalContainer(
        NETWORK, "http://localstack:4566", region="eu-west-1", **NO_ENGINE_CONTACT
    )

    assert container.image.endswith(images.STEPFUNCTIONS_LOCAL_IMAGE)
    for variable in ("LAMBDA_ENDPOINT", "SQS_ENDPOINT", "DYNAMODB_ENDPOINT"):
        assert container.env[variable] == "http://localstack:4566"
    assert container.env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert container.env["AWS_ACCOUNT_ID"] == "000000000000"
    assert float(container.env["WAIT_TIME_SCALE"]) == 1.0


def test_redis_is_pinned_and_waits_for_ping() -> None:
    container = RedisContainer(NETWORK, **NO_ENGINE_CONTACT)

    assert container.image.endswith(images.REDIS_IMAGE)
    assert type(container._wait_strategy).__name__ == "PingWaitStrategy"


def test_each_redis_has_its_own_random_password_and_no_command_line_holds_it() -> None:
    first = RedisContainer(NETWORK, **NO_ENGINE_CONTACT)
    second = RedisContainer(NETWORK, **NO_ENGINE_CONTACT)

    assert len(first.password) == 32 and first.password != second.password
    assert first.env[REDIS_PASSWORD_VARIABLE] == first.password
    assert first.password not in json.dumps(first._command)


def test_redis_server_reads_the_password_from_its_stdin(tmp_path: Path) -> None:
    """The container's command, run by a real shell, with a stand-in ``redis-server`` on PATH
    that records its arguments and what it read from stdin."""
    stand_in = tmp_path / "redis-server"
    stand_in.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/argv\ncat > {tmp_path}/stdin\n')
    stand_in.chmod(0o755)
    container = RedisContainer(NETWORK, **NO_ENGINE_CONTACT)
    environment = {"PATH": f"{tmp_path}:/usr/bin:/bin", **container.env}

    subprocess.run(container._command, env=environment, check=True, timeout=10)

    assert (tmp_path / "argv").read_text() == "-\n"
    assert (tmp_path / "stdin").read_text() == f"requirepass {container.password}\n"


def test_exposed_ports_are_published_on_loopback_and_bound_ports_stay() -> None:
    ports = published_on_loopback({"6379": None, "8083/tcp": 8083})

    assert ports == {"6379": ("127.0.0.1", None), "8083/tcp": 8083}
    # What the engine's API receives (docker-py's own conversion): loopback, a free port.
    assert convert_port_bindings(ports)["6379/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": ""}]


@pytest.mark.parametrize(
    ("docker_host", "published_on"),
    [("unix:///run/no-engine.sock", ("127.0.0.1", None)), ("tcp://build-box:2375", None)],
)
def test_a_local_engine_publishes_on_loopback_and_an_engine_elsewhere_as_testcontainers_does(
    monkeypatch: pytest.MonkeyPatch, docker_host: str, published_on: Any
) -> None:
    monkeypatch.setenv("DOCKER_HOST", docker_host)
    monkeypatch.setattr(
        testcontainers_config, "connection_mode_override", ConnectionMode.docker_host
    )
    containers = [
        LocalStackContainer(NETWORK, docker_socket="/run/docker.sock", **NO_ENGINE_CONTACT),
        StepFunctionsLocalContainer(
            NETWORK, "http://localstack:4566", region="us-east-1", **NO_ENGINE_CONTACT
        ),
        RedisContainer(NETWORK, **NO_ENGINE_CONTACT),
    ]

    for container in containers:
        container._configure()

    assert [list(container.ports.values()) for container in containers] == [[published_on]] * 3


class _Answers:
    """What a loopback HTTP server answers, in order (the last one repeats)."""

    def __init__(self, *answers: tuple[int, str]) -> None:
        self.answers = list(answers)
        self.requests: list[str] = []

    def next(self, path: str) -> tuple[int, str]:
        self.requests.append(path)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@pytest.fixture
def server() -> Iterator[tuple[_Answers, SimpleNamespace]]:
    script = _Answers((200, "{}"))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            status, body = script.next(self.path)
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    # A stand-in for a started container: where its port is published.
    target = SimpleNamespace(
        get_container_host_ip=lambda: "127.0.0.1",
        get_exposed_port=lambda port: httpd.server_port,
    )
    try:
        yield script, target
    finally:
        httpd.shutdown()
        httpd.server_close()


def _strategy(container: Any) -> Any:
    return container._wait_strategy.with_poll_interval(0.01).with_startup_timeout(5)


def test_localstack_is_ready_only_once_its_services_are(
    server: tuple[_Answers, SimpleNamespace],
) -> None:
    script, target = server
    script.answers = [
        (503, "starting"),
        (200, _health(**dict.fromkeys(images.LOCALSTACK_SERVICES, "initializing"))),
        (200, _health(**dict.fromkeys(images.LOCALSTACK_SERVICES, "available"))),
    ]
    container = LocalStackContainer(NETWORK, docker_socket="/x.sock", **NO_ENGINE_CONTACT)

    _strategy(container).wait_until_ready(target)

    assert script.requests == ["/_localstack/health"] * 3


def test_step_functions_local_is_ready_when_its_port_answers_http_at_all(
    server: tuple[_Answers, SimpleNamespace],
) -> None:
    script, target = server
    script.answers = [(400, "MissingAction")]
    container = StepFunctionsLocalContainer(
        NETWORK, "http://localstack:4566", region="us-east-1", **NO_ENGINE_CONTACT
    )

    _strategy(container).wait_until_ready(target)

    assert script.requests == ["/"]
