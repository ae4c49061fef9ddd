"""Attaching to a running pipeline and serving one, checked where no server is needed: the
options each command accepts and refuses, the ApiUrl as clients on the host reach it, the S3
bucket's location outside us-east-1, and `testbed up` beside `docker compose up`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import boto3
import botocore.exceptions
import pytest
import yaml
from moto import mock_aws

from serverless_testbed.cli import build_parser
from serverless_testbed.containers.attached import checked_url, rebased_api_url
from serverless_testbed.containers.stack import bucket_location
from serverless_testbed.errors import UsageError
from serverless_testbed.targets import TargetOptions, open_stack

COMPOSE_FILE = Path(__file__).resolve().parents[3] / "docker-compose.yml"


def test_the_api_url_keeps_its_path_and_takes_the_given_host_and_port() -> None:
    announced = "http://0.0.0.0:4567/testbed/HttpApi/dev"

    assert rebased_api_url(announced, "http://127.0.0.1:14567") == (
        "http://127.0.0.1:14567/testbed/HttpApi/dev"
    )
    assert rebased_api_url(announced, "http://h:1/") == "http://h:1/testbed/HttpApi/dev"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("localhost:4566", "expected http"),
        ("ftp://localhost:4566", "expected http"),
        ("http://", "expected http"),
        ("http://localhost:4567/testbed/HttpApi", "without a path"),
    ],
)
def test_a_url_that_is_not_a_base_url_is_named(url: str, problem: str) -> None:
    with pytest.raises(UsageError, match=rf"--aws-url '{url}'.*{problem}"):
        checked_url("--aws-url", url)


@pytest.mark.parametrize("target", ["embedded", "aws"])
def test_attach_options_apply_only_to_the_containers_target(target: str) -> None:
    with (
        pytest.raises(UsageError, match="only to --target containers"),
        open_stack(target, TargetOptions(aws_url="http://127.0.0.1:4566")),  # type: ignore[arg-type]
    ):
        pass


def test_an_api_url_without_the_aws_url_it_belongs_to_is_refused() -> None:
    with (
        pytest.raises(UsageError, match="give its --aws-url too"),
        open_stack("containers", TargetOptions(api_url="http://127.0.0.1:4567")),
    ):
        pass


def test_latency_passes_the_attach_options_to_the_target() -> None:
    from serverless_testbed.latency.commands import target_options

    args = build_parser().parse_args(
        [
            "latency",
            "--target=containers",
            "--aws-url=http://127.0.0.1:4566",
            "--api-url=http://127.0.0.1:4567",
        ]
    )

    options = target_options(args)
    assert (options.aws_url, options.api_url) == ("http://127.0.0.1:4566", "http://127.0.0.1:4567")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve"], "--aws-url"),
        (["serve", "--aws-url", "localstack:4566"], "expected http"),
        (["serve", "--aws-url", "http://x:1", "--api-port", "70000"], "out of range"),
        (["serve", "--aws-url", "http://x:1", "--parameter", "novalue"], "KEY=VALUE"),
        (["serve", "--aws-url", "http://x:1", "--wait", "0"], "--wait must be positive"),
    ],
)
def test_serve_refuses_bad_input_with_exit_2_and_one_line(argv: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "serverless_testbed.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_testbed_up_listens_beside_what_compose_publishes() -> None:
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    published = {
        int(mapping.split(":")[1])
        for service in compose["services"].values()
        for mapping in service.get("ports", [])
    }
    args = build_parser().parse_args(["up"])

    assert published >= {4566, 4567, 6379}
    assert not {args.aws_port, args.api_port, args.redis_port} & published


def test_a_bucket_outside_us_east_1_is_created_with_its_location() -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        with pytest.raises(botocore.exceptions.ClientError, match="IllegalLocationConstraint"):
            s3.create_bucket(Bucket="without-location")

        s3.create_bucket(Bucket="code", **bucket_location("eu-west-1"))

        assert s3.get_bucket_location(Bucket="code")["LocationConstraint"] == "eu-west-1"


def test_a_bucket_in_us_east_1_is_created_without_one() -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")

        s3.create_bucket(Bucket="code", **bucket_location("us-east-1"))

        assert s3.get_bucket_location(Bucket="code")["LocationConstraint"] is None
