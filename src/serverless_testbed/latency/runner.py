"""Run executions through the deployment's POST {ApiUrl}/run and collect what each one saw.

Each iteration POSTs a fresh request (explicit request_id) and waits for the answer;
sequential by default, as the seed; with ``concurrency > 1`` that many requests are in flight
at once. The executions' histories (for the stage split) are read once every request of the
run has been answered: read during the run, GetExecutionHistory of the finished executions was
~30% of the emulator's work at 8 in flight, load the measurement itself put on what it measured.
"""

from __future__ import annotations

import json
import time
import urllib.error
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from serverless_testbed.deployment import Deployment
from serverless_testbed.latency.stages import HISTORY_EVENTS, Observation
from serverless_testbed.signed_http import signed_post

DEFAULT_TIMEOUT_S = 60.0


def post_run(
    url: str, body: dict[str, Any], timeout_s: float, *, credentials: Any, region: str
) -> tuple[int, dict[str, Any]]:
    status, raw = signed_post(
        url, json.dumps(body).encode(), credentials=credentials, region=region, timeout_s=timeout_s
    )
    return status, _parse(raw)


def _parse(raw: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {"message": raw.decode(errors="replace")[:200]}
    return parsed if isinstance(parsed, dict) else {"message": str(parsed)[:200]}


def execution_history(stepfunctions: Any, execution_arn: str) -> list[dict[str, Any]]:
    """The history events the stage arithmetic uses, as {"type", "timestamp_ms"}."""
    events: list[dict[str, Any]] = []
    paginator = stepfunctions.get_paginator("get_execution_history")
    for page in paginator.paginate(executionArn=execution_arn):
        events += [
            {"type": e["type"], "timestamp_ms": e["timestamp"].timestamp() * 1000}
            for e in page["events"]
            if e["type"] in HISTORY_EVENTS
        ]
    return events


def run_once(
    iteration: int,
    run_url: str,
    payload: Any,
    stepfunctions: Any,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    fail_at: str | None = None,
    *,
    credentials: Any,
    region: str,
) -> Observation:
    """One POST /run, timed; its history is read later (with_history)."""
    body: dict[str, Any] = {"request_id": f"latency-{uuid.uuid4().hex}"}
    if payload is not None:
        body["payload"] = payload
    if fail_at is not None:
        body["fail_at"] = fail_at
    status: int | None = None
    answer: dict[str, Any] = {}
    error: str | None = None
    client_sent = time.time() * 1000
    started = time.perf_counter()
    try:
        status, answer = post_run(run_url, body, timeout_s, credentials=credentials, region=region)
    except (OSError, urllib.error.URLError) as failure:
        error = f"POST {run_url} failed: {getattr(failure, 'reason', failure)}"
    elapsed_ms = (time.perf_counter() - started) * 1000
    client_received = time.time() * 1000
    return Observation(
        iteration=iteration,
        client_sent=client_sent,
        client_received=client_received,
        elapsed_ms=elapsed_ms,
        http_status=status,
        body=answer,
        error=error,
    )


def run(
    deployment: Deployment,
    *,
    repeat: int,
    concurrency: int = 1,
    payload: Any = None,
    fail_at: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    on_done: Callable[[Observation], None] | None = None,
) -> list[Observation]:
    """``repeat`` executions, ``concurrency`` at a time, in iteration order."""
    run_url = deployment.api_url.rstrip("/") + "/run"
    stepfunctions = deployment.client("stepfunctions")
    credentials = deployment.session.get_credentials()

    def one(iteration: int) -> Observation:
        observation = run_once(
            iteration,
            run_url,
            payload,
            stepfunctions,
            timeout_s,
            fail_at,
            credentials=credentials,
            region=deployment.region,
        )
        if on_done is not None:
            on_done(observation)
        return observation

    def completed(observation: Observation) -> Observation:
        return with_history(observation, stepfunctions)

    if concurrency == 1:
        answered = [one(i) for i in range(1, repeat + 1)]
        return [completed(o) for o in answered]
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        answered = list(pool.map(one, range(1, repeat + 1)))
        return list(pool.map(completed, answered))


def with_history(observation: Observation, stepfunctions: Any) -> Observation:
    """The observation with its execution's history, when the answer named an execution."""
    execution_arn = observation.body.get("execution_arn")
    if not execution_arn:
        return observation
    return replace(observation, history=execution_history(stepfunctions, execution_arn))
