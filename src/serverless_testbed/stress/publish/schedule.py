"""The schedule: how many operations of each task are due in each 10 ms slot, exactly.

Time is cut into slots of ``SLOT_MS`` wall-clock milliseconds. A task's *cumulative count* up to
a slot boundary is ``floor(integral of its rate)`` from the task's start to that boundary
(capped by ``times``, frozen after ``duration``); a slot's count is the difference of two
cumulative counts. So the count over any run of slots is the exact integral to within one
operation, rounding never accumulates, and the whole run holds exactly ``total`` operations.
All arithmetic is on integers and ``Fraction``s (a float from the file is read as the decimal
it was written as: 0.7042 is 7042/10000).

Rate profiles (``qpss``): the rate in hour ``h`` of the day is ``qps * factor[h]``, constant for
the whole hour. A 0 factor means "smooth": it is replaced by linear interpolation between the
nearest non-zero hours before and after it, going round midnight when needed (hours 22, 23, 0
being 0 between 0.6 at 21 and 0.9 at 1 give 0.675, 0.75, 0.825). Hours are those of the
schedule's clock: the run starts at ``start_second`` of the day (default: the local time now).

``time_scale`` makes the schedule's clock run faster than the wall clock (for tests): each 10 ms
wall slot covers ``10 * time_scale`` ms of schedule time; counts are those of schedule time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from serverless_testbed.errors import UsageError
from serverless_testbed.stress.protocol import SLOT_MS
from serverless_testbed.stress.traffic import (
    HOURS_PER_DAY,
    MAX_TASK_SECONDS,
    Task,
    TaskEntry,
    Traffic,
)

SLOT_S = Fraction(SLOT_MS, 1000)
HOUR_S = 3600
DAY_S = HOURS_PER_DAY * HOUR_S


def exact(number: float | int) -> Fraction:
    """The number as written in JSON: floats through their shortest decimal repr."""
    return Fraction(number) if isinstance(number, int) else Fraction(repr(float(number)))


def smooth_factors(qpss: Sequence[float]) -> tuple[Fraction, ...]:
    """Hourly factors with every 0 replaced by linear interpolation between the nearest
    non-zero hours on either side (circular over midnight)."""
    factors = [exact(f) for f in qpss]
    if len(factors) != HOURS_PER_DAY or not any(factors):
        raise ValueError("a profile needs 24 factors, at least one of them non-zero")
    smoothed = list(factors)
    for hour, factor in enumerate(factors):
        if factor:
            continue
        back = next(d for d in range(1, HOURS_PER_DAY + 1) if factors[(hour - d) % 24])
        ahead = next(d for d in range(1, HOURS_PER_DAY + 1) if factors[(hour + d) % 24])
        before, after = factors[(hour - back) % 24], factors[(hour + ahead) % 24]
        smoothed[hour] = before + (after - before) * Fraction(back, back + ahead)
    return tuple(smoothed)


@dataclass(frozen=True, slots=True)
class RateProfile:
    """Operations per second of schedule time: constant, or ``qps * factor[hour of day]``."""

    qps: Fraction
    factors: tuple[Fraction, ...] | None = None
    hour_sums: tuple[Fraction, ...] = ()  # hour_sums[h] = factors[0] + ... + factors[h - 1]

    @classmethod
    def of(cls, task: Task) -> RateProfile:
        if task.qpss is None:
            return cls(qps=exact(task.qps))
        return cls.hourly(exact(task.qps), smooth_factors(task.qpss))

    @classmethod
    def hourly(cls, qps: Fraction, factors: Sequence[Fraction]) -> RateProfile:
        sums = [Fraction(0)]
        for factor in factors:
            sums.append(sums[-1] + factor)
        return cls(qps=qps, factors=tuple(factors), hour_sums=tuple(sums))

    def integral(self, start: Fraction, end: Fraction) -> Fraction:
        """Operations due between ``start`` and ``end`` (seconds since a midnight)."""
        if self.factors is None:
            return self.qps * (end - start)
        return self._from_midnight(end) - self._from_midnight(start)

    def rate_at(self, second_of_day: Fraction) -> Fraction:
        if self.factors is None:
            return self.qps
        return self.qps * self.factors[int(second_of_day % DAY_S) // HOUR_S]

    def _from_midnight(self, x: Fraction) -> Fraction:
        assert self.factors is not None
        days, rest = divmod(x, DAY_S)
        hour, within = divmod(rest, HOUR_S)
        hour = int(hour)
        sums = self.hour_sums
        return self.qps * (
            (days * sums[HOURS_PER_DAY] + sums[hour]) * HOUR_S + self.factors[hour] * within
        )


@dataclass(frozen=True, slots=True)
class TaskSchedule:
    """One task placed on the slot timeline of a run."""

    entry: TaskEntry
    profile: RateProfile
    start_slot: int  # the run's slot index of the task's first slot
    start_second: Fraction  # schedule-clock second of the day at the task's start
    time_scale: Fraction
    total: int  # operations scheduled in all
    slots: int  # slots the task lasts (its last slot holds its last operations)

    @property
    def key(self) -> str:
        return self.entry.key

    @property
    def end_slot(self) -> int:
        return self.start_slot + self.slots

    def due_by(self, elapsed: Fraction) -> int:
        """Cumulative count ``elapsed`` schedule seconds after the task's start."""
        task = self.entry.task
        if task.duration is not None:
            elapsed = min(elapsed, exact(task.duration))
        due = math.floor(self.profile.integral(self.start_second, self.start_second + elapsed))
        return min(due, task.times) if task.times is not None else due

    def cumulative(self, local_slot: int) -> int:
        """Operations due in the task's slots ``0 .. local_slot - 1``."""
        if local_slot >= self.slots:
            return self.total
        if local_slot <= 0:
            return 0
        return self.due_by(local_slot * SLOT_S * self.time_scale)

    def slot_count(self, local_slot: int) -> int:
        return self.cumulative(local_slot + 1) - self.cumulative(local_slot)


@dataclass(frozen=True, slots=True)
class Schedule:
    """All tasks of a traffic file on one timeline of 10 ms slots (slot 0 starts the run)."""

    tasks: tuple[TaskSchedule, ...]
    total_slots: int
    start_second: Fraction
    time_scale: Fraction

    @property
    def total(self) -> int:
        return sum(task.total for task in self.tasks)


def build_schedule(
    traffic: Traffic, *, start_second: Fraction | int = 0, time_scale: Fraction | float = 1
) -> Schedule:
    """Place every task: steps one after another, the tasks of a step side by side; a step
    ends with its longest task. A task with ``times`` alone that would not reach it within
    MAX_TASK_SECONDS of schedule time is a UsageError naming its JSON path."""
    scale = time_scale if isinstance(time_scale, Fraction) else exact(time_scale)
    if scale <= 0:
        raise ValueError("time_scale must be > 0")
    start = Fraction(start_second) % DAY_S
    placed: list[TaskSchedule] = []
    slot = 0
    for step in traffic.steps:
        step_slots = 0
        for entry in step:
            task_start = (start + slot * SLOT_S * scale) % DAY_S
            placed.append(_place(entry, slot, task_start, scale))
            step_slots = max(step_slots, placed[-1].slots)
        slot += step_slots
    return Schedule(tasks=tuple(placed), total_slots=slot, start_second=start, time_scale=scale)


def _place(
    entry: TaskEntry, start_slot: int, start_second: Fraction, scale: Fraction
) -> TaskSchedule:
    task = entry.task
    profile = RateProfile.of(task)
    draft = TaskSchedule(entry, profile, start_slot, start_second, scale, total=0, slots=0)
    slot_length = SLOT_S * scale
    candidates = []
    if task.duration is not None:
        candidates.append(math.ceil(exact(task.duration) / slot_length))
    elif task.times is not None and draft.due_by(Fraction(MAX_TASK_SECONDS)) < task.times:
        raise UsageError(
            f"{entry.path}.times: {task.times:,} operations take longer than the longest task "
            f"({MAX_TASK_SECONDS:,} s of schedule time) at this rate: lower 'times' or add a "
            "'duration'"
        )
    if task.times is not None and (
        task.duration is None or draft.due_by(exact(task.duration)) >= task.times
    ):
        candidates.append(_slots_to_reach(draft, task.times, slot_length))
    slots = min(candidates)
    total = draft.due_by(slots * slot_length)
    return TaskSchedule(entry, profile, start_slot, start_second, scale, total=total, slots=slots)


def _slots_to_reach(draft: TaskSchedule, times: int, slot_length: Fraction) -> int:
    """The fewest slots whose cumulative count reaches ``times`` (the rate is never 0)."""
    low, high = 0, 1
    while draft.due_by(high * slot_length) < times:
        low, high = high, high * 2
    while high - low > 1:  # invariant: due_by(low) < times <= due_by(high)
        middle = (low + high) // 2
        if draft.due_by(middle * slot_length) < times:
            low = middle
        else:
            high = middle
    return high
