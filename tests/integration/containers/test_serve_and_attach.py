"""`testbed serve` (what docker-compose.yml's testbed service runs) and the attach mode of
`--target containers`, against an AWS endpoint that already runs: here a moto server in its
own process, in place of the compose LocalStack (no Docker engine on this machine).

What this shows: serve waits for the endpoint, deploys template.yaml through CloudFormation,
serves POST /run on the port it is given with the public URL in the stack's ApiUrl, replaces
the stack a previous run left, stops on SIGTERM; `open_stack("containers", aws_url=...)` and
`testbed latency --aws-url` find that deployment and reach the served API. moto's Lambda only
echoes, so the answer to POST /run is the api function's own event (the route, not the
handler; the Docker tests run the handlers).
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from serverless_testbed.containers.commands import wait_for_aws_endpoint
from serverless_testbed.errors import UsageError
from serverless_testbed.targets import TargetOptions, open_stack
from tests.integration.containers.conftest import free_port
from tests.integration.helpers import http_post
from tests.integration.latency.cli import clean_environment

ROOT = Path(__file__).resolve().parents[3]
SERVICES = ("sqs", "lambda")


@dataclass
class Served:
    process: subprocess.Popen[str]
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)
    json_file: Path | None = None

    def wait_for_line(self, prefix: str, timeout_s: float = 180) -> str:
        """The first stdout line starting with ``prefix``; fails on exit or deadline."""
        while True:
            try:
                line = self.lines.get(timeout=timeout_s)
            except queue.Empty:
                raise AssertionError(f"no {prefix!r} line in {timeout_s} s: {self.seen}") from None
            self.seen.append(line)
            if line.startswith(prefix):
                return line
            if line == "<exit>":
                raise AssertionError(f"serve exited before {prefix!r}: {self.seen}")

    def endpoints(self) -> dict[str, str]:
        return dict(line.split(": ", 1) for line in self.seen if "://" in line.split(" ")[-1])


def _serve(*args: str) -> Served:
    process = subprocess.Popen(
        [sys.executable, "-m", "serverless_testbed.cli", "serve", *args],
        cwd=ROOT,
        env=clean_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    served = Served(process)

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            served.lines.put(line.rstrip("\n"))
        served.lines.put("<exit>")

    threading.Thread(target=pump, daemon=True).start()
    return served


def _stop(served: Served) -> tuple[int, str]:
    served.process.send_signal(signal.SIGTERM)
    _, stderr = served.process.communicate(timeout=60)
    return served.process.returncode, stderr


@pytest.fixture(scope="module")
def api_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def served(
    moto_server: str, api_port: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    json_file = tmp_path_factory.mktemp("serve") / "endpoints.json"
    # Announced under another host name than it is reached by: the attach tests rebase it.
    process = _serve(
        f"--aws-url={moto_server}",
        "--stack-name=served",
        f"--api-port={api_port}",
        f"--public-api-url=http://localhost:{api_port}",
        f"--json={json_file}",
        "--redis-url=redis://127.0.0.1:1/0",
    )
    try:
        process.wait_for_line("ready")
        process.json_file = json_file
        yield process
    finally:
        if process.process.poll() is None:
            process.process.kill()
            process.process.wait(timeout=10)


def test_serve_announces_its_endpoints_and_writes_them(served: Served, moto_server: str) -> None:
    endpoints = served.endpoints()

    assert endpoints["aws"] == moto_server
    assert endpoints["redis"] == "redis://127.0.0.1:1/0"
    assert endpoints["api"].startswith("http://localhost:")
    assert "/served/" in endpoints["api"]
    assert served.json_file is not None
    written = json.loads(served.json_file.read_text())
    assert written["endpoints"] == endpoints
    assert written["api_url"] == endpoints["api"]
    assert written["stack"] == "served"


def test_serve_answers_post_run_on_the_port_it_was_given(served: Served, api_port: int) -> None:
    path = served.endpoints()["api"].split(f":{api_port}", 1)[1]

    status, echoed_event = http_post(f"http://127.0.0.1:{api_port}{path}/run", {"payload": {}})

    assert status == 200, echoed_event
    assert echoed_event["routeKey"] == "POST /run"


def test_attach_finds_the_served_deployment_and_rebases_its_api_url(
    served: Served, moto_server: str, api_port: int
) -> None:
    options = TargetOptions(
        aws_url=moto_server, api_url=f"http://127.0.0.1:{api_port}", stack_name="served"
    )

    with open_stack("containers", options) as stack:
        deployment = stack.deployment
        status, echoed_event = http_post(f"{deployment.api_url}/run", {"payload": {"n": 2}})

    assert deployment.target == "containers"
    assert deployment.api_url.startswith(f"http://127.0.0.1:{api_port}/served/")
    assert stack.urls["aws"] == deployment.endpoint_url == moto_server
    assert status == 200 and json.loads(echoed_event["body"]) == {"payload": {"n": 2}}


def test_an_attached_stack_deploys_nothing(served: Served, moto_server: str) -> None:
    options = TargetOptions(aws_url=moto_server, stack_name="served")

    with open_stack("containers", options) as stack, pytest.raises(UsageError, match="serve"):
        stack.deploy("another")


def test_attaching_to_a_stack_that_is_not_there_names_it(moto_server: str) -> None:
    options = TargetOptions(aws_url=moto_server, stack_name="never-deployed")

    with pytest.raises(UsageError, match="never-deployed"), open_stack("containers", options):
        pass


def test_latency_attaches_instead_of_starting_containers(
    served: Served, moto_server: str, api_port: int
) -> None:
    """No Docker engine here: a run that got as far as the requests attached. moto's echo is
    not the pipeline's answer, so every iteration fails, and says so (exit 1)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "serverless_testbed.cli",
            "latency",
            "--target=containers",
            f"--aws-url={moto_server}",
            f"--api-url=http://127.0.0.1:{api_port}",
            "--stack-name=served",
            "--repeat=2",
        ],
        cwd=ROOT,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    assert done.returncode == 1, done.stderr
    assert "2 of 2 iterations failed" in done.stderr
    assert "Docker" not in done.stderr
    assert "containers" in done.stdout and "served" in done.stdout


def test_a_second_serve_replaces_the_stack_the_first_left(moto_server: str) -> None:
    first = _serve(f"--aws-url={moto_server}", "--stack-name=again", "--api-port=0")
    first.wait_for_line("ready")
    first_api = first.endpoints()["api"]
    assert _stop(first)[0] == 0

    second = _serve(f"--aws-url={moto_server}", "--stack-name=again", "--api-port=0")
    try:
        second.wait_for_line("ready")
        status, echoed_event = http_post(f"{second.endpoints()['api']}/run", {"payload": {}})
    finally:
        code, stderr = _stop(second)

    assert status == 200, echoed_event
    assert second.endpoints()["api"] != first_api, "a new gateway on a new port"
    assert code == 0 and "stopped" in stderr


def test_serve_stops_on_sigterm_with_exit_0(moto_server: str) -> None:
    served = _serve(f"--aws-url={moto_server}", "--stack-name=stopping", "--api-port=0")
    served.wait_for_line("ready")

    code, stderr = _stop(served)

    assert code == 0, stderr
    assert stderr.rstrip().endswith("stopped")


def test_serve_refuses_a_busy_api_port_in_one_line(moto_server: str) -> None:
    with socket_held() as port:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "serverless_testbed.cli",
                "serve",
                f"--aws-url={moto_server}",
                f"--api-port={port}",
                "--stack-name=busy",
            ],
            cwd=ROOT,
            env=clean_environment(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert done.returncode == 2, done.stderr
    assert f"127.0.0.1:{port}" in done.stderr.splitlines()[-1]


class _Health:
    """A stand-in LocalStack health page: the answers it gives, in order (the last repeats)."""

    def __init__(self, *answers: tuple[int, dict[str, Any]]) -> None:
        self.answers = list(answers)
        self.requests = 0


@pytest.fixture
def health() -> Iterator[tuple[_Health, str]]:
    page = _Health((200, {}))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            page.requests += 1
            status, body = page.answers.pop(0) if len(page.answers) > 1 else page.answers[0]
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield page, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_serve_waits_until_localstack_reports_every_service_ready(
    health: tuple[_Health, str],
) -> None:
    page, url = health
    page.answers = [
        (503, {}),
        (200, {"services": {"sqs": "running", "lambda": "initializing"}}),
        (200, {"services": {"sqs": "running", "lambda": "available"}}),
    ]

    wait_for_aws_endpoint(url, SERVICES, timeout_s=10, interval_s=0.01)

    assert page.requests == 3


def test_an_endpoint_that_never_gets_ready_is_named_after_the_deadline(
    health: tuple[_Health, str],
) -> None:
    page, url = health
    page.answers = [(200, {"services": {"sqs": "error"}})]

    with pytest.raises(UsageError, match=rf"{url} is not ready after 0 s .*not every service"):
        wait_for_aws_endpoint(url, SERVICES, timeout_s=0.05, interval_s=0.01)


def test_an_endpoint_without_a_localstack_health_page_is_ready_when_it_answers(
    moto_server: str,
) -> None:
    wait_for_aws_endpoint(moto_server, SERVICES, timeout_s=5, interval_s=0.01)


def socket_held() -> Any:
    """A loopback port held open by a listening socket, as a context manager."""
    import contextlib
    import socket

    @contextlib.contextmanager
    def held() -> Iterator[int]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            sock.listen()
            yield sock.getsockname()[1]

    return held()


def test_pytest_attaches_the_pipeline_stack_fixture_with_aws_url(
    moto_server: str, tmp_path: Path
) -> None:
    """`pytest --target containers --aws-url URL`: the fixture every pipeline test uses is the
    running pipeline, found there (here: the default stack name, deployed by a serve)."""
    served = _serve(f"--aws-url={moto_server}", "--api-port=0")  # stack "testbed"
    try:
        served.wait_for_line("ready")
        (tmp_path / "conftest.py").write_text(
            'pytest_plugins = ["serverless_testbed.targets.pytest_plugin"]\n'
        )
        (tmp_path / "test_attached.py").write_text(
            "def test_it(pipeline_stack):\n"
            f"    assert pipeline_stack.urls['aws'] == {moto_server!r}\n"
            "    assert pipeline_stack.deployment.stack_name == 'testbed'\n"
            "    assert pipeline_stack.deployment.target == 'containers'\n"
        )
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "--target=containers",
                f"--aws-url={moto_server}",
                str(tmp_path),
            ],
            cwd=tmp_path,
            env=clean_environment(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        _stop(served)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
