"""The stress input files, config.json and traffic.json, loaded into typed, validated models.

Everything is checked before anything touches Redis. A bad file raises UsageError with one
line naming the file, the JSON path of the first problem and what is wrong, e.g.
``traffic.json[1][0].qpss[3]: must be >= 0 (got -1)``.

traffic.json is a list run in order; an element that is itself a list is a group of tasks run
concurrently. Each task gets a stable id from its position: ``"2"`` for the third element,
``"1.0"`` for the first task of the group at index 1 (see ``TaskEntry.key``).

Bounds (what one publisher and its workers can execute; each is refused with the file and the
JSON path, see the README's stress section):

- a file is a regular file of at most ``MAX_FILE_BYTES`` (a device, FIFO or directory is
  refused unread), nested at most ``MAX_DEPTH`` levels, with at most ``MAX_TASKS`` tasks;
- ``qps`` and its peak under a ``qpss`` profile at most ``MAX_QPS``; ``duration`` at most
  ``MAX_TASK_SECONDS`` (31 days), and a task with ``times`` alone must reach it within that
  (checked when the schedule is built); ``times`` at most ``MAX_TIMES``;
- an item (column names and values of ``data``) at most ``MAX_ITEM_BYTES``, DynamoDB's item
  limit; ``r`` at most ``MAX_RANDOM_SUFFIXES``; ``samples`` at most ``MAX_SAMPLES`` and the
  pre-generated items (samples x candidate seeds x item bytes) at most ``MAX_SAMPLE_BYTES``;
- ``seeds`` at most ``MAX_SEEDS`` weights, each at most ``MAX_SEED_WEIGHT``; with ``seed``,
  the candidate seeds ``seed .. seed + len(seeds) - 1`` stay within ``MAX_SEED``.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)

from serverless_testbed.errors import UsageError
from serverless_testbed.stress.protocol import canonical_json

Action = Literal["updateItem", "query", "putItem", "getItem", "deleteItem"]
ACTIONS: tuple[str, ...] = get_args(Action)
HOURS_PER_DAY = 24
M = TypeVar("M", bound="BaseModel")

MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 32
MAX_TASKS = 256
MAX_QPS = 10_000_000  # per task: twice the seed design's 5,000,000
MAX_TASK_SECONDS = 31 * 24 * 3600  # a month of schedule time
MAX_TIMES = MAX_QPS * MAX_TASK_SECONDS
MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's item size limit
MAX_RANDOM_SUFFIXES = 2**32
MAX_SAMPLES = 100_000
MAX_SAMPLE_BYTES = 256 * 1024 * 1024
MAX_SEEDS = 1024
MAX_SEED_WEIGHT = 1e9
MAX_SEED = 2**63 - 1

_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)
PositiveFinite = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFinite = Annotated[float, Field(ge=0, allow_inf_nan=False)]
SeedWeight = Annotated[float, Field(gt=0, le=MAX_SEED_WEIGHT, allow_inf_nan=False)]


class _FieldProblem(ValueError):
    """A check across fields that names the one field to blame (``field``) in the error."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class RandomColumn(BaseModel):
    """``{"r": n, "len": m}``: the column name gets a random suffix modulo ``r``; ``len`` bytes."""

    model_config = _STRICT

    r: int = Field(ge=1, le=MAX_RANDOM_SUFFIXES)
    len: int = Field(ge=0, le=MAX_ITEM_BYTES)

    def item_bytes(self, name: str) -> int:
        """The most bytes the column adds to an item: its longest name and its value."""
        return len(name.encode()) + len(str(self.r - 1)) + self.len


def _data_column(value: Any) -> str | int | RandomColumn:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"a binary length must be >= 0 (got {value})")
        if value > MAX_ITEM_BYTES:
            raise ValueError(
                f"a binary length must be at most {MAX_ITEM_BYTES:,} bytes (got {value})"
            )
        return value
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"r", "len"})
        if unknown:
            raise ValueError(f"unknown key {unknown[0]!r} in a random column (allowed: r, len)")
        for name, minimum, maximum in (("r", 1, MAX_RANDOM_SUFFIXES), ("len", 0, MAX_ITEM_BYTES)):
            given = value.get(name)
            if not isinstance(given, int) or isinstance(given, bool) or given < minimum:
                raise ValueError(f"'{name}' must be an integer >= {minimum} (got {given!r})")
            if given > maximum:
                raise ValueError(f"'{name}' must be at most {maximum:,} (got {given})")
        return RandomColumn(r=value["r"], len=value["len"])
    raise ValueError(
        "must be a string (literal value), an integer (length of random binary) "
        f'or {{"r": n, "len": m}} (got {_short(value)})'
    )


def _dump_column(value: str | int | RandomColumn) -> Any:
    return value.model_dump() if isinstance(value, RandomColumn) else value


DataColumn = Annotated[
    str | int | RandomColumn, PlainValidator(_data_column), PlainSerializer(_dump_column)
]


class Task(BaseModel):
    """One traffic task, as written in traffic.json (field names are the seed design's)."""

    model_config = _STRICT

    action: Action
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    seeds: list[SeedWeight] | None = Field(default=None, min_length=1, max_length=MAX_SEEDS)
    qps: PositiveFinite = Field(le=MAX_QPS)
    qpss: list[NonNegativeFinite] | None = None
    times: int | None = Field(default=None, ge=1, le=MAX_TIMES)
    duration: PositiveFinite | None = Field(default=None, le=MAX_TASK_SECONDS)
    samples: int = Field(default=0, ge=0, le=MAX_SAMPLES)
    data: dict[str, DataColumn] = Field(default_factory=dict)

    @field_validator("qpss")
    @classmethod
    def _profile_is_24_hours_not_all_zero(cls, qpss: list[float] | None) -> list[float] | None:
        if qpss is not None and len(qpss) != HOURS_PER_DAY:
            raise ValueError(f"must hold exactly 24 hourly factors (got {len(qpss)})")
        if qpss is not None and not any(qpss):
            raise ValueError("all 24 hourly factors are 0: at least one hour must be non-zero")
        return qpss

    @model_validator(mode="after")
    def _has_an_end(self) -> Task:
        if self.times is None and self.duration is None:
            raise ValueError("needs 'times' or 'duration' (or both: whichever comes first)")
        return self

    @model_validator(mode="after")
    def _fits_what_a_run_can_execute(self) -> Task:
        candidates = len(self.seeds) if self.seeds else 1
        if self.seed + candidates - 1 > MAX_SEED:
            raise _FieldProblem(
                "seeds",
                f"with 'seed' {self.seed}, the last candidate seed + {candidates - 1} is over "
                f"the largest seed {MAX_SEED}",
            )
        if self.qpss is not None and self.qps * max(self.qpss) > MAX_QPS:
            peak = self.qps * max(self.qpss)
            raise _FieldProblem(
                "qpss",
                f"the peak rate qps x {max(self.qpss):g} = {peak:,.0f} operations/s is over "
                f"{MAX_QPS:,}",
            )
        item = self.item_bytes()
        if item > MAX_ITEM_BYTES:
            raise _FieldProblem(
                "data",
                f"an item of {item:,} bytes is over DynamoDB's {MAX_ITEM_BYTES:,}-byte item limit",
            )
        pre_generated = self.samples * candidates * item
        if pre_generated > MAX_SAMPLE_BYTES:
            raise _FieldProblem(
                "samples",
                f"{self.samples:,} samples x {candidates} seed(s) x {item:,} bytes = "
                f"{pre_generated:,} bytes of pre-generated items, over {MAX_SAMPLE_BYTES:,}",
            )
        return self

    def item_bytes(self) -> int:
        """The most bytes of one item: column names and values, as DynamoDB counts them."""
        total = 0
        for name, rule in self.data.items():
            if isinstance(rule, RandomColumn):
                total += rule.item_bytes(name)
            elif isinstance(rule, str):
                total += len(name.encode()) + len(rule.encode())
            else:
                total += len(name.encode()) + rule
        return total


class TaskSpec(Task):
    """What the publisher writes to {prefix}_tasks under ``id`` before the task's first descriptor.

    The task's own fields as validated, with ``seed`` resolved (the publisher draws one when the
    file says 0 or nothing, and says so in ``seed_drawn``), plus what a worker needs to expand a
    descriptor: ``table_name`` from config.json and the schedule's ``total`` and ``start_ms``
    (epoch ms of the task's first slot). Workers parse it with ``TaskSpec.model_validate_json``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)  # "{run}-{key}": unique per publisher run, no ':' in it
    run: str = Field(min_length=1)
    key: str = Field(min_length=1)  # position in traffic.json: "2" or "1.0"
    seed: int = Field(ge=1, le=2**63 - 1)
    seed_drawn: bool
    table_name: str
    total: int = Field(ge=0)
    start_ms: int
    slot_ms: int = Field(ge=1)

    def encode(self) -> str:
        return canonical_json(self.model_dump(mode="json"))


class Config(BaseModel):
    """config.json: what every worker reads from {prefix}_cfg."""

    model_config = _STRICT

    table_name: str = Field(min_length=1, max_length=255)  # DynamoDB's limit
    region: str = Field(min_length=1, max_length=64)
    threads: int = Field(ge=1, le=4096)
    sample_data: list[dict[str, Any]] = Field(default_factory=list)

    def canonical(self) -> str:
        """The exact string stored in {prefix}_cfg (sorted keys, no spaces)."""
        return canonical_json(self.model_dump(mode="json"))


@dataclass(frozen=True, slots=True)
class TaskEntry:
    """A task with where it came from: ``key`` is its id, ``path`` its place in the file."""

    key: str
    path: str
    task: Task


@dataclass(frozen=True, slots=True)
class Traffic:
    """The steps of traffic.json in order; each step is a group of tasks run concurrently."""

    source: str
    steps: tuple[tuple[TaskEntry, ...], ...]

    @property
    def tasks(self) -> tuple[TaskEntry, ...]:
        return tuple(entry for step in self.steps for entry in step)


def load_config(path: str | Path) -> Config:
    raw = _read_json(path)
    name = _display_name(path)
    if not isinstance(raw, dict):
        raise UsageError(f"{name}: must be a JSON object (got {_json_type(raw)})")
    return _validate(Config, raw, name)


def load_traffic(path: str | Path) -> Traffic:
    raw = _read_json(path)
    name = _display_name(path)
    if not isinstance(raw, list):
        raise UsageError(f"{name}: must be a JSON list of tasks (got {_json_type(raw)})")
    if not raw:
        raise UsageError(f"{name}: the list of tasks is empty")
    steps: list[tuple[TaskEntry, ...]] = []
    count = 0

    def counted(item: Any, key: str, where: str) -> TaskEntry:
        nonlocal count
        count += 1
        if count > MAX_TASKS:
            raise UsageError(f"{where}: more than {MAX_TASKS:,} tasks in one file")
        return _task_entry(item, key, where)

    for i, element in enumerate(raw):
        if isinstance(element, list):
            if not element:
                raise UsageError(f"{name}[{i}]: a concurrent group must hold at least one task")
            group = []
            for j, item in enumerate(element):
                group.append(counted(item, f"{i}.{j}", f"{name}[{i}][{j}]"))
            steps.append(tuple(group))
        else:
            steps.append((counted(element, str(i), f"{name}[{i}]"),))
    return Traffic(source=str(path), steps=tuple(steps))


def load_files(config_path: str | Path, traffic_path: str | Path) -> tuple[Config, Traffic]:
    """Both files, fully validated (the publisher calls this before connecting to Redis)."""
    return load_config(config_path), load_traffic(traffic_path)


def _task_entry(item: Any, key: str, where: str) -> TaskEntry:
    if not isinstance(item, dict):
        raise UsageError(
            f"{where}: must be a task object or a list of task objects (got {_json_type(item)})"
        )
    return TaskEntry(key=key, path=where, task=_validate(Task, item, where))


def _validate(model: type[M], raw: dict[str, Any], where: str) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        loc = tuple(first["loc"])
        problem = first.get("ctx", {}).get("error")
        if isinstance(problem, _FieldProblem):
            loc = (*loc, problem.field)
        raise UsageError(f"{where}{_json_path(loc)}: {_message(first, model)}") from None


def _message(error: Any, model: type[BaseModel]) -> str:
    kind, text = error["type"], error["msg"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return f"unknown field (allowed: {', '.join(model.model_fields)})"
    text = text.removeprefix("Value error, ")
    if kind in ("value_error", "assertion_error"):
        return text
    return f"{text[0].lower()}{text[1:]} (got {_short(error.get('input'))})"


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _json_path(loc: tuple[int | str, ...]) -> str:
    parts = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif _IDENTIFIER.match(part):
            parts.append(f".{part}")
        else:
            parts.append(f"[{json.dumps(part)}]")
    return "".join(parts)


def _read_json(path: str | Path) -> Any:
    name = _display_name(path)
    try:
        text = _read_bounded(path).decode("utf-8")
    except OSError as error:
        raise UsageError(f"{name}: cannot read the file ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise UsageError(f"{name}: not UTF-8 text") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise UsageError(
            f"{name}: not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except RecursionError:  # far deeper than MAX_DEPTH: the parser gave up first
        raise UsageError(f"{name}: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as error:
        raise UsageError(f"{name}: not valid JSON: {error}") from None
    too_deep = _first_too_deep(value)
    if too_deep is not None:
        raise UsageError(f"{name}{_json_path(too_deep)}: nested deeper than {MAX_DEPTH} levels")
    return value


def _read_bounded(path: str | Path) -> bytes:
    """The file's bytes: a regular file only, of at most MAX_FILE_BYTES.

    Opened without blocking (a FIFO would wait for a writer), then checked on the open
    descriptor (no race with a rename), then read no further than one byte past the limit."""
    name = _display_name(path)
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise UsageError(f"{name}: not a regular file ({_file_kind(mode)})")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(descriptor, MAX_FILE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(descriptor)
    data = b"".join(chunks)
    if len(data) > MAX_FILE_BYTES:
        raise UsageError(
            f"{name}: larger than {MAX_FILE_BYTES:,} bytes (the limit for a stress input file)"
        )
    return data


def _file_kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((kind for test, kind in kinds if test(mode)), "not a plain file")


def _first_too_deep(value: Any) -> tuple[int | str, ...] | None:
    """The JSON path of the first list or object nested deeper than MAX_DEPTH, or None."""
    stack: list[tuple[Any, tuple[int | str, ...]]] = [(value, ())]
    while stack:
        node, loc = stack.pop()
        if isinstance(node, dict):
            children: Any = node.items()
        elif isinstance(node, list):
            children = enumerate(node)
        else:
            continue
        if len(loc) >= MAX_DEPTH:
            return loc
        stack.extend((child, (*loc, key)) for key, child in reversed(list(children)))
    return None


def _reject_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON number")


def _display_name(path: str | Path) -> str:
    return str(path)


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value) if not isinstance(value, BaseModel) else value.model_dump_json()
    return text if len(text) <= limit else f"{text[: limit - 3]}..."
