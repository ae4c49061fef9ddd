"""docker-compose.yml, checked without a Docker engine: valid against the Compose
specification's JSON schema; every image pinned to the tag the containers stack starts; ports
on loopback; a health check per long-running service; LocalStack wired as the containers stack
wires it; the testbed service's command a valid `testbed serve` that points at the compose
services; the stress profile on the compose Redis."""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from serverless_testbed.cli import build_parser
from serverless_testbed.containers import images

ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILE = ROOT / "docker-compose.yml"
PULLED = {"localstack", "stepfunctions-local", "redis"}
BUILT = {"testbed", "stress-worker", "stress-publish"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


@pytest.fixture(scope="module")
def compose_spec() -> jsonschema.protocols.Validator:
    """The Compose specification's JSON schema, as check-jsonschema vendors it (its
    ``--builtin-schema vendor.compose-spec``, which `tox -e lint` runs on the file too)."""
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def test_the_file_is_valid_under_the_compose_specification(
    compose: dict[str, Any], compose_spec: jsonschema.protocols.Validator
) -> None:
    errors = [f"{error.json_path}: {error.message}" for error in compose_spec.iter_errors(compose)]
    assert errors == []


@pytest.mark.parametrize(
    ("where", "change"),
    [
        ("a misspelt key", lambda c: c["services"]["redis"].update(healthcheck_={})),
        ("ports as a string", lambda c: c["services"]["redis"].update(ports="6379")),
        ("an unknown depends_on condition", lambda c: _condition(c, "testbed", "localstack", "up")),
        ("an unknown top-level key", lambda c: c.update(service={})),
    ],
)
def test_the_validator_rejects_what_compose_would_reject(
    compose: dict[str, Any], compose_spec: jsonschema.protocols.Validator, where: str, change: Any
) -> None:
    broken = copy.deepcopy(compose)
    change(broken)
    assert list(compose_spec.iter_errors(broken)), where


def _condition(compose: dict[str, Any], service: str, on: str, condition: str) -> None:
    compose["services"][service]["depends_on"][on]["condition"] = condition


def test_it_has_the_pipeline_the_emulators_and_the_stress_profile(
    services: dict[str, Any],
) -> None:
    assert set(services) == PULLED | BUILT
    assert {name for name, s in services.items() if "stress" in s.get("profiles", [])} == {
        "stress-worker",
        "stress-publish",
    }


def test_every_pulled_image_is_pinned_to_an_exact_tag(services: dict[str, Any]) -> None:
    for name in PULLED:
        repository, _, tag = services[name]["image"].rpartition(":")
        assert repository and "/" not in tag, f"{name}: {services[name]['image']} has no tag"
        assert tag not in ("latest", "stable", "nightly"), f"{name}: floating tag {tag}"
        assert any(character.isdigit() for character in tag), f"{name}: {tag} is not a version"


def test_the_project_services_are_built_from_the_dockerfile(services: dict[str, Any]) -> None:
    for name in BUILT:
        assert services[name]["build"] == ".", name
        assert services[name]["image"] == services["testbed"]["image"], name


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
        ("testbed", 4567),
    ],
)
def test_each_service_publishes_its_port_on_loopback_only(
    services: dict[str, Any], service: str, port: int
) -> None:
    assert services[service]["ports"] == [f"127.0.0.1:{port}:{port}"]


def test_the_stress_services_publish_nothing(services: dict[str, Any]) -> None:
    assert not any(services[name].get("ports") for name in ("stress-worker", "stress-publish"))


def test_every_long_running_service_has_a_health_check(services: dict[str, Any]) -> None:
    for name in PULLED | {"testbed"}:
        check = services[name].get("healthcheck", {})
        assert check.get("test"), f"{name} has no health check"
        assert check.get("retries", 0) > 0 and check.get("interval"), name


def test_localstack_runs_lambdas_through_the_docker_socket_on_the_compose_network(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    localstack = services["localstack"]
    (volume,) = localstack["volumes"]
    source, _, target = volume.rpartition(":")
    # The engine's own path of its socket, overridable as for testcontainers.
    assert source == "${TESTCONTAINERS_DOCKER_SOCKET_OVERRIDE:-/var/run/docker.sock}"
    assert target == "/var/run/docker.sock"
    network_name = compose["networks"]["testbed"]["name"]
    assert localstack["environment"]["LAMBDA_DOCKER_NETWORK"] == network_name
    assert all(service["networks"] == ["testbed"] for service in services.values())


def test_localstack_has_the_settings_the_containers_stack_gives_it(
    services: dict[str, Any],
) -> None:
    pytest.importorskip("testcontainers", reason="the containers extra is not installed")
    from serverless_testbed.containers.services import localstack_environment

    wanted = localstack_environment(images.LOCALSTACK_SERVICES, "serverless-testbed", "-l x=y")
    environment = services["localstack"]["environment"]
    assert set(environment) == set(wanted)
    for key in set(wanted) - {"LAMBDA_DOCKER_FLAGS"}:  # the label differs: no session here
        assert environment[key] == wanted[key], key
    assert environment["LAMBDA_IGNORE_ARCHITECTURE"] == "1"
    assert environment["LAMBDA_DOCKER_FLAGS"].startswith("-l ")


def test_localstack_only_runs_the_services_the_pipeline_uses(services: dict[str, Any]) -> None:
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


def test_the_testbed_service_serves_the_pipeline_deployed_into_the_compose_localstack(
    services: dict[str, Any],
) -> None:
    testbed = services["testbed"]
    args = build_parser().parse_args(testbed["command"])

    assert args.command == "serve"
    assert args.aws_url == f"http://localstack:{images.LOCALSTACK_PORT}"
    assert args.redis_url == f"redis://redis:{images.REDIS_PORT}/0"
    assert args.api_host == "0.0.0.0"  # reachable through the published port
    host_side, container_side = testbed["ports"][0].removeprefix("127.0.0.1:").split(":")
    assert args.api_port == int(container_side)
    # The ApiUrl output names the address clients on the host use.
    assert args.public_api_url == f"http://127.0.0.1:{host_side}"
    for dependency in ("localstack", "redis"):
        assert testbed["depends_on"][dependency]["condition"] == "service_healthy"


def test_the_testbed_service_is_healthy_only_once_it_wrote_its_endpoints(
    services: dict[str, Any],
) -> None:
    testbed = services["testbed"]
    args = build_parser().parse_args(testbed["command"])
    written = Path(args.json)

    assert testbed["healthcheck"]["test"] == ["CMD", "test", "-s", str(written)]
    # On a tmpfs: a restarted container does not find the last run's file.
    assert str(written.parent) in testbed["tmpfs"]


@pytest.mark.parametrize("service", ["stress-worker", "stress-publish"])
def test_the_stress_commands_use_the_compose_redis(services: dict[str, Any], service: str) -> None:
    args = build_parser().parse_args(services[service]["command"])

    assert args.redis == f"redis://redis:{images.REDIS_PORT}/0"
    assert services[service]["depends_on"]["redis"]["condition"] == "service_healthy"
    # The control secret comes from the user's shell, never from the file.
    assert services[service]["environment"]["TESTBED_CONTROL_SECRET"] == (
        "${TESTBED_CONTROL_SECRET:-}"
    )


def test_the_publisher_reads_example_files_the_image_holds(services: dict[str, Any]) -> None:
    args = build_parser().parse_args(services["stress-publish"]["command"])

    for path in (args.config, args.traffic):
        assert (ROOT / path).is_file(), path
        assert path.startswith("examples/"), "the Dockerfile copies examples/ into /app"
