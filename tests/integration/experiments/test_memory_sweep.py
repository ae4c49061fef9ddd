"""`testbed memory-sweep`: MemorySize per size, restored afterwards (also after an error in
the middle); bad sizes are refused before anything is touched."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from serverless_testbed.cli import main
from serverless_testbed.experiments import memory_sweep
from serverless_testbed.experiments.commands import lambda_client
from tests.integration.latency.cli import run_testbed

if TYPE_CHECKING:
    from serverless_testbed.embedded.stack import EmbeddedStack

ROOT = Path(__file__).resolve().parents[3]


def memory_of(client: object, name: str) -> int:
    return int(client.get_function_configuration(FunctionName=name)["MemorySize"])  # type: ignore[attr-defined]


def test_each_size_is_set_and_the_original_is_restored(embedded_stack: EmbeddedStack) -> None:
    name = embedded_stack.resource_ids()["ProbeFunction"]
    client = lambda_client(embedded_stack)
    original = memory_of(client, name)
    seen: list[int] = []

    result = memory_sweep.run(
        client,
        name,
        [256, 512],
        iterations=2,
        payload={"cpu_ms": 1},
        on_invocation=lambda size, invocation: seen.append(invocation.report.memory_size_mb),  # type: ignore[union-attr]
    )

    assert seen == [256, 256, 512, 512]
    assert memory_of(client, name) == original
    rows = result.summaries()
    assert [row["memory_mb"] for row in rows] == [256, 512]
    assert all(row["errors"] == 0 and row["init_duration_ms"] for row in rows)
    assert sum(row["cheapest"] for row in rows) == 1


@pytest.mark.parametrize(
    "error", [RuntimeError("forced error"), KeyboardInterrupt()], ids=["error", "ctrl-c"]
)
def test_a_forced_error_in_the_middle_still_restores_the_original_size(
    embedded_stack: EmbeddedStack, error: BaseException
) -> None:
    name = embedded_stack.resource_ids()["ProbeFunction"]
    client = lambda_client(embedded_stack)
    original = memory_of(client, name)

    def fail_at_the_second_size(size: int, invocation: object) -> None:
        assert memory_of(client, name) == size
        if size == 1024:
            raise error  # in the middle: after one size, before the last

    with pytest.raises(type(error)):
        memory_sweep.run(
            client, name, [512, 1024, 2048], iterations=1, on_invocation=fail_at_the_second_size
        )

    assert memory_of(client, name) == original


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--memory", "127"], "--memory '127': memory sizes are whole MB between 128 and 10240"),
        (["--memory", "512,10241"], "--memory '10241': memory sizes are whole MB between"),
        (["--memory", "1.5"], "--memory '1.5': memory sizes are whole MB between"),
        (["--iterations", "0"], "--iterations must be at least 1 (got 0)"),
        (["--payload", "{"], "--payload is not valid JSON"),
    ],
)
def test_bad_input_is_exit_2_and_no_configuration_is_touched(
    embedded_stack: EmbeddedStack,
    arguments: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = embedded_stack.resource_ids()["ProbeFunction"]
    client = lambda_client(embedded_stack)
    before = client.get_function_configuration(FunctionName=name)

    # In this process a started stack would fail (the session's holds moto's state), so exit
    # 2 here also shows that the command started nothing.
    assert main(["memory-sweep", *arguments]) == 2

    assert capsys.readouterr().err.startswith(f"testbed memory-sweep: error: {message}")
    after = client.get_function_configuration(FunctionName=name)
    for configuration in (before, after):
        configuration.pop("ResponseMetadata")
    assert after == before


def test_the_command_prints_the_table_with_prices_and_writes_json_and_plot(
    tmp_path: Path,
) -> None:
    json_file, plot = tmp_path / "sweep.json", tmp_path / "sweep.png"

    completed = run_testbed(
        "memory-sweep",
        "--memory",
        "512,1769",
        "--iterations",
        "2",
        "--payload",
        '{"cpu_ms": 20}',
        "--json",
        str(json_file),
        "--plot",
        str(plot),
        cwd=ROOT,
    )

    assert completed.returncode == 0, completed.stderr
    assert "| memory (MB) | invocations | errors | duration p50 (ms) |" in completed.stdout
    assert "https://aws.amazon.com/lambda/pricing/" in completed.stdout
    data = json.loads(json_file.read_text())
    assert [row["memory_mb"] for row in data["sizes"]] == [512, 1769]
    assert data["restored"] and data["original_memory_mb"] == 128
    if data["cpu_scaled"]:
        assert plot.read_bytes().startswith(b"\x89PNG")
    else:
        assert "CPU not scaled on this host" in completed.stdout
