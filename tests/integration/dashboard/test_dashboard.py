"""The dashboard against a real stack: executions started through POST /run, queues, stress
workers reporting on the stack's Redis, all read back through the dashboard's own HTTP
server over a socket, as the page reads them."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from serverless_testbed.dashboard.queues import QueueWatch
from serverless_testbed.dashboard.server import DashboardServer
from serverless_testbed.deployment import Deployment
from serverless_testbed.pipeline.contract import INJECTED_FAULT_ERROR
from tests.integration.helpers import http_post, wait_until

from .conftest import PREFIX


def get(server: DashboardServer, path: str, host: str | None = None) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", path, headers={"Host": host or f"127.0.0.1:{server.port}"})
    response = connection.getresponse()
    answer = response.status, dict(response.getheaders()), response.read()
    connection.close()
    return answer


def snapshot(server: DashboardServer) -> dict[str, Any]:
    status, _, body = get(server, "/api/snapshot")
    assert status == 200
    return json.loads(body)


def post_run(deployment: Any, **fields: Any) -> dict[str, Any]:
    status, body = http_post(
        f"{deployment.api_url}/run",
        {"payload": {"n": 1}, **fields},
        credentials=deployment.session.get_credentials(),
    )
    assert status in (200, 502), body
    return body


def pipeline_totals(server: DashboardServer) -> dict[str, int]:
    return snapshot(server)["state_machines"]["pipeline"]["totals"]


def test_executions_through_post_run_are_counted_started_and_succeeded_with_durations(
    watched: Deployment, dashboard: DashboardServer
) -> None:
    before = pipeline_totals(dashboard)
    for _ in range(3):
        assert post_run(watched)["status"] == "SUCCEEDED"

    def three_more() -> dict[str, int] | None:
        totals = pipeline_totals(dashboard)
        return totals if totals.get("SUCCEEDED", 0) - before.get("SUCCEEDED", 0) >= 3 else None

    after = wait_until(three_more, timeout_s=10, what="3 more SUCCEEDED on the dashboard")
    assert after["SUCCEEDED"] - before.get("SUCCEEDED", 0) == 3
    assert after["started"] - before["started"] == 3
    durations = [
        s["state_machines"]["pipeline"]["latency_ms"]
        for s in json.loads(get(dashboard, "/api/history")[2])
    ]
    assert any(d.get("p50", 0) > 0 for d in durations)


def test_a_failed_execution_is_listed_with_the_error_and_cause_it_ended_with(
    watched: Deployment, dashboard: DashboardServer
) -> None:
    request_id = f"dash-fail-{uuid.uuid4().hex[:8]}"
    body = post_run(watched, request_id=request_id, fail_at="worker")
    assert body["status"] == "FAILED"

    def listed() -> dict[str, Any] | None:
        failures = snapshot(dashboard)["state_machines"]["pipeline"]["recent_failures"]
        return next((f for f in failures if f["name"] == request_id and f["described"]), None)

    failure = wait_until(listed, timeout_s=10, what=f"{request_id} among the failures")
    assert (failure["status"], failure["error"]) == ("FAILED", INJECTED_FAULT_ERROR)
    assert request_id in failure["cause"]


def test_queue_depths_are_the_queues_own_counts(pipeline_stack: Any) -> None:
    sqs = pipeline_stack.client("sqs")
    url = sqs.create_queue(QueueName=f"dash-depth-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    try:
        for n in range(3):
            sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
        sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=60)
        assert len(received["Messages"]) == 1
        depths = QueueWatch(sqs, {"test": url}).sample()
        assert depths == {"test": {"visible": 2, "in_flight": 1, "delayed": 1}}
    finally:
        sqs.delete_queue(QueueUrl=url)


def test_a_running_stress_worker_shows_with_its_operations(
    pipeline_stack: Any, dashboard: DashboardServer, tmp_path: Path
) -> None:
    redis_url = pipeline_stack.urls["redis"]
    env = {**os.environ, "TESTBED_CONTROL_SECRET": "dashboard-test-secret"}
    worker_command = [sys.executable, "-m", "serverless_testbed.cli", "worker"]
    worker_command += ["--redis", redis_url, "--prefix", PREFIX, "--worker-id", "dash-worker"]
    worker_command += ["--db", "redis", "--db-redis", f"{redis_url}/2"]
    log = tmp_path / "worker.log"
    with log.open("wb") as sink:
        worker = subprocess.Popen(worker_command, env=env, stdout=sink, stderr=sink)
    try:
        (tmp_path / "config.json").write_text(
            json.dumps({"table_name": "t", "region": "us-east-1", "threads": 1})
        )
        traffic = [{"action": "putItem", "seed": 1, "qps": 200, "times": 400, "data": {"a": 8}}]
        (tmp_path / "traffic.json").write_text(json.dumps(traffic))
        publish = [sys.executable, "-m", "serverless_testbed.cli", "publish"]
        publish += ["--redis", redis_url, "--prefix", PREFIX]
        publish += ["--config", str(tmp_path / "config.json")]
        publish += ["--traffic", str(tmp_path / "traffic.json")]
        done = subprocess.run(publish, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr

        def executed() -> dict[str, Any] | None:
            stress = snapshot(dashboard)["stress"]
            tasks = stress["tasks"].values()
            return stress if sum(t["executed"] for t in tasks) >= 400 else None

        stress = wait_until(executed, timeout_s=30, what="the worker's 400 operations")
        assert (stress["workers"], stress["malformed_reports"]) == (1, 0)
        (task,) = stress["tasks"].values()
        assert task["failed"] == 0
        assert task["intended_ms"]["p50"] > 0
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert worker.returncode == 0, log.read_text(errors="replace")


def test_the_page_and_its_stream_are_served_with_a_policy_that_loads_only_its_own_files(
    dashboard: DashboardServer,
) -> None:
    status, headers, body = get(dashboard, "/")
    assert status == 200 and b'src="/dashboard.js"' in body
    assert headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert get(dashboard, "/dashboard.js")[0] == get(dashboard, "/dashboard.css")[0] == 200

    connection = http.client.HTTPConnection("127.0.0.1", dashboard.port, timeout=10)
    connection.request("GET", "/api/events", headers={"Host": f"localhost:{dashboard.port}"})
    response = connection.getresponse()
    assert response.getheader("Content-Type") == "text/event-stream"
    lines = [response.fp.readline() for _ in range(3)]
    connection.close()
    assert lines[0] == b"event: snapshot\n" and lines[1].startswith(b"id: ")
    assert "state_machines" in json.loads(lines[2].removeprefix(b"data: "))


def test_a_foreign_host_an_unknown_path_and_a_write_are_refused(
    dashboard: DashboardServer,
) -> None:
    assert get(dashboard, "/api/snapshot", host="evil.example:80")[0] == 403
    assert get(dashboard, "/api/snapshot", host=f"attacker.test:{dashboard.port}")[0] == 403
    assert get(dashboard, "/nothing-here")[0] == 404
    connection = http.client.HTTPConnection("127.0.0.1", dashboard.port, timeout=10)
    connection.request("POST", "/api/snapshot", body=b"{}")
    response = connection.getresponse()
    assert (response.status, response.getheader("Allow")) == (405, "GET")
    connection.close()
