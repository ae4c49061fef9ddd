"""The run as a picture: per-stage stacked bars per iteration, and a histogram of the totals."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from serverless_testbed.latency.stages import STAGE_NAMES, Breakdown


def write_plot(items: Sequence[Breakdown], path: Path, title: str) -> None:
    # Figure + the Agg canvas directly: no pyplot global state, no display needed.
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 8), layout="constrained")
    FigureCanvasAgg(figure)
    bars, histogram = figure.subplots(2, 1, height_ratios=(3, 2))
    succeeded = [item for item in items if item.succeeded]
    labels = [str(item.iteration) for item in succeeded]
    bottoms = [0.0] * len(succeeded)
    palette = colormaps["tab20"]
    for index, name in enumerate((*STAGE_NAMES, "residual")):
        heights = [
            (item.residual_ms if name == "residual" else item.stages[name]) or 0.0
            for item in succeeded
        ]
        bars.bar(labels, heights, bottom=bottoms, label=name, color=palette(index))
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    failed = [str(item.iteration) for item in items if not item.succeeded]
    bars.set_title(title + (f" (failed, not shown: {', '.join(failed)})" if failed else ""))
    bars.set_xlabel("iteration")
    bars.set_ylabel("ms")
    bars.legend(fontsize="x-small", ncols=3, loc="upper right")
    histogram.hist([item.total_ms for item in succeeded], bins=min(30, max(5, len(succeeded))))
    histogram.set_xlabel("end-to-end latency (ms)")
    histogram.set_ylabel("executions")
    figure.savefig(path, dpi=100)


def write_sweep_plot(
    levels: Sequence[tuple[int, float, float | None, float | None]], path: Path, title: str
) -> None:
    """(concurrency, executions/s, p50 ms, p99 ms) per level: throughput and latency curves."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 6), layout="constrained")
    FigureCanvasAgg(figure)
    throughput = figure.subplots()
    concurrency = [level[0] for level in levels]
    throughput.plot(concurrency, [level[1] for level in levels], "o-", color="tab:blue")
    throughput.set_xscale("log", base=2)
    throughput.set_xticks(concurrency, [str(c) for c in concurrency])
    throughput.set_xlabel("executions in flight")
    throughput.set_ylabel("throughput (executions/s)", color="tab:blue")
    latency = throughput.twinx()
    for label, style, values in (
        ("p50", "s--", [(level[0], level[2]) for level in levels]),
        ("p99", "^:", [(level[0], level[3]) for level in levels]),
    ):
        points = [(x, y) for x, y in values if y is not None]
        latency.plot([x for x, _ in points], [y for _, y in points], style, label=label)
    latency.set_ylabel("end-to-end latency (ms)")
    latency.legend(loc="upper left")
    throughput.set_title(title)
    figure.savefig(path, dpi=100)
