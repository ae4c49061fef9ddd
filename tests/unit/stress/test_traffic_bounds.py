"""Stress input files are bounded by what the product can execute: size, nesting, every number.

Each bad file is refused with one line naming the file and the JSON path, before anything is
planned or published (the loaders raise UsageError: exit code 2).
"""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from serverless_testbed.errors import UsageError
from serverless_testbed.stress import traffic
from serverless_testbed.stress.publish.schedule import build_schedule
from serverless_testbed.stress.traffic import load_config, load_traffic

GOOD_TASK: dict[str, Any] = {"action": "query", "qps": 100, "duration": 10}
GOOD_CONFIG: dict[str, Any] = {"table_name": "t", "region": "us-east-1", "threads": 2}


def refusal(loader: Any, path: Path) -> str:
    with pytest.raises(UsageError) as caught:
        loader(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


def traffic_file(tmp_path: Path, content: Any) -> Path:
    path = tmp_path / "traffic.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_a_symlink_to_dev_zero_is_refused_without_reading_it(tmp_path: Path) -> None:
    link = tmp_path / "traffic.json"
    link.symlink_to("/dev/zero")
    assert refusal(load_traffic, link) == f"{link}: not a regular file (a character device)"


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    assert refusal(load_config, fifo) == f"{fifo}: not a regular file (a FIFO)"


def test_a_directory_is_refused(tmp_path: Path) -> None:
    assert refusal(load_traffic, tmp_path) == f"{tmp_path}: not a regular file (a directory)"


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    # Valid JSON, only too big: the limit, not the parser, refuses it.
    text = json.dumps([GOOD_TASK])
    path = traffic_file(tmp_path, text + " " * (traffic.MAX_FILE_BYTES - len(text) + 1))
    assert refusal(load_traffic, path) == (
        f"{path}: larger than {traffic.MAX_FILE_BYTES:,} bytes (the limit for a stress input file)"
    )
    path.write_text(text + " " * (traffic.MAX_FILE_BYTES - len(text)))
    assert len(load_traffic(path).tasks) == 1


def test_a_file_with_too_many_tasks_is_refused(tmp_path: Path) -> None:
    path = traffic_file(tmp_path, [[GOOD_TASK] * (traffic.MAX_TASKS + 1)])
    assert refusal(load_traffic, path) == (
        f"{path}[0][{traffic.MAX_TASKS}]: more than {traffic.MAX_TASKS:,} tasks in one file"
    )


@pytest.mark.parametrize("depth", [traffic.MAX_DEPTH + 1, 100_000])
def test_nesting_deeper_than_the_limit_is_one_line(tmp_path: Path, depth: int) -> None:
    path = traffic_file(tmp_path, "[" * depth + "]" * depth)
    message = refusal(load_traffic, path)
    assert message.startswith(f"{path}")
    assert message.endswith(f"nested deeper than {traffic.MAX_DEPTH} levels")


def test_deep_nesting_inside_config_sample_data_names_the_path(tmp_path: Path) -> None:
    deep: Any = 1
    for _ in range(traffic.MAX_DEPTH):
        deep = {"k": deep}
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**GOOD_CONFIG, "sample_data": [deep]}))
    message = refusal(load_config, path)
    assert message.startswith(f"{path}.sample_data[0].k.k")
    assert message.endswith(f"nested deeper than {traffic.MAX_DEPTH} levels")


@pytest.mark.parametrize(
    ("task", "where", "expected"),
    [
        ({**GOOD_TASK, "times": 10**30}, ".times", "less than or equal to"),
        ({**GOOD_TASK, "duration": 1e12}, ".duration", "less than or equal to 2678400"),
        ({**GOOD_TASK, "qps": 1e30}, ".qps", "less than or equal to 10000000"),
        (
            {**GOOD_TASK, "qps": 100_000, "qpss": [1000] + [1] * 23},
            ".qpss",
            "peak rate qps x 1000 = 100,000,000 operations/s is over",
        ),
        ({**GOOD_TASK, "data": {"c": 10**12}}, ".data.c", "at most 409,600 bytes"),
        (
            {**GOOD_TASK, "data": {"c": {"r": 2, "len": 10**12}}},
            ".data.c",
            "'len' must be at most 409,600",
        ),
        (
            {**GOOD_TASK, "data": {"a": 300_000, "b": 300_000}},
            ".data",
            "an item of 600,002 bytes is over DynamoDB's 409,600-byte item limit",
        ),
        (
            {**GOOD_TASK, "data": {"c": {"r": 2**40, "len": 1}}},
            ".data.c",
            "'r' must be at most 4,294,967,296",
        ),
        ({**GOOD_TASK, "samples": 10**9}, ".samples", "less than or equal to 100000"),
        (
            {**GOOD_TASK, "action": "putItem", "samples": 100_000, "data": {"c": 400_000}},
            ".samples",
            "100,000 samples x 1 seed(s) x 400,001 bytes",
        ),
        ({**GOOD_TASK, "seeds": [1.0] * 1025}, ".seeds", "at most 1024 items"),
        ({**GOOD_TASK, "seeds": [1e300, 1e300]}, ".seeds[0]", "less than or equal to 1000000000"),
        (
            {**GOOD_TASK, "seed": 2**63 - 1, "seeds": [1, 1]},
            ".seeds",
            "seed + 1 is over the largest seed",
        ),
    ],
)
def test_every_number_is_bounded_by_what_the_product_can_execute(
    tmp_path: Path, task: dict[str, Any], where: str, expected: str
) -> None:
    path = traffic_file(tmp_path, [GOOD_TASK, task])
    message = refusal(load_traffic, path)
    assert message.startswith(f"{path}[1]{where}: "), message
    assert expected in message, message


def test_seed_and_seeds_together_name_the_candidate_seeds(tmp_path: Path) -> None:
    """The seed design's grammar: ``seed`` is the first of the candidates ``seeds`` weighs."""
    task = {**GOOD_TASK, "seed": 2**63 - 2, "seeds": [1, 1]}
    (entry,) = load_traffic(traffic_file(tmp_path, [task])).tasks
    assert (entry.task.seed, entry.task.seeds) == (2**63 - 2, [1, 1])


def test_a_task_that_would_run_past_the_longest_duration_is_refused(tmp_path: Path) -> None:
    # 1 operation a minute: a million operations take ~2 years, not a run that ends.
    path = traffic_file(tmp_path, [GOOD_TASK, {"action": "query", "qps": 1 / 60, "times": 10**6}])
    with pytest.raises(UsageError) as caught:
        build_schedule(load_traffic(path), start_second=Fraction(0))
    assert str(caught.value) == (
        f"{path}[1].times: 1,000,000 operations take longer than the longest task "
        "(2,678,400 s of schedule time) at this rate: lower 'times' or add a 'duration'"
    )


def test_the_largest_allowed_values_still_load_and_plan(tmp_path: Path) -> None:
    task = {
        "action": "updateItem",
        "seed": 2**63 - 2,
        "seeds": [1, 1],
        "qps": traffic.MAX_QPS,
        "times": traffic.MAX_QPS * 3600,
        "duration": traffic.MAX_TASK_SECONDS,
        "samples": 16,
        "data": {"a": traffic.MAX_ITEM_BYTES - 1},
    }
    schedule = build_schedule(load_traffic(traffic_file(tmp_path, [task])), start_second=0)
    assert schedule.total == traffic.MAX_QPS * 3600


def test_the_publish_command_exits_2_with_the_one_line_before_any_redis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from serverless_testbed.cli import main

    config = tmp_path / "config.json"
    config.write_text(json.dumps(GOOD_CONFIG))
    link = tmp_path / "traffic.json"
    link.symlink_to("/dev/zero")
    # Port 1 refuses connections: reaching Redis would be a different error (exit 1).
    argv = ["publish", "--redis", "127.0.0.1:1", "--config", str(config), "--traffic", str(link)]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        f"testbed publish: error: {link}: not a regular file (a character device)\n"
    )
