"""`testbed latency` end to end: real stacks, real child processes, files on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from serverless_testbed.latency.report import read_tables
from serverless_testbed.latency.stages import STAGE_NAMES

from .cli import clean_environment, run_testbed

TITLES_OF_3 = [
    "Latency Breakdown (ms)",
    "Cold Start (iter=1)",
    "Warm Summary (iter=2..3)",
    "All Summary (iter=1..3)",
]


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture(scope="module")
def successful_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workdir = tmp_path_factory.mktemp("latency")
    result_file = workdir / "result.md"
    result_file.write_text("# earlier runs\n\nkept as they were\n")
    completed = run_testbed(
        "latency",
        "--repeat", "3",
        "--payload", '{"size": 3}',
        "--result-file", str(result_file),
        "--json", str(workdir / "run.json"),
        "--plot", str(workdir / "run.png"),
        cwd=workdir,
    )  # fmt: skip
    return {"completed": completed, "dir": workdir, "result_file": result_file}


def test_a_successful_run_exits_0_and_prints_the_four_tables(successful_run: dict) -> None:
    completed = successful_run["completed"]
    assert completed.returncode == 0, completed.stderr
    tables = read_tables(completed.stdout)
    assert [t.title for t in tables] == TITLES_OF_3
    assert all(t.well_formed for t in tables)
    breakdown = tables[0]
    assert breakdown.header == ["iter", *STAGE_NAMES, "residual", "total", "status"]
    assert [row[0] for row in breakdown.rows] == ["1", "2", "3"]
    assert all(row[-1] == "ok" for row in breakdown.rows)
    assert all(cell != "-" for row in breakdown.rows for cell in row)


def test_each_message_gets_a_log_line_with_its_queue_and_times(successful_run: dict) -> None:
    lines = [
        line for line in successful_run["completed"].stdout.splitlines() if line.startswith("iter=")
    ]
    assert len(lines) == 3
    for line in lines:
        assert "queue=testbed-RequestQueue-" in line
        assert " sent=20" in line and " received=20" in line


def test_the_json_file_holds_every_iteration_in_the_documented_shape(
    successful_run: dict,
) -> None:
    data = json.loads((successful_run["dir"] / "run.json").read_text())
    assert data["target"] == "embedded" and data["stack"] == "testbed"
    assert [i["iteration"] for i in data["iterations"]] == [1, 2, 3]
    for iteration in data["iterations"]:
        assert iteration["status"] == "SUCCEEDED"
        assert set(iteration["stages"]) == set(STAGE_NAMES)
        assert iteration["total_ms"] > 0
        assert iteration["queue"].startswith("testbed-RequestQueue-")
        assert iteration["execution_arn"].startswith("arn:aws:states:")
        assert sum(iteration["stages"].values()) + iteration["residual_ms"] == pytest.approx(
            iteration["total_ms"]
        )


def test_the_result_file_keeps_what_was_there_and_gets_the_whole_block(
    successful_run: dict,
) -> None:
    text = successful_run["result_file"].read_text()
    assert text.startswith("# earlier runs\n\nkept as they were\n\n# Latency run: embedded")
    assert text.endswith(successful_run["completed"].stdout)
    for field in ("- target: embedded", "- stack: testbed", "- region: us-east-1", "- N: 3"):
        assert field in text
    assert "- date: 20" in text and "- git revision: " in text


def test_the_plot_is_a_png_file(successful_run: dict) -> None:
    assert (successful_run["dir"] / "run.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_failed_executions_are_shown_as_failed_never_averaged_and_exit_1(
    tmp_path: Path,
) -> None:
    completed = run_testbed(
        "latency", "--repeat", "2", "--fail-at", "worker", "--json", "run.json", cwd=tmp_path
    )
    assert completed.returncode == 1
    assert one_error_line(completed.stderr).startswith(
        "testbed latency: failed: 2 of 2 iterations failed (first: iter=1 FAILED: InjectedFault"
    )
    tables = {t.title: t for t in read_tables(completed.stdout)}
    assert [row[-1] for row in tables["Latency Breakdown (ms)"].rows] == ["failed (FAILED)"] * 2
    assert "All Summary (iter=1..2)" not in tables  # nothing succeeded: nothing to average
    assert "0 succeeded, 2 failed (failed not included)" in completed.stdout
    data = json.loads((tmp_path / "run.json").read_text())
    assert [i["status"] for i in data["iterations"]] == ["FAILED", "FAILED"]


def test_an_unknown_stack_is_one_line_and_exit_2(tmp_path: Path) -> None:
    completed = run_testbed("latency", "--stack-name", "no-such-stack", cwd=tmp_path)
    assert completed.returncode == 2
    line = one_error_line(completed.stderr)
    assert "stack 'no-such-stack' not found" in line and "--stack-name" in line
    assert completed.stdout == ""


@pytest.mark.parametrize(
    ("arguments", "extra_env", "message"),
    [
        (["--payload", "{not json"], {}, "--payload is not valid JSON"),
        (["--repeat", "0"], {}, "--repeat must be at least 1"),
        (["--plot", "nowhere/x.png"], {}, "directory nowhere does not exist"),
        (["--target", "containers"], {}, "the containers target"),
        (
            ["--target", "aws", "--stack-name", "s"],
            {
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "",
                "AWS_SECRET_ACCESS_KEY": "",
            },
            "no AWS credentials",
        ),
        (["--target", "aws", "--stack-name", "s"], {}, "no AWS region: pass --region"),
        (["--target", "aws", "--region", "us-east-1"], {}, "no stack name: pass --stack-name"),
        (
            [
                "--target",
                "aws",
                "--stack-name",
                "s",
                "--region",
                "us-east-1",
                "--profile",
                "nobody",
            ],
            {},
            "AWS profile 'nobody' not found",
        ),
    ],
)
def test_bad_input_is_one_line_naming_the_fix_and_exit_2(
    tmp_path: Path, arguments: list[str], extra_env: dict[str, str], message: str
) -> None:
    completed = run_testbed("latency", *arguments, cwd=tmp_path, env=clean_environment(extra_env))
    assert completed.returncode == 2
    assert message in one_error_line(completed.stderr)
    assert completed.stdout == ""
