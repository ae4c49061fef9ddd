"""`testbed coldstart` on the embedded stack: the seed's two findings, from the ids the real
container processes made at init (the probe returns its own), and forced cold starts."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

from serverless_testbed.experiments import coldstart
from serverless_testbed.experiments.commands import lambda_client

if TYPE_CHECKING:
    from serverless_testbed.embedded.stack import EmbeddedStack


@pytest.fixture
def probe(embedded_stack: EmbeddedStack) -> str:
    """The probe's name, its containers retired first (a configuration change does that on
    every target), so each test starts from a cold function."""
    name = embedded_stack.resource_ids()["ProbeFunction"]
    embedded_stack.client("lambda").update_function_configuration(
        FunctionName=name, Environment={"Variables": {"TEST_RUN": uuid.uuid4().hex}}
    )
    return name


def served_by(run: coldstart.ColdstartRun) -> Counter[str]:
    assert all(call.error is None for call in run.calls), [c.error for c in run.calls]
    return Counter(call.container_id for call in run.calls if call.container_id)


def test_without_sleep_fewer_containers_serve_than_callers_and_reuse_is_uneven(
    embedded_stack: EmbeddedStack, probe: str
) -> None:
    workers = 16
    client = lambda_client(embedded_stack, workers)
    # As in the seed, the function has run before: a container for every caller is warm.
    warm_up = coldstart.run(client, probe, workers=workers, iterations=workers, sleep_ms=300)
    assert len(served_by(warm_up)) == workers

    run = coldstart.run(client, probe, workers=workers, iterations=10 * workers)

    counts = served_by(run)
    assert sum(counts.values()) == 10 * workers
    # A call spends far less time in the handler than on its way there and back, so the
    # callers are seldom inside the function together: fewer containers serve them...
    assert len(counts) < workers
    # ... unevenly (the seed's `uniq -c`: 5, 1, 1, 9, ... for one run).
    assert max(counts.values()) - min(counts.values()) >= 2
    assert run.summary()["reuse_stddev"] > 0
    assert run.summary()["cold_starts"] == 0  # they were all warm


def test_with_a_one_second_sleep_each_caller_has_its_own_container_and_reuse_is_even(
    embedded_stack: EmbeddedStack, probe: str
) -> None:
    workers, rounds = 4, 2
    client = lambda_client(embedded_stack, workers)

    run = coldstart.run(client, probe, workers=workers, iterations=workers * rounds, sleep_ms=1000)

    counts = served_by(run)
    assert len(counts) == workers
    assert set(counts.values()) == {rounds}
    summary = run.summary()
    assert (summary["containers"], summary["cold_starts"], summary["reuse_stddev"]) == (
        workers,
        workers,
        0,
    )


def test_force_cold_makes_every_invocation_a_cold_start_and_restores_the_environment(
    embedded_stack: EmbeddedStack, probe: str
) -> None:
    client = lambda_client(embedded_stack, 2)
    before = client.get_function_configuration(FunctionName=probe)["Environment"]["Variables"]

    run = coldstart.run(client, probe, workers=2, iterations=5, force_cold=True)

    counts = served_by(run)
    assert len(counts) == 5 and set(counts.values()) == {1}
    assert all(call.cold and call.init_ms is not None for call in run.calls)
    assert run.summary()["init_ms"]["count"] == 5
    after = client.get_function_configuration(FunctionName=probe)["Environment"]["Variables"]
    assert after == before


def test_report_lines_carry_init_duration_on_cold_starts_only(
    embedded_stack: EmbeddedStack, probe: str
) -> None:
    client = lambda_client(embedded_stack, 2)

    run = coldstart.run(client, probe, workers=2, iterations=12, sleep_ms=50)

    for call in run.calls:
        assert call.duration_ms is not None and call.billed_duration_ms is not None
        first_of_its_container = call.container_invocation == 1
        assert (call.init_ms is not None) == first_of_its_container, call
    assert run.summary()["cold_starts"] == len(served_by(run))


def test_the_json_has_containers_invocations_and_a_summary(
    embedded_stack: EmbeddedStack, probe: str
) -> None:
    client = lambda_client(embedded_stack, 2)

    data: dict[str, Any] = json.loads(
        json.dumps(coldstart.run(client, probe, workers=2, iterations=4).to_json())
    )

    assert set(data) == {"containers", "invocations", "summary"}
    assert sum(c["invocations"] for c in data["containers"]) == 4
    assert {"id", "invocations", "init_ms", "first_use", "last_use"} <= set(data["containers"][0])
    assert len(data["invocations"]) == 4
    assert data["summary"]["containers"] == len(data["containers"])
