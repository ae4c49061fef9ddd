"""One dashboard snapshot as Markdown, for `testbed dashboard --once`."""

from __future__ import annotations

from typing import Any


def markdown(snapshot: dict[str, Any]) -> str:
    about = snapshot.get("about", {})
    lines = [
        f"## Dashboard: stack {about.get('stack')} ({about.get('target')}, "
        f"{about.get('region')}), over {snapshot.get('interval_s') or 0:.1f} s",
        "",
        "| state machine | running | started/s | ended/s by status | p50 ms | p90 ms | p99 ms "
        "| totals |",
        "|---|---:|---:|---|---:|---:|---:|---|",
    ]
    for label, machine in snapshot.get("state_machines", {}).items():
        ended = ", ".join(f"{s} {r:.1f}" for s, r in sorted(machine["ended_per_s"].items()))
        latency = machine["latency_ms"]
        totals = ", ".join(f"{s} {n}" for s, n in sorted(machine["totals"].items()))
        lines.append(
            f"| {label} | {machine['running']} | {machine['started_per_s']:.1f} "
            f"| {ended or '-'} | {_ms(latency, 'p50')} | {_ms(latency, 'p90')} "
            f"| {_ms(latency, 'p99')} | {totals} |"
        )
    queues = snapshot.get("queues", {})
    if queues:
        lines += ["", "| queue | waiting | in flight | delayed |", "|---|---:|---:|---:|"]
        for label, depth in queues.items():
            lines.append(
                f"| {label} | {depth['visible']} | {depth['in_flight']} | {depth['delayed']} |"
            )
    stress = snapshot.get("stress")
    if stress is not None:
        lines += [
            "",
            f"Stress workers: {stress['workers']} ({stress['threads']} threads), "
            f"{stress['queued']} descriptors queued",
        ]
        if stress["tasks"]:
            lines += [
                "",
                "| task | ops/s | executed | failed | intended p50 ms | intended p99 ms |",
                "|---|---:|---:|---:|---:|---:|",
            ]
            for task, figures in stress["tasks"].items():
                intended = figures.get("intended_ms", {})
                lines.append(
                    f"| {task} | {figures['rate']:.1f} | {figures['executed']} "
                    f"| {figures['failed']} | {_ms(intended, 'p50')} | {_ms(intended, 'p99')} |"
                )
    for source, message in snapshot.get("errors", {}).items():
        lines += ["", f"- {source} could not be read: {message}"]
    return "\n".join(lines)


def _ms(figures: dict[str, float], key: str) -> str:
    value = figures.get(key)
    return "-" if value is None else f"{value:.1f}"
