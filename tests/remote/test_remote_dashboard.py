"""The dashboard's watches on the deployed stack: runs made between two looks are counted,
through the same ListExecutions and GetQueueAttributes calls the page's sampler makes, at the
pace `testbed dashboard --target aws` keeps (ListExecutions' account quota)."""

from __future__ import annotations

import time

import pytest

from serverless_testbed.dashboard.commands import AWS_DEFAULT_INTERVAL_S
from serverless_testbed.dashboard.watching import sampler_for
from serverless_testbed.deployment import Deployment
from serverless_testbed.latency import runner

pytestmark = pytest.mark.remote
LOOKS = 12  # a minute at the aws pace: ListExecutions lists an ended execution well within it


def test_the_dashboard_counts_the_runs_made_between_its_looks(
    remote_deployment: Deployment,
) -> None:
    sampler = sampler_for(
        remote_deployment, redis_client=None, prefix="dst", interval_s=AWS_DEFAULT_INTERVAL_S
    )
    sampler.sample_now()
    observations = runner.run(remote_deployment, repeat=2)
    assert [o.body.get("status") for o in observations] == ["SUCCEEDED", "SUCCEEDED"]
    for look in range(LOOKS):
        snapshot = sampler.sample_now()
        totals = snapshot["state_machines"]["pipeline"]["totals"]
        if totals.get("SUCCEEDED", 0) >= 2 or look == LOOKS - 1:
            break
        time.sleep(AWS_DEFAULT_INTERVAL_S)  # the next look, at the quota's pace
    assert snapshot["errors"] == {}
    assert totals.get("SUCCEEDED", 0) >= 2 and totals["started"] >= 2
    assert set(snapshot["queues"]) == {"requests", "dead_letters"}
