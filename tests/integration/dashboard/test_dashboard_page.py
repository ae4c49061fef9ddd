"""The dashboard page in a real browser (Debian's chromium, driven by Playwright): it goes
live, counts executions started while it is open, draws their charts, and logs no error.

Needs /usr/bin/chromium (`apt-get install chromium`; .ci/run installs it): skipped without
it on a developer's machine, a failure in CI, where a skip would hide the page untested.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serverless_testbed.dashboard.server import DashboardServer
from serverless_testbed.deployment import Deployment
from tests.integration.helpers import http_post, wait_until

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",  # root in CI
    "--disable-gpu",
    "--disable-background-networking",  # the machines' closed network refuses its calls
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        reason = f"playwright is not installed ({error})"
    if reason is None and not Path(CHROMIUM).exists():
        reason = f"no chromium at {CHROMIUM} (apt-get install chromium)"
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the dashboard page needs a browser in CI: {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


def succeeded_total(page: Any) -> int:
    return int((page.text_content("#pipeline-succeeded-total") or "0").replace(",", ""))


def test_the_page_goes_live_and_counts_the_runs_made_while_it_is_open(
    browser: Any, dashboard: DashboardServer, watched: Deployment, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(dashboard.url)
    # Locators, not wait_for_function: the page's policy forbids evaluating strings.
    page.wait_for_selector("#connection.live")
    expect(page.locator("#pipeline-succeeded-total")).not_to_have_text("–")
    before = succeeded_total(page)

    deployment = watched
    for _ in range(2):
        status, body = http_post(
            f"{deployment.api_url}/run",
            {"payload": {"from": "browser test"}},
            credentials=deployment.session.get_credentials(),
        )
        assert status == 200, body

    shown = wait_until(
        lambda: succeeded_total(page) >= before + 2 and succeeded_total(page),
        timeout_s=15,
        what="the page to count 2 more SUCCEEDED",
    )
    assert shown == before + 2
    assert page.locator("#chart-throughput polyline").count() == 3
    assert page.locator("#chart-latency polyline").count() >= 1
    assert (page.text_content("#about") or "").startswith(f"{deployment.target} · stack ")
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    assert problems == []
    page.close()
