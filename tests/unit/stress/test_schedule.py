"""The slot schedule: exact integer apportioning of any rate profile, and qpss smoothing."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from serverless_testbed.stress.publish.schedule import (
    DAY_S,
    SLOT_S,
    TaskSchedule,
    build_schedule,
    exact,
    smooth_factors,
)
from serverless_testbed.stress.traffic import MAX_QPS, Task, TaskEntry, Traffic


def traffic(*steps: list[dict[str, Any]] | dict[str, Any]) -> Traffic:
    placed = []
    for i, step in enumerate(steps):
        tasks = step if isinstance(step, list) else [step]
        placed.append(
            tuple(
                TaskEntry(key=f"{i}.{j}", path=f"t[{i}][{j}]", task=Task.model_validate(task))
                for j, task in enumerate(tasks)
            )
        )
    return Traffic(source="t", steps=tuple(placed))


def one_task(task: dict[str, Any], *, start_second: int = 0, time_scale: Any = 1) -> TaskSchedule:
    return build_schedule(traffic(task), start_second=start_second, time_scale=time_scale).tasks[0]


def slot_counts(task: TaskSchedule) -> list[int]:
    cumulative = [task.cumulative(k) for k in range(task.slots + 1)]
    return [after - before for before, after in itertools.pairwise(cumulative)]


def reference_integral(qps: Fraction, factors: list[Fraction], start: Fraction, t: Fraction):
    """Operations due in [start, start + t): walked hour by hour (independent of the code)."""
    total, position, left = Fraction(0), start, t
    while left > 0:
        hour = int(position % DAY_S) // 3600
        step = min(left, 3600 - position % 3600)
        total += qps * factors[hour] * step
        position, left = position + step, left - step
    return total


# -- smoothing of qpss ----------------------------------------------------------------------


def test_numbers_are_read_as_the_decimals_written() -> None:
    assert exact(0.7042) == Fraction(7042, 10000)
    assert exact(5000000) == 5000000
    assert exact(1e-05) == Fraction(1, 100000)


def test_non_zero_hours_are_kept_as_given() -> None:
    factors = [Fraction(h + 1, 10) for h in range(24)]
    assert smooth_factors([float(f) for f in factors]) == tuple(factors)


def test_a_zero_hour_is_the_mean_of_its_neighbours() -> None:
    qpss = [1.0] * 24
    qpss[5], qpss[4], qpss[6] = 0, 0.4, 0.8
    assert smooth_factors(qpss)[5] == Fraction(6, 10)


def test_a_run_of_zeros_is_a_straight_line_between_the_neighbours() -> None:
    qpss = [1.0] * 24
    qpss[1:4] = [0, 0, 0]
    qpss[0], qpss[4] = 0.2, 1.0
    assert smooth_factors(qpss)[0:5] == tuple(Fraction(n, 10) for n in (2, 4, 6, 8, 10))


def test_zeros_around_midnight_interpolate_across_it() -> None:
    qpss = [1.0] * 24
    qpss[21], qpss[22], qpss[23], qpss[0], qpss[1] = 0.6, 0, 0, 0, 0.9
    smoothed = smooth_factors(qpss)
    assert [smoothed[h] for h in (22, 23, 0)] == [
        Fraction(675, 1000),
        Fraction(3, 4),
        Fraction(825, 1000),
    ]


def test_leading_zeros_take_their_left_neighbour_from_the_evening_before() -> None:
    qpss = [0, 0, 0.5] + [0.5] * 20 + [0.1]
    smoothed = smooth_factors(qpss)
    assert smoothed[0] == Fraction(1, 10) + Fraction(4, 10) * Fraction(1, 3)
    assert smoothed[1] == Fraction(1, 10) + Fraction(4, 10) * Fraction(2, 3)


def test_a_single_non_zero_hour_makes_a_flat_day() -> None:
    qpss = [0.0] * 24
    qpss[13] = 0.25
    assert set(smooth_factors(qpss)) == {Fraction(1, 4)}


def test_the_seed_profile_smooths_its_zero_hours() -> None:
    seed = [0.7042, 0, 0, 0, 0.7746, 0, 0.8451, 0, 0.9155, 0.9718, 1.0, 0.9718]
    seed += [0.8451, 0.5493, 0.4366, 0.4225, 0.3662, 0.3380, 0.3662, 0.4085]
    seed += [0.4789, 0.5634, 0.6338, 0.6901]
    smoothed = smooth_factors(seed)
    assert smoothed[1] == exact(0.7042) + (exact(0.7746) - exact(0.7042)) / 4
    assert smoothed[5] == (exact(0.7746) + exact(0.8451)) / 2
    assert all(f > 0 for f in smoothed)


def test_an_all_zero_profile_is_rejected() -> None:
    with pytest.raises(ValueError, match="non-zero"):
        smooth_factors([0] * 24)


# -- constant rates -------------------------------------------------------------------------


def test_the_seed_rate_puts_exactly_fifty_thousand_in_every_slot() -> None:
    task = one_task({"action": "updateItem", "qps": 5_000_000, "times": 2_170_660_028})
    assert task.slot_count(0) == task.slot_count(12345) == 50_000
    assert task.total == 2_170_660_028
    assert task.slots == math.ceil(2_170_660_028 / 50_000)
    assert task.slot_count(task.slots - 1) == 2_170_660_028 % 50_000


def test_a_low_rate_spreads_single_operations_evenly() -> None:
    counts = slot_counts(one_task({"action": "query", "qps": 3, "duration": 1}))
    assert sum(counts) == 3 and max(counts) == 1
    assert [k for k, c in enumerate(counts) if c] == [33, 66, 99]


def test_a_fractional_rate_is_exact_over_the_duration() -> None:
    assert one_task({"action": "query", "qps": 0.5, "duration": 5}).total == 2
    assert one_task({"action": "query", "qps": 0.1, "duration": 5}).total == 0


def test_times_ends_the_task_at_the_slot_that_reaches_it() -> None:
    task = one_task({"action": "query", "qps": 1000, "times": 25})
    assert (task.total, task.slots) == (25, 3)
    assert slot_counts(task) == [10, 10, 5]


def test_with_times_and_duration_whichever_comes_first_ends_the_task() -> None:
    by_times = one_task({"action": "query", "qps": 100, "times": 50, "duration": 10})
    by_duration = one_task({"action": "query", "qps": 100, "times": 5000, "duration": 2})
    assert (by_times.total, by_times.slots) == (50, 50)
    assert (by_duration.total, by_duration.slots) == (200, 200)


def test_a_duration_inside_a_slot_ends_within_it() -> None:
    task = one_task({"action": "query", "qps": 1000, "duration": 0.015})
    assert (task.slots, task.total, slot_counts(task)) == (2, 15, [10, 5])


def test_steps_run_one_after_another_and_a_group_ends_with_its_longest_task() -> None:
    schedule = build_schedule(
        traffic(
            {"action": "putItem", "qps": 100, "duration": 1},
            [
                {"action": "query", "qps": 100, "duration": 2},
                {"action": "getItem", "qps": 100, "duration": 3},
            ],
            {"action": "deleteItem", "qps": 100, "times": 10},
        )
    )
    assert [(t.start_slot, t.slots) for t in schedule.tasks] == [
        (0, 100),
        (100, 200),
        (100, 300),
        (400, 10),
    ]
    assert schedule.total_slots == 410
    assert schedule.total == 100 + 200 + 300 + 10


def test_time_scale_compresses_the_clock_but_not_the_counts() -> None:
    task = one_task({"action": "query", "qps": 10, "duration": 3600}, time_scale=3600)
    assert (task.slots, task.total) == (100, 36000)
    assert set(slot_counts(task)) == {360}


# -- hourly profiles ------------------------------------------------------------------------


def test_a_profile_counts_each_hour_at_its_own_rate() -> None:
    qpss = [1.0] * 24
    qpss[13] = 0.5
    task = one_task(
        {"action": "query", "qps": 10, "qpss": qpss, "duration": 7200},
        start_second=12 * 3600,
        time_scale=3600,
    )
    counts = slot_counts(task)
    assert task.total == 36000 + 18000
    assert sum(counts[:100]) == 36000 and sum(counts[100:]) == 18000


def test_a_profile_task_with_times_only_ends_where_the_profile_reaches_it() -> None:
    qpss = [0.5] + [1.0] * 23
    task = one_task({"action": "query", "qps": 2, "qpss": qpss, "times": 3600 + 7200})
    assert task.total == 10800
    assert task.slots * SLOT_S == 2 * 3600


# -- properties -----------------------------------------------------------------------------

decimal_factor = st.integers(0, 30_000).map(lambda n: n / 10_000)
profiles = st.lists(decimal_factor, min_size=24, max_size=24).filter(any)
rates = st.one_of(st.integers(1, 6_000_000), st.integers(1, 10**7).map(lambda n: n / 1000)).map(
    float
)


@st.composite
def profile_tasks(draw: st.DrawFn) -> tuple[dict[str, Any], int, Fraction]:
    """A task that lasts at most 1000 slots, crossing several hours of its profile."""
    time_scale = draw(st.sampled_from([Fraction(1), Fraction(60), Fraction(3600), Fraction(7919)]))
    task: dict[str, Any] = {"action": "query", "qps": draw(rates)}
    if draw(st.booleans()):
        task["qpss"] = draw(profiles)
        assume(task["qps"] * max(task["qpss"]) <= MAX_QPS)  # a valid task's peak rate
    wall_s = draw(st.integers(1, 1000)) / 100
    task["duration"] = float(exact(wall_s) * time_scale)
    if draw(st.booleans()):
        task["times"] = draw(st.integers(1, 10**9))
    start = draw(st.integers(0, DAY_S - 1))
    return task, start, time_scale


def expected_integral(task: dict[str, Any], start: int, elapsed: Fraction) -> Fraction:
    factors = list(smooth_factors(task["qpss"])) if "qpss" in task else [Fraction(1)] * 24
    return reference_integral(exact(task["qps"]), factors, Fraction(start), elapsed)


@settings(max_examples=100, deadline=None)
@given(profile_tasks(), st.data())
def test_any_interval_of_slots_holds_the_exact_integral_to_one_operation(
    drawn: tuple[dict[str, Any], int, Fraction], data: st.DataObject
) -> None:
    task_json, start, scale = drawn
    task = one_task(task_json, start_second=start, time_scale=scale)
    counts = slot_counts(task)
    assert all(c >= 0 for c in counts)
    assert sum(counts) == task.total
    duration = exact(task_json["duration"])
    full = math.floor(expected_integral(task_json, start, duration))
    times = task_json.get("times")
    assert task.total == (min(full, times) if times else full)
    # Any interval [a, b) of slots before the times cap bites: the integral to within one.
    a = data.draw(st.integers(0, task.slots), label="a")
    b = data.draw(st.integers(a, task.slots), label="b")
    in_interval = sum(counts[a:b])
    t_a, t_b = (min(duration, k * SLOT_S * scale) for k in (a, b))
    exact_count = expected_integral(task_json, start, t_b) - expected_integral(
        task_json, start, t_a
    )
    if not times or task.cumulative(b) < times:
        assert abs(in_interval - exact_count) < 1


@settings(max_examples=100, deadline=None)
@given(profile_tasks())
def test_the_cumulative_count_never_decreases_and_the_times_cap_is_exact(
    drawn: tuple[dict[str, Any], int, Fraction],
) -> None:
    task_json, start, scale = drawn
    task_json = {**task_json, "times": task_json.get("times") or 10**12}
    task = one_task(task_json, start_second=start, time_scale=scale)
    cumulative = [task.cumulative(k) for k in range(task.slots + 1)]
    assert cumulative == sorted(cumulative)
    assert cumulative[-1] == task.total <= task_json["times"]
    if task.total == task_json["times"]:
        # The task ends in the very slot that reaches its count.
        assert cumulative[-2] < task_json["times"] and task.slot_count(task.slots - 1) > 0
