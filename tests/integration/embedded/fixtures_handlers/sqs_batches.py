"""A worker for the SQS poller tests: it records every event, and each message's body says
how its processing goes ({"outcome": "ok" | "fail-item" | "raise" | "block" | "bad-response"})."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


def record_batch(event: dict[str, Any], context: Any) -> Any:
    records_dir = Path(os.environ["RECORD_DIR"])
    _write_atomically(records_dir / f"{context.aws_request_id}.json", json.dumps(event))
    outcomes = {
        r["messageId"]: json.loads(r["body"]).get("outcome", "ok") for r in event["Records"]
    }
    if "block" in outcomes.values():
        for message_id, outcome in outcomes.items():
            if outcome == "block":
                (records_dir / f"started-{message_id}").touch()
        _wait_for(records_dir / "release", context)
    if "raise" in outcomes.values():
        raise RuntimeError("this batch cannot be processed")
    if "bad-response" in outcomes.values():
        return {"batchItemFailures": [{"itemIdentifier": "not-a-message-of-this-batch"}]}
    failed = [message_id for message_id, outcome in outcomes.items() if outcome == "fail-item"]
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(text)
    partial.rename(path)


def _wait_for(path: Path, context: Any) -> None:
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
