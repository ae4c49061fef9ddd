"""The dashboard the tests read: a sampler of the pipeline stack (and its Redis, for the
stress workers' reports) behind the dashboard's HTTP server on a free loopback port."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from serverless_testbed.dashboard.server import DashboardServer
from serverless_testbed.dashboard.watching import sampler_for
from serverless_testbed.deployment import Deployment

PREFIX = f"dash{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def watched(pipeline_stack: Any) -> Deployment:
    """The template deployed again under a name of the module's own: the executions the
    dashboard counts are this module's only, whatever other tests left running."""
    return pipeline_stack.deploy(f"dash-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def dashboard(pipeline_stack: Any, watched: Deployment) -> Iterator[DashboardServer]:
    client = redis.Redis.from_url(pipeline_stack.urls["redis"])
    sampler = sampler_for(watched, redis_client=client, prefix=PREFIX, interval_s=0.2)
    server = DashboardServer(0)
    sampler.start()
    server.start(sampler)
    yield server
    server.stop()
    sampler.stop()
