"""docker-compose.yml: every image pinned to the same exact tag the containers stack uses,
ports on loopback, a health check per service, LocalStack wired for Lambda in Docker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from serverless_testbed.containers import images

COMPOSE_FILE = Path(__file__).resolve().parents[3] / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def test_it_has_localstack_step_functions_local_and_redis(services: dict[str, Any]) -> None:
    assert set(services) == {"localstack", "stepfunctions-local", "redis"}


def test_every_image_is_pinned_to_an_exact_tag(services: dict[str, Any]) -> None:
    for name, service in services.items():
        repository, _, tag = service["image"].rpartition(":")
        assert repository and "/" not in tag, f"{name}: {service['image']} has no tag"
        assert tag not in ("latest", "stable", "nightly"), f"{name}: floating tag {tag}"
        assert any(character.isdigit() for character in tag), f"{name}: {tag} is not a version"


def test_the_images_are_the_ones_the_containers_stack_starts(services: dict[str, Any]) -> None:
    assert services["localstack"]["image"] == images.LOCALSTACK_IMAGE
    assert services["stepfunctions-local"]["image"] == images.STEPFUNCTIONS_LOCAL_IMAGE
    assert services["redis"]["image"] == images.REDIS_IMAGE


def test_localstack_is_the_last_tag_that_starts_without_a_licence_token() -> None:
    repository, _, tag = images.LOCALSTACK_IMAGE.partition(":")
    version = tuple(int(part) for part in tag.split("."))
    assert repository == "localstack/localstack"
    assert version < (4, 15), "4.15 and later (2026.x) exit without LOCALSTACK_AUTH_TOKEN"


@pytest.mark.parametrize(
    ("service", "port"),
    [
        ("localstack", images.LOCALSTACK_PORT),
        ("stepfunctions-local", images.STEPFUNCTIONS_LOCAL_PORT),
        ("redis", images.REDIS_PORT),
    ],
)
def test_each_service_publishes_its_port_on_loopback_only(
    services: dict[str, Any], service: str, port: int
) -> None:
    assert services[service]["ports"] == [f"127.0.0.1:{port}:{port}"]


def test_every_service_has_a_health_check(services: dict[str, Any]) -> None:
    for name, service in services.items():
        check = service.get("healthcheck", {})
        assert check.get("test"), f"{name} has no health check"
        assert check.get("retries", 0) > 0 and check.get("interval"), name


def test_localstack_runs_lambdas_through_the_docker_socket_on_the_compose_network(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    localstack = services["localstack"]
    assert "/var/run/docker.sock:/var/run/docker.sock" in localstack["volumes"]
    network_name = compose["networks"]["testbed"]["name"]
    assert localstack["environment"]["LAMBDA_DOCKER_NETWORK"] == network_name
    assert all(service["networks"] == ["testbed"] for service in services.values())


def test_localstack_runs_only_the_services_the_pipeline_uses(services: dict[str, Any]) -> None:
    configured = services["localstack"]["environment"]["SERVICES"].split(",")
    assert tuple(configured) == images.LOCALSTACK_SERVICES


def test_step_functions_local_calls_the_services_in_localstack(services: dict[str, Any]) -> None:
    sfn_local = services["stepfunctions-local"]
    environment = sfn_local["environment"]
    for variable in ("LAMBDA_ENDPOINT", "SQS_ENDPOINT", "DYNAMODB_ENDPOINT"):
        assert environment[variable] == f"http://localstack:{images.LOCALSTACK_PORT}", variable
    assert environment["AWS_DEFAULT_REGION"]
    assert float(environment["WAIT_TIME_SCALE"]) > 0
    assert sfn_local["depends_on"]["localstack"]["condition"] == "service_healthy"
