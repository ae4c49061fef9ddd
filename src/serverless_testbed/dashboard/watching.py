"""The watches of one pipeline deployment: its state machines, its queues, the stress workers."""

from __future__ import annotations

from typing import Any

from serverless_testbed.dashboard.executions import ExecutionWatch
from serverless_testbed.dashboard.queues import QueueWatch
from serverless_testbed.dashboard.sampler import Sampler, Watches
from serverless_testbed.dashboard.stress import StressWatch
from serverless_testbed.deployment import Deployment


def sampler_for(
    deployment: Deployment,
    *,
    redis_client: Any | None,
    prefix: str,
    interval_s: float,
) -> Sampler:
    sfn = deployment.client("stepfunctions")
    machines = {"pipeline": ExecutionWatch(sfn, deployment.state_machine_arn)}
    if deployment.delay_state_machine_arn:
        machines["delay"] = ExecutionWatch(sfn, deployment.delay_state_machine_arn)
    queues = QueueWatch(
        deployment.client("sqs"),
        {"requests": deployment.queue_url, "dead_letters": deployment.dead_letter_queue_url},
    )
    stress = StressWatch(redis_client, prefix) if redis_client is not None else None
    about = {
        "target": deployment.target,
        "stack": deployment.stack_name,
        "region": deployment.region,
        "state_machines": {label: watch.state_machine_arn for label, watch in machines.items()},
        "queues": dict(queues.queues),
        "stress_prefix": prefix if stress is not None else None,
    }
    return Sampler(
        Watches(state_machines=machines, queues=queues, stress=stress),
        interval_s=interval_s,
        about=about,
    )
