"""The DescribeExecution schedule (pipeline/polling.py): pure logic, no clients."""

from __future__ import annotations

from itertools import islice

import pytest

from serverless_testbed.pipeline.polling import (
    FIRST_POLL_S,
    LEARNED_AFTER,
    MAX_POLL_S,
    RecentDurations,
    poll_delays,
)


def test_without_history_polling_starts_soon_and_backs_off_to_once_a_second() -> None:
    delays = list(islice(poll_delays(None), 30))

    assert delays[0] == FIRST_POLL_S
    assert delays[1] == pytest.approx(1.5 * FIRST_POLL_S)
    assert delays == sorted(delays)
    assert delays[-1] == MAX_POLL_S


def test_with_history_the_first_poll_comes_just_before_a_typical_run_ends() -> None:
    delays = list(islice(poll_delays(0.05), 4))

    assert delays[0] == pytest.approx(0.04)
    assert delays[1:] == pytest.approx([0.005, 0.0075, 0.01125])


def test_a_long_typical_run_still_polls_at_most_once_a_second_after_the_first_poll() -> None:
    delays = list(islice(poll_delays(30.0), 5))

    assert delays[0] == pytest.approx(24.0)
    assert delays[1:] == [MAX_POLL_S] * 4


def test_a_tiny_typical_run_never_polls_faster_than_the_first_poll() -> None:
    assert min(islice(poll_delays(0.001), 10)) == FIRST_POLL_S


def test_durations_are_trusted_only_after_a_few_runs() -> None:
    durations = RecentDurations()
    for _ in range(LEARNED_AFTER - 1):
        durations.record(0.1)
        assert durations.typical() is None

    durations.record(0.1)

    assert durations.typical() == pytest.approx(0.1)


def test_the_typical_duration_is_the_median_so_one_odd_run_does_not_move_it() -> None:
    durations = RecentDurations()
    for seconds in (0.05, 0.06, 0.05, 60.0, 0.05):
        durations.record(seconds)

    assert durations.typical() == pytest.approx(0.05)


def test_only_the_latest_runs_count_so_the_schedule_follows_a_change_of_load() -> None:
    durations = RecentDurations(kept=4)
    for seconds in (0.5, 0.5, 0.5, 0.5, 0.05, 0.05, 0.05):
        durations.record(seconds)

    assert durations.typical() == pytest.approx(0.05)


def test_a_negative_duration_from_skewed_clocks_is_ignored() -> None:
    durations = RecentDurations()
    for seconds in (-1.0, 0.1, 0.1, 0.1):
        durations.record(seconds)

    assert durations.typical() == pytest.approx(0.1)
