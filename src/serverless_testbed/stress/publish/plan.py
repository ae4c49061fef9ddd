"""`testbed publish --plan`: what a traffic file implies, computed from the same schedule a
run uses (so the counts are the ones a run publishes), without touching Redis."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from serverless_testbed.stress.publish.schedule import (
    DAY_S,
    HOUR_S,
    SLOT_S,
    Schedule,
    TaskSchedule,
    exact,
)
from serverless_testbed.stress.traffic import Config

MAX_HOUR_ROWS = 7 * 24  # a longer profile task gets one "later" row for the rest


@dataclass(frozen=True, slots=True)
class HourRow:
    clock: str  # hour of day on the schedule clock, e.g. "13:00"
    start_s: Fraction  # wall-clock seconds from the start of the run
    end_s: Fraction
    count: int


@dataclass(frozen=True, slots=True)
class TaskRow:
    key: str
    path: str
    action: str
    seed: str
    start_s: Fraction  # wall-clock seconds from the start of the run
    end_s: Fraction
    total: int
    hours: tuple[HourRow, ...]  # only for rate profiles (qpss)

    @property
    def mean_qps(self) -> float:
        length = self.end_s - self.start_s
        return float(self.total / length) if length else 0.0


def plan_rows(schedule: Schedule) -> list[TaskRow]:
    return [_task_row(task, schedule) for task in schedule.tasks]


def _task_row(task: TaskSchedule, schedule: Schedule) -> TaskRow:
    start = task.start_slot * SLOT_S
    seed = task.entry.task.seed
    return TaskRow(
        key=task.key,
        path=task.entry.path,
        action=task.entry.task.action,
        seed=str(seed) if seed else "random (drawn at start)",
        start_s=start,
        end_s=start + _wall_length(task),
        total=task.total,
        hours=_hour_rows(task, start) if task.profile.factors is not None else (),
    )


def _wall_length(task: TaskSchedule) -> Fraction:
    """Until the last operation is due: the end of the last slot, or ``duration`` inside it."""
    length = task.slots * SLOT_S
    duration = task.entry.task.duration
    if duration is not None:
        length = min(length, exact(duration) / task.time_scale)
    return length


def _hour_rows(task: TaskSchedule, run_offset: Fraction) -> tuple[HourRow, ...]:
    scale = task.time_scale
    length = _wall_length(task) * scale  # schedule seconds
    rows: list[HourRow] = []
    at = Fraction(0)
    due_at = 0  # task.due_by(at), carried from one row to the next
    while at < length and len(rows) < MAX_HOUR_ROWS:
        clock_second = (task.start_second + at) % DAY_S
        hour = int(clock_second // HOUR_S)
        until = min(length, at + (hour + 1) * HOUR_S - clock_second)
        due_until = task.due_by(until)
        count = due_until - due_at
        rows.append(
            HourRow(
                clock=f"{hour:02d}:00",
                start_s=run_offset + at / scale,
                end_s=run_offset + until / scale,
                count=count,
            )
        )
        at, due_at = until, due_until
    if at < length:
        count = task.due_by(length) - due_at
        end = run_offset + length / scale
        rows.append(HourRow(clock="later", start_s=run_offset + at / scale, end_s=end, count=count))
    return tuple(rows)


def plan_json(schedule: Schedule, config: Config, *, traffic_name: str) -> dict[str, object]:
    """The plan as JSON-ready data (seconds as floats, counts exact)."""
    return {
        "traffic": traffic_name,
        "start_second_of_day": float(schedule.start_second),
        "time_scale": float(schedule.time_scale),
        "slot_ms": int(SLOT_S * 1000),
        "slots": schedule.total_slots,
        "total": schedule.total,
        "queues": config.threads,
        "tasks": [
            {
                "key": row.key,
                "path": row.path,
                "action": row.action,
                "seed": row.seed,
                "start_s": float(row.start_s),
                "end_s": float(row.end_s),
                "total": row.total,
                "hours": [
                    {
                        "hour": hour.clock,
                        "start_s": float(hour.start_s),
                        "end_s": float(hour.end_s),
                        "count": hour.count,
                    }
                    for hour in row.hours
                ],
            }
            for row in plan_rows(schedule)
        ],
    }


def render_plan(schedule: Schedule, config: Config, *, traffic_name: str, prefix: str) -> str:
    """The plan as Markdown."""
    rows = plan_rows(schedule)
    start = schedule.start_second
    lines = [
        f"# Plan for {traffic_name}",
        "",
        f"- start: {_clock(start)} on the schedule clock; "
        f"time scale {float(schedule.time_scale):g}",
        f"- slots of {int(SLOT_S * 1000)} ms; {schedule.total_slots:,} slots "
        f"({_duration(schedule.total_slots * SLOT_S)}); {schedule.total:,} operations in all",
        f"- table {config.table_name} in {config.region}; {config.threads} queue(s) "
        f"{prefix}_q0..{prefix}_q{config.threads - 1}",
        "",
        "| task | path | action | seed | start | end | total | mean qps |",
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.key} | {row.path} | {row.action} | {row.seed} | +{_duration(row.start_s)} "
            f"| +{_duration(row.end_s)} | {row.total:,} | {row.mean_qps:,.1f} |"
        )
    for row in rows:
        if not row.hours:
            continue
        lines += [
            "",
            f"## Task {row.key} ({row.action}): operations per hour of the profile",
            "",
            "| hour | from | to | count | mean qps |",
            "|---|---:|---:|---:|---:|",
        ]
        for hour in row.hours:
            length = float(hour.end_s - hour.start_s) * float(schedule.time_scale)
            lines.append(
                f"| {hour.clock} | +{_duration(hour.start_s)} | +{_duration(hour.end_s)} "
                f"| {hour.count:,} | {hour.count / length if length else 0:,.1f} |"
            )
    return "\n".join(lines) + "\n"


def _duration(seconds: Fraction) -> str:
    """h:mm:ss.ss for wall-clock offsets (10 ms resolution, like the slots)."""
    hundredths = math.floor(seconds * 100)
    minutes, hundredths_in_minute = divmod(hundredths, 6000)
    hours, minutes = divmod(minutes, 60)
    return (
        f"{hours}:{minutes:02d}:{hundredths_in_minute // 100:02d}.{hundredths_in_minute % 100:02d}"
    )


def _clock(second_of_day: Fraction) -> str:
    whole = int(second_of_day)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
