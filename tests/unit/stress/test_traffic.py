"""config.json and traffic.json: what loads, and the one-line error for every bad case."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from serverless_testbed.errors import UsageError
from serverless_testbed.stress.traffic import (
    Config,
    RandomColumn,
    TaskSpec,
    load_config,
    load_files,
    load_traffic,
)

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "stress"
GOOD_TASK: dict[str, Any] = {"action": "query", "qps": 100, "duration": 10}
SEED_PROFILE = [
    *(0.7042, 0, 0, 0, 0.7746, 0, 0.8451, 0, 0.9155, 0.9718, 1.0, 0.9718),
    *(
        0.8451,
        0.5493,
        0.4366,
        0.4225,
        0.3662,
        0.3380,
        0.3662,
        0.4085,
        0.4789,
        0.5634,
        0.6338,
        0.6901,
    ),
]
GOOD_CONFIG: dict[str, Any] = {"table_name": "t", "region": "us-east-1", "threads": 2}


def write(tmp_path: Path, name: str, content: Any) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def load_error(loader: Callable[[Path], Any], tmp_path: Path, name: str, content: Any) -> str:
    """The UsageError message of loading ``content``, relative to the test's directory."""
    with pytest.raises(UsageError) as caught:
        loader(write(tmp_path, name, content))
    message = str(caught.value)
    assert "\n" not in message
    return message.removeprefix(str(tmp_path) + "/")


def test_the_seed_design_examples_load() -> None:
    seed_traffic = [
        {
            "action": "updateItem",
            "seed": 1,
            "qps": 5000000,
            "times": 2170660028,
            "samples": 16,
            "data": {
                "request_": {"r": 16, "len": 8000},
                "bid_feedback_2": 10000,
                "impression": "this is text",
            },
        },
        {
            "action": "query",
            "qps": 3600000,
            "qpss": SEED_PROFILE,
            "seeds": [15.38, 48.58, 7.36, 22.58, 4.82, 1.29],
            "duration": 86400,
        },
    ]
    first, second = (entry.task for entry in _load(seed_traffic).tasks)
    assert first.data == {
        "request_": RandomColumn(r=16, len=8000),
        "bid_feedback_2": 10000,
        "impression": "this is text",
    }
    assert first.times == 2170660028 and first.duration is None
    assert second.seed == 0 and second.seeds is not None and len(second.seeds) == 6


def _load(content: Any) -> Any:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        return load_traffic(write(Path(directory), "traffic.json", content))


def test_the_shipped_examples_load() -> None:
    config, traffic = load_files(EXAMPLES / "config.json", EXAMPLES / "traffic.json")
    assert config.threads >= 1
    assert [entry.key for entry in traffic.tasks] == ["0", "1.0", "1.1", "2"]
    assert load_traffic(EXAMPLES / "traffic-24h.json").tasks[0].task.qpss is not None


def test_a_nested_list_is_one_concurrent_step_with_positional_keys(tmp_path: Path) -> None:
    traffic = load_traffic(write(tmp_path, "t.json", [GOOD_TASK, [GOOD_TASK, GOOD_TASK]]))
    assert [[entry.key for entry in step] for step in traffic.steps] == [["0"], ["1.0", "1.1"]]
    assert traffic.steps[1][1].path.endswith("t.json[1][1]")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[{", "traffic.json: not valid JSON: Expecting property name"),
        ("", "traffic.json: not valid JSON: Expecting value at line 1 column 1"),
        (
            '[{"action": "query", "qps": NaN, "duration": 1}]',
            "traffic.json: not valid JSON: NaN is not a JSON number",
        ),
        ({"action": "query"}, "traffic.json: must be a JSON list of tasks (got an object)"),
        ([], "traffic.json: the list of tasks is empty"),
        ([[]], "traffic.json[0]: a concurrent group must hold at least one task"),
        ([GOOD_TASK, 3], "traffic.json[1]: must be a task object or a list of task objects"),
        ([[GOOD_TASK, [GOOD_TASK]]], "traffic.json[0][1]: must be a task object"),
        ([{"qps": 1, "times": 1}], "traffic.json[0].action: required field is missing"),
        ([{**GOOD_TASK, "action": "scan"}], "traffic.json[0].action: input should be 'updateItem'"),
        ([{**GOOD_TASK, "qsp": 3}], "traffic.json[0].qsp: unknown field (allowed: action,"),
        ([{"action": "query", "qps": 5}], "traffic.json[0]: needs 'times' or 'duration'"),
        ([{**GOOD_TASK, "qps": 0}], "traffic.json[0].qps: input should be greater than 0"),
        ([{**GOOD_TASK, "qps": -5}], "traffic.json[0].qps: input should be greater than 0"),
        ([{**GOOD_TASK, "qps": "5"}], "traffic.json[0].qps: input should be a valid number"),
        ([{**GOOD_TASK, "qps": True}], "traffic.json[0].qps: input should be a valid number"),
        ([{"action": "query", "duration": 1}], "traffic.json[0].qps: required field is missing"),
        ([{**GOOD_TASK, "seed": -1}], "traffic.json[0].seed: input should be greater than"),
        ([{**GOOD_TASK, "seed": 1.5}], "traffic.json[0].seed: input should be a valid integer"),
        ([{**GOOD_TASK, "seeds": []}], "traffic.json[0].seeds: list should have at least 1"),
        ([{**GOOD_TASK, "seeds": [2.2, 0]}], "traffic.json[0].seeds[1]: input should be greater"),
        ([{**GOOD_TASK, "seeds": [1, "a"]}], "traffic.json[0].seeds[1]: input should be a valid"),
        ([{**GOOD_TASK, "times": 0}], "traffic.json[0].times: input should be greater than"),
        ([{**GOOD_TASK, "times": 2.5}], "traffic.json[0].times: input should be a valid integer"),
        ([{**GOOD_TASK, "duration": 0}], "traffic.json[0].duration: input should be greater"),
        ([{**GOOD_TASK, "samples": -1}], "traffic.json[0].samples: input should be greater"),
        ([{**GOOD_TASK, "qpss": [1] * 23}], "traffic.json[0].qpss: must hold exactly 24 hourly"),
        ([{**GOOD_TASK, "qpss": [1] * 25}], "traffic.json[0].qpss: must hold exactly 24 hourly"),
        ([{**GOOD_TASK, "qpss": [0] * 24}], "traffic.json[0].qpss: all 24 hourly factors are 0"),
        (
            [GOOD_TASK, [GOOD_TASK, {**GOOD_TASK, "qpss": [1, 1, 1, -1] + [1] * 20}]],
            "traffic.json[1][1].qpss[3]: input should be greater than or equal to 0 (got -1)",
        ),
        ([{**GOOD_TASK, "qpss": [1] * 23 + ["x"]}], "traffic.json[0].qpss[23]: input should be"),
        ([{**GOOD_TASK, "data": []}], "traffic.json[0].data: input should be a valid dictionary"),
        (
            [{**GOOD_TASK, "data": {"col": True}}],
            "traffic.json[0].data.col: must be a string (literal value), an integer (length of "
            'random binary) or {"r": n, "len": m} (got true)',
        ),
        ([{**GOOD_TASK, "data": {"c": -3}}], "traffic.json[0].data.c: a binary length must be >="),
        ([{**GOOD_TASK, "data": {"c": 1.5}}], "traffic.json[0].data.c: must be a string"),
        ([{**GOOD_TASK, "data": {"c": None}}], "traffic.json[0].data.c: must be a string"),
        (
            [{**GOOD_TASK, "data": {"a b": {"r": 0, "len": 5}}}],
            "traffic.json[0].data[\"a b\"]: 'r' must be an integer >= 1 (got 0)",
        ),
        ([{**GOOD_TASK, "data": {"c": {"r": 2}}}], "traffic.json[0].data.c: 'len' must be an"),
        (
            [{**GOOD_TASK, "data": {"c": {"r": 2, "len": 1, "x": 0}}}],
            "traffic.json[0].data.c: unknown key 'x' in a random column (allowed: r, len)",
        ),
    ],
)
def test_a_bad_traffic_file_is_one_line_naming_file_path_and_problem(
    tmp_path: Path, content: Any, expected: str
) -> None:
    assert load_error(load_traffic, tmp_path, "traffic.json", content).startswith(expected)


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"missing\.json: cannot read the file"):
        load_traffic(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ([], "config.json: must be a JSON object (got a list)"),
        ({**GOOD_CONFIG, "threads": 0}, "config.json.threads: input should be greater than"),
        ({**GOOD_CONFIG, "threads": "4"}, "config.json.threads: input should be a valid integer"),
        ({"region": "r", "threads": 1}, "config.json.table_name: required field is missing"),
        ({**GOOD_CONFIG, "table_name": ""}, "config.json.table_name: string should have at"),
        ({**GOOD_CONFIG, "sample_data": {}}, "config.json.sample_data: input should be a valid"),
        ({**GOOD_CONFIG, "sample_data": [{}, 3]}, "config.json.sample_data[1]: input should be"),
        ({**GOOD_CONFIG, "thread": 3}, "config.json.thread: unknown field"),
    ],
)
def test_a_bad_config_file_is_one_line_naming_file_path_and_problem(
    tmp_path: Path, content: Any, expected: str
) -> None:
    assert load_error(load_config, tmp_path, "config.json", content).startswith(expected)


def test_the_canonical_config_is_sorted_compact_json_with_defaults() -> None:
    config = Config.model_validate({"threads": 3, "region": "r", "table_name": "t"})
    assert config.canonical() == '{"region":"r","sample_data":[],"table_name":"t","threads":3}'


def test_a_task_spec_round_trips_through_json_with_its_random_columns() -> None:
    task = _load([{**GOOD_TASK, "data": {"c": {"r": 4, "len": 8}, "b": 3, "s": "x"}}]).tasks[0]
    spec = TaskSpec(
        **task.task.model_dump(exclude={"seed"}),
        seed=7,
        seed_drawn=True,
        id="run-0",
        run="run",
        key="0",
        table_name="t",
        total=1000,
        start_ms=1,
        slot_ms=10,
    )
    decoded = TaskSpec.model_validate_json(spec.encode())
    assert decoded == spec
    assert decoded.data["c"] == RandomColumn(r=4, len=8)
