"""What `testbed publish` runs: validate both files, plan or publish, report.

Order matters: config.json and traffic.json are loaded, validated and scheduled before any
connection to Redis, so a bad file changes nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import secrets
import sys
from contextlib import nullcontext
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path

from serverless_testbed.errors import RunFailed, UsageError
from serverless_testbed.stress.connection import target_from_args
from serverless_testbed.stress.publish.plan import plan_json, render_plan
from serverless_testbed.stress.publish.publisher import ConfigSync, SlotPublisher, sync_config
from serverless_testbed.stress.publish.report import (
    Monitor,
    WorkerTotals,
    build_summary,
    drain,
    progress_bar,
    render_summary,
)
from serverless_testbed.stress.publish.schedule import HOUR_S, build_schedule, exact
from serverless_testbed.stress.traffic import load_files


def run_publish(args: argparse.Namespace, *, control_secret: str | None) -> int:
    """The command's run, from its parsed flags (declared in serverless_testbed.stress.cli)."""
    config, traffic = load_files(args.config, args.traffic)
    schedule = build_schedule(
        traffic, start_second=start_second(args.start_hour), time_scale=args.time_scale
    )
    if args.plan or args.plan_json:
        name = str(args.traffic)
        sys.stdout.write(render_plan(schedule, config, traffic_name=name, prefix=args.prefix))
        if args.plan_json:
            plan = plan_json(schedule, config, traffic_name=name)
            Path(args.plan_json).write_text(json.dumps(plan, indent=2) + "\n")
        return 0
    if not args.redis:
        raise UsageError("--redis is required to publish (only --plan runs without Redis)")
    if args.summary_json:
        _check_writable(args.summary_json)
    target = target_from_args(args)

    import redis

    client = target.client()
    try:
        client.ping()
        sync = sync_config(client, args.prefix, config, control_secret, warn=_warn)
        if not sync.changed or sync.notified:  # otherwise sync_config has warned already
            _warn(_describe(sync, args.prefix))
        publisher = SlotPublisher(
            client,
            args.prefix,
            config,
            schedule,
            run_id=secrets.token_hex(4),
            catch_up=args.catch_up,
            catch_up_max=args.catch_up_max,
        )
        totals = WorkerTotals(client, args.prefix, [p.task_id for p in publisher.tasks])
        monitor = Monitor(publisher, totals, client, out=_print) if args.stats else None
        _warn(
            f"publishing run {publisher.run_id}: {schedule.total:,} operations in "
            f"{len(publisher.tasks)} task(s) over {schedule.total_slots / 100:,.2f} s to "
            f"{target.redacted} ({args.prefix}_q0..q{config.threads - 1})"
        )
        if monitor:
            monitor.start()
        show_progress = not monitor and sys.stderr.isatty()
        try:
            with progress_bar(publisher, "publishing") if show_progress else nullcontext():
                publisher.run()
            waits = bool(args.summary_json or args.stats) and not publisher.stats.interrupted
            merged, complete = (
                drain(publisher, totals, args.drain_timeout) if waits else (None, None)
            )
        finally:
            if monitor:
                monitor.stop()
    except redis.RedisError as error:
        raise RunFailed(f"Redis at {target.redacted}: {type(error).__name__}: {error}") from None
    summary = build_summary(
        publisher, merged, complete=complete, config_sync=asdict(sync), catch_up=args.catch_up
    )
    _print(render_summary(summary))
    if args.summary_json:
        Path(args.summary_json).write_text(json.dumps(summary, indent=2) + "\n")
    if complete is False:
        raise RunFailed(
            f"the workers did not account for every operation within {args.drain_timeout:g} s "
            "(see the 'unaccounted' column)"
        )
    return 130 if publisher.stats.interrupted else 0


def start_second(start_hour: float | None) -> Fraction:
    """Second of the day the schedule clock starts at: --start-hour, or the local time now."""
    if start_hour is not None:
        return exact(start_hour) * HOUR_S
    now = dt.datetime.now()
    return Fraction(now.hour * HOUR_S + now.minute * 60 + now.second)


def _describe(sync: ConfigSync, prefix: str) -> str:
    if not sync.changed:
        return f"{prefix}_cfg already matches the config file"
    return f"{prefix}_cfg updated; update_config sent to {sync.receivers} subscriber(s)"


def _check_writable(path: str) -> None:
    parent = Path(path).expanduser().resolve().parent
    if not parent.is_dir():
        raise UsageError(f"--summary-json: directory {parent} does not exist")


def _print(text: str) -> None:
    print(text, flush=True)


def _warn(text: str) -> None:
    print(f"testbed publish: {text}", file=sys.stderr, flush=True)
