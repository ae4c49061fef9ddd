"""`testbed up` as a user runs it: a child process that prints its endpoints, serves the
pipeline, and stops cleanly on Ctrl-C; and the one-stack-per-process rule of EmbeddedStack."""

from __future__ import annotations

import json
import queue
import shlex
import signal
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.exceptions
import pytest
import redis

from serverless_testbed.errors import UsageError
from tests.integration.helpers import http_post
from tests.integration.latency.cli import clean_environment

ROOT = Path(__file__).resolve().parents[3]
READY_TIMEOUT_S = 60  # generous: CI machines are shared; speed is benchmarks' business


@dataclass
class UpProcess:
    process: subprocess.Popen[str]
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)

    def read_until(self, word: str, timeout_s: float) -> list[str]:
        """Lines of stdout up to and including the first one that starts with ``word``."""
        while True:
            try:
                line = self.lines.get(timeout=timeout_s)
            except queue.Empty:
                raise AssertionError(
                    f"no {word!r} line within {timeout_s} s: {self.seen}"
                ) from None
            if line is None:
                raise AssertionError(f"testbed up exited before {word!r}: {self.seen}")
            self.seen.append(line)
            if line.startswith(word):
                return self.seen

    def rest(self) -> list[str]:
        """The remaining lines of stdout, once the process has exited."""
        rest = []
        while (line := self.lines.get(timeout=10)) is not None:
            rest.append(line)
        return rest

    def endpoints(self) -> dict[str, str]:
        pairs = (line.split(": ", 1) for line in self.seen if ": " in line)
        return {name: url for name, url in pairs if name in {"aws", "api", "redis"}}


def _start_up(*args: str, own_group: bool = False) -> UpProcess:
    """``own_group``: leading a process group of its own, as a shell starts it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "serverless_testbed.cli", "up", *args],
        cwd=ROOT,
        env=clean_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=own_group,
    )
    up = UpProcess(process)

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            up.lines.put(line.rstrip("\n"))
        up.lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return up


@contextmanager
def ready_up(*args: str) -> Iterator[UpProcess]:
    """`testbed up *args`, once it printed ready; killed on exit if still running."""
    up = _start_up(*args)
    try:
        up.read_until("ready", READY_TIMEOUT_S)
        yield up
    finally:
        if up.process.poll() is None:
            up.process.kill()
            up.process.wait()


@pytest.fixture(scope="module")
def up_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("up") / "stack.json"


@pytest.fixture(scope="module")
def running_up(up_json: Path) -> Iterator[UpProcess]:
    ports = ("--aws-port", "0", "--api-port", "0", "--redis-port", "0")
    with ready_up(*ports, "--json", str(up_json)) as up:
        yield up


def _refuses_connections(url: str) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=1).close()
    except OSError:
        return True
    return False


def test_up_prints_one_line_per_endpoint_then_ready_then_how_to_curl(
    running_up: UpProcess,
) -> None:
    endpoints = running_up.endpoints()

    assert set(endpoints) == {"aws", "api", "redis"}
    assert endpoints["aws"].startswith("http://127.0.0.1:")
    assert endpoints["redis"].startswith("redis://:")
    assert running_up.seen[-1].startswith("ready in ")
    curl = running_up.read_until("try: curl", 5)[-1]
    assert f"{endpoints['api']}/run" in curl


def _printed_credentials(up: UpProcess) -> dict[str, str]:
    export = next(line for line in up.seen if line.startswith("export "))
    pairs = (word.split("=", 1) for word in shlex.split(export)[1:])
    return {name: value for name, value in pairs if name.startswith("AWS_")}


def test_the_printed_endpoints_serve_the_pipeline_and_redis(
    running_up: UpProcess, up_json: Path
) -> None:
    endpoints = running_up.endpoints()
    if not any(line.startswith("try: curl") for line in running_up.seen):
        running_up.read_until("try: curl", 5)  # the export line comes before it
    printed = _printed_credentials(running_up)
    credentials = json.loads(up_json.read_text())["credentials"]
    assert printed["AWS_ACCESS_KEY_ID"] == credentials["AWS_ACCESS_KEY_ID"]
    assert printed["AWS_SECRET_ACCESS_KEY"] == credentials["AWS_SECRET_ACCESS_KEY"]

    status, output = http_post(
        f"{endpoints['api']}/run", {"payload": {"from": "up"}}, credentials=credentials
    )

    assert status == 200, output
    assert output["status"] == "SUCCEEDED"
    sfn = boto3.client(
        "stepfunctions",
        endpoint_url=endpoints["aws"],
        region_name="us-east-1",
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
    )
    described = sfn.describe_execution(executionArn=output["execution_arn"])
    assert described["status"] == "SUCCEEDED"
    assert redis.Redis.from_url(endpoints["redis"]).ping() is True


def test_the_endpoints_refuse_requests_not_signed_with_the_stacks_credentials(
    running_up: UpProcess,
) -> None:
    endpoints = running_up.endpoints()
    stranger = boto3.client(
        "lambda",
        endpoint_url=endpoints["aws"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        stranger.list_functions()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException"

    status, output = http_post(f"{endpoints['api']}/run", {"payload": {}})  # dummy credentials
    assert status == 403, output


def test_redis_needs_the_stacks_own_password_which_only_its_outputs_carry(
    running_up: UpProcess, up_json: Path
) -> None:
    url = running_up.endpoints()["redis"]
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1" and parts.password and len(parts.password) >= 32

    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(host=parts.hostname, port=parts.port).set("injected", "descriptor")
    assert redis.Redis.from_url(url).ping() is True
    assert json.loads(up_json.read_text())["endpoints"]["redis"] == url
    assert stat.S_IMODE(up_json.stat().st_mode) == 0o600


def test_ctrl_c_stops_every_server_and_exits_0(running_up: UpProcess) -> None:
    endpoints = running_up.endpoints()

    running_up.process.send_signal(signal.SIGINT)

    assert running_up.process.wait(timeout=30) == 0
    for url in endpoints.values():
        assert _refuses_connections(url), f"{url} still answers after Ctrl-C"


@pytest.mark.parametrize("part", ["aws", "api", "redis"])
def test_a_taken_port_is_a_one_line_usage_error_naming_the_port(part: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = {"aws": "0", "api": "0", "redis": "0", part: str(port)}
        up = _start_up(*(f"--{name}-port={value}" for name, value in ports.items()))

        assert up.process.wait(timeout=READY_TIMEOUT_S) == 2
    assert up.process.stderr is not None
    stderr = up.process.stderr.read().strip().splitlines()
    assert stderr == [
        f"testbed up: error: cannot start the stack: the {part} port {port} is already in use "
        f"(choose another --{part}-port, or 0 for a free one)"
    ]
    assert up.rest() == []


def test_a_redis_port_held_by_another_redis_server_is_refused_not_shared() -> None:
    from serverless_testbed.embedded.redis_server import RedisServer

    with RedisServer() as first_stacks_redis:
        port = first_stacks_redis.port
        up = _start_up("--aws-port", "0", "--api-port", "0", "--redis-port", str(port))

        assert up.process.wait(timeout=READY_TIMEOUT_S) == 2
        assert up.process.stderr is not None
        stderr = up.process.stderr.read()
        assert f"the redis port {port} is already in use" in stderr, stderr
        assert not any(line.startswith("ready") for line in up.rest())
        assert redis.Redis(port=port).ping() is True  # the first server is untouched


def test_a_malformed_parameter_is_refused_before_anything_starts() -> None:
    up = _start_up("--parameter", "StageName", "--aws-port", "0", "--api-port", "0")

    assert up.process.wait(timeout=READY_TIMEOUT_S) == 2
    assert up.process.stderr is not None
    assert up.process.stderr.read().strip() == (
        "testbed up: error: --parameter 'StageName': expected KEY=VALUE"
    )
    assert up.rest() == []


def test_a_second_stack_in_the_same_process_is_refused_and_the_first_keeps_working(
    embedded_stack: Any,
) -> None:
    from serverless_testbed.embedded.stack import EmbeddedStack

    with pytest.raises(UsageError, match="already running in this process"):
        EmbeddedStack(stack_name="second", with_redis=False).start()

    status, output = http_post(
        f"{embedded_stack.deployment.api_url}/run",
        {"payload": {}},
        credentials=embedded_stack.credentials,
    )
    assert status == 200, output
    assert output["status"] == "SUCCEEDED"
