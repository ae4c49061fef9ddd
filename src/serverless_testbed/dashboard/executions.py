"""What a state machine's executions did since the last look: started, ended by status, how
long the ended ones took, which failed and why.

Step Functions has no change feed, so each sample lists: the RUNNING executions (all of them,
up to a cap), then every execution newest first back to the oldest one that could have
changed since the last sample (the newest start seen then, or the start of an execution that
was running then and is not now). An execution that was running and is found nowhere in that
listing (the cap was reached) is described by name, a few per sample, so a long run is never
counted twice or lost. ListExecutions returns newest first on AWS and on the emulators.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from serverless_testbed.pipeline.execution import TERMINAL_STATUSES

PAGE_SIZE = 1000  # ListExecutions' maximum
MAX_PAGES = 5  # per listing and sample: 5,000 executions
DESCRIBE_BUDGET = 10  # DescribeExecution calls per sample (AWS: a bucket of 300, 15/s)
FIRST_PAGE_MIN = 20  # the first page of a look: twice the last look's new executions, at least
FAILURES_KEPT = 20
CAUSE_SHOWN = 500  # characters of a failure's cause


@dataclass
class Failure:
    arn: str
    name: str
    status: str
    stopped: str  # ISO 8601
    error: str | None = None
    cause: str | None = None
    described: bool = False  # error and cause read (DescribeExecution), or known absent


@dataclass
class ExecutionSample:
    """One interval of one state machine."""

    running: int = 0
    started: int = 0
    ended: Counter[str] = field(default_factory=Counter)
    durations_ms: list[float] = field(default_factory=list)
    truncated: bool = False  # more executions than one sample lists: counts are a floor


class ExecutionWatch:
    """Samples one state machine's executions; the first sample only learns what runs."""

    def __init__(
        self,
        sfn: Any,
        state_machine_arn: str,
        *,
        page_size: int = PAGE_SIZE,
        max_pages: int = MAX_PAGES,
        describe_budget: int = DESCRIBE_BUDGET,
    ) -> None:
        self.sfn = sfn
        self.state_machine_arn = state_machine_arn
        self.page_size = page_size
        self.max_pages = max_pages
        self.describe_budget = describe_budget
        self.failures: deque[Failure] = deque(maxlen=FAILURES_KEPT)  # newest last
        self._running: dict[str, datetime] = {}  # arn -> start, as of the last sample
        self._newest_start: datetime | None = None
        self._ended: dict[str, datetime] = {}  # arn -> start: counted already
        self._started_once = False
        self._describes_left = describe_budget
        # The service builds every item of a page asked for, even those older than the
        # cutoff: a first page sized to what changed keeps an idle look cheap.
        self._first_page = min(page_size, FIRST_PAGE_MIN)

    def sample(self) -> ExecutionSample:
        result = ExecutionSample()
        running, capped = self._listing(status="RUNNING", first_page=self.page_size)
        result.running = len(running)
        result.truncated = capped
        running_now = {item["executionArn"]: item["startDate"] for item in running}
        if not self._started_once:
            self._started_once = True
            newest = self._list_page(None, None, page_size=self._first_page)["executions"]
            self._newest_start = newest[0]["startDate"] if newest else None
            # Those that started after the RUNNING listing are watched too.
            self._running = {**running_now, **_running_among(newest)}
            return result
        gone = {  # running at the last sample, not now, not counted yet: ended meanwhile
            arn: start
            for arn, start in self._running.items()
            if arn not in running_now and arn not in self._ended
        }
        bounds = [*gone.values(), *([self._newest_start] if self._newest_start else [])]
        cutoff = min(bounds) if bounds else None  # None: nothing seen yet, all of it is new
        newest_start = self._newest_start
        self._describes_left = self.describe_budget
        # What this look counts is kept apart until every call of it answered: a look that
        # fails part-way leaves the watch as it was, and the next look counts it all.
        counted: dict[str, datetime] = {}
        failed: list[Failure] = []
        listed, capped = self._listing(cutoff=cutoff, first_page=self._first_page)
        for item in reversed(listed):  # oldest first: failures are kept newest last
            arn, start = item["executionArn"], item["startDate"]
            is_new = self._newest_start is None or start > self._newest_start
            if is_new:
                result.started += 1
                newest_start = start if newest_start is None else max(newest_start, start)
            if item["status"] in TERMINAL_STATUSES and arn not in self._ended:
                if (is_new or arn in gone) and arn not in counted:
                    self._count_ended(result, item, counted, failed)
                gone.pop(arn, None)
        result.truncated = result.truncated or capped
        for arn in list(gone)[: self._describes_left]:
            described = self._describe(arn)
            if described is None:  # forgotten by the service: nothing left to count
                gone.pop(arn)
            elif described["status"] in TERMINAL_STATUSES:
                self._count_ended(result, described, counted, failed)
                gone.pop(arn)
            # still RUNNING (a listing that lagged behind): looked at again next time
        self._describe_failures([*self.failures, *failed])
        self._ended.update(counted)
        self.failures.extend(failed)
        # Watched until they end: those running now, those that started between the two
        # listings (RUNNING in the second only), and those not yet resolved.
        self._running = {**running_now, **_running_among(listed), **gone}
        self._newest_start = newest_start
        self._forget_ended_before(cutoff)
        self._first_page = min(self.page_size, max(FIRST_PAGE_MIN, 2 * len(listed)))
        return result

    def _count_ended(
        self,
        result: ExecutionSample,
        item: dict[str, Any],
        counted: dict[str, datetime],
        failed: list[Failure],
    ) -> None:
        status, start, stop = item["status"], item["startDate"], item.get("stopDate")
        counted[item["executionArn"]] = start
        result.ended[status] += 1
        if stop is not None:
            result.durations_ms.append((stop - start).total_seconds() * 1000)
        if status != "SUCCEEDED":
            failed.append(self._failure_of(item))

    def _failure_of(self, item: dict[str, Any]) -> Failure:
        stop = item.get("stopDate")
        failure = Failure(
            arn=item["executionArn"],
            name=item["name"],
            status=item["status"],
            stopped=stop.isoformat() if stop is not None else "",
        )
        if "input" in item:  # a DescribeExecution answer: error and cause are in it
            self._read_error(failure, item)
        return failure

    def _describe_failures(self, failures: list[Failure]) -> None:
        """Error and cause of ``failures`` (oldest first), newest first, within the budget
        left."""
        for failure in reversed(failures[-FAILURES_KEPT:]):
            if self._describes_left <= 0:
                return
            if not failure.described:
                self._read_error(failure, self._describe(failure.arn) or {})

    @staticmethod
    def _read_error(failure: Failure, described: dict[str, Any]) -> None:
        cause = described.get("cause")
        failure.error = described.get("error")
        failure.cause = cause[:CAUSE_SHOWN] if cause else cause
        failure.described = True

    def _forget_ended_before(self, cutoff: datetime | None) -> None:
        if cutoff is None:
            return
        self._ended = {arn: start for arn, start in self._ended.items() if start >= cutoff}

    def _listing(
        self, *, status: str | None = None, cutoff: datetime | None = None, first_page: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """Executions newest first (of ``status``, or all), down to ``cutoff`` (included), at
        most max_pages pages, the first of ``first_page`` items; the flag says the cap was
        reached before the end."""
        items: list[dict[str, Any]] = []
        token = None
        for page_number in range(self.max_pages):
            size = first_page if page_number == 0 else self.page_size
            page = self._list_page(status, token, page_size=size)
            for item in page.get("executions", []):
                if cutoff is not None and item["startDate"] < cutoff:
                    return items, False
                items.append(item)
            token = page.get("nextToken")
            if not token:
                return items, False
        return items, True

    def _list_page(
        self, status: str | None, token: str | None, *, page_size: int
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "stateMachineArn": self.state_machine_arn,
            "maxResults": page_size,
        }
        if status is not None:
            kwargs["statusFilter"] = status
        if token is not None:
            kwargs["nextToken"] = token
        return self.sfn.list_executions(**kwargs)

    def _describe(self, arn: str) -> dict[str, Any] | None:
        self._describes_left -= 1
        try:
            return self.sfn.describe_execution(executionArn=arn)
        except self.sfn.exceptions.ExecutionDoesNotExist:  # forgotten (retention)
            return None


def _running_among(items: list[dict[str, Any]]) -> dict[str, datetime]:
    return {
        item["executionArn"]: item["startDate"] for item in items if item["status"] == "RUNNING"
    }
