from __future__ import annotations

from pathlib import Path

from serverless_testbed.latency.plot import write_plot
from tests.unit.latency.golden_files import golden_breakdowns


def test_the_plot_is_written_as_a_png_even_with_failed_and_negative_iterations(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.png"
    write_plot(golden_breakdowns(), path, "golden")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
