"""The health watch's rules, on checks the test controls."""

from __future__ import annotations

import threading

from serverless_testbed.embedded.health import HealthWatch, PartState, exited


def test_a_part_that_fails_is_reported_once_with_its_reason() -> None:
    deaths: list[tuple[str, str]] = []
    state = {"poller": None}
    watch = HealthWatch({"poller": lambda: state["poller"]}, lambda *d: deaths.append(d))

    watch.check_now()
    state["poller"] = "its mapping thread stopped"
    watch.check_now()
    watch.check_now()

    assert deaths == [("poller", "its mapping thread stopped")]
    assert watch.report()[0].state is PartState.DEAD


def test_a_revived_part_is_watched_again() -> None:
    deaths: list[str] = []
    watch = HealthWatch({"zygote": lambda: "gone"}, lambda part, reason: deaths.append(part))

    watch.check_now()
    watch.revive("zygote")
    watch.check_now()

    assert deaths == ["zygote", "zygote"]


def test_a_check_that_raises_counts_as_a_dead_part_and_the_watch_goes_on() -> None:
    def broken() -> str | None:
        raise ConnectionError("refused")

    reported = threading.Event()
    reasons: list[str] = []

    def on_death(part: str, reason: str) -> None:
        reasons.append(reason)
        reported.set()

    watch = HealthWatch({"aws": broken}, on_death, interval_s=0.01).start()
    try:
        assert reported.wait(5)
    finally:
        watch.stop()
    assert reasons == ["ConnectionError: refused"]


def test_exit_statuses_read_as_reasons() -> None:
    assert exited(None) is None
    assert exited(-9) == "killed by signal 9"
    assert exited(3) == "exited with status 3"
