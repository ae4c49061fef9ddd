"""Golden files of the latency report: inputs and the exact outputs expected from them.

Regenerate after an intended change of the report (then review the diff):
    .venv/bin/python -m tests.unit.latency.golden_files
"""

from __future__ import annotations

import json
from pathlib import Path

from serverless_testbed.latency import report
from serverless_testbed.latency.stages import Breakdown, Observation, breakdown

GOLDEN = Path(__file__).parent / "golden"
RUN_INFO = report.RunInfo(
    target="embedded",
    stack="testbed",
    region="us-east-1",
    repeat=8,
    concurrency=1,
    date="2026-11-23T00:00:00+00:00",
    git_revision="abc1234",
    throughput_per_s=9.5,
)


def golden_breakdowns() -> list[Breakdown]:
    raw = json.loads((GOLDEN / "observations.json").read_text())
    return [breakdown(Observation.from_json(item)) for item in raw]


def rendered_markdown() -> str:
    return report.render(RUN_INFO, golden_breakdowns())


def rendered_json() -> str:
    return json.dumps(report.to_json(RUN_INFO, golden_breakdowns()), indent=2) + "\n"


if __name__ == "__main__":
    (GOLDEN / "report.md").write_text(rendered_markdown())
    (GOLDEN / "report.json").write_text(rendered_json())
