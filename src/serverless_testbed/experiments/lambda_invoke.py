"""One Lambda Invoke with ``LogType=Tail``: the result, the log tail and its REPORT line."""

from __future__ import annotations

import base64
import re
import time
from dataclasses import asdict, dataclass
from typing import Any

_REPORT_FIELDS = {
    "duration_ms": r"(?<!Billed )(?<!Init )Duration: ([\d.]+) ms",
    "billed_duration_ms": r"Billed Duration: ([\d.]+) ms",
    "memory_size_mb": r"Memory Size: (\d+) MB",
    "max_memory_used_mb": r"Max Memory Used: (\d+) MB",
    "init_duration_ms": r"Init Duration: ([\d.]+) ms",
}


@dataclass(frozen=True)
class Report:
    """The fields of Lambda's ``REPORT RequestId: ...`` line."""

    request_id: str
    duration_ms: float | None
    billed_duration_ms: float | None
    memory_size_mb: int | None
    max_memory_used_mb: int | None
    init_duration_ms: float | None  # cold starts only

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_report(log: str) -> Report | None:
    """The last REPORT line of a log, or None when the log has none."""
    lines = [line for line in log.splitlines() if line.startswith("REPORT RequestId: ")]
    if not lines:
        return None
    line = lines[-1]
    values: dict[str, Any] = {}
    for name, pattern in _REPORT_FIELDS.items():
        match = re.search(pattern, line)
        if match is None:
            values[name] = None
        elif name.endswith("_mb"):
            values[name] = int(match.group(1))
        else:
            values[name] = float(match.group(1))
    request_id = line.removeprefix("REPORT RequestId: ").split()[0]
    return Report(request_id=request_id, **values)


@dataclass(frozen=True)
class Invocation:
    function_name: str
    status_code: int
    payload: bytes
    function_error: str | None
    log: str  # the decoded LogResult: the last 4 KB of this invoke's log
    report: Report | None
    started_at: float  # epoch s, when the request was sent
    ended_at: float  # epoch s, when the response was read
    client_ms: float  # the round trip as the caller saw it


def invoke_with_log(lambda_client: Any, function_name: str, payload: bytes) -> Invocation:
    """RequestResponse Invoke with LogType=Tail (every target returns the log tail)."""
    started_at, started = time.time(), time.perf_counter()
    response = lambda_client.invoke(
        FunctionName=function_name,
        InvocationType="RequestResponse",
        LogType="Tail",
        Payload=payload,
    )
    body = response["Payload"].read()
    client_ms = (time.perf_counter() - started) * 1000
    log = base64.b64decode(response.get("LogResult", "")).decode(errors="replace")
    return Invocation(
        function_name=function_name,
        status_code=response["StatusCode"],
        payload=body,
        function_error=response.get("FunctionError"),
        log=log,
        report=parse_report(log),
        started_at=started_at,
        ended_at=time.time(),
        client_ms=client_ms,
    )
