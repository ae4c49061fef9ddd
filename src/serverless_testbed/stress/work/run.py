"""What `testbed worker` runs: the seed design's worker, until a signal stops it."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

import redis

from serverless_testbed.errors import RunFailed, UsageError
from serverless_testbed.stress.connection import RedisTarget, target_from_args
from serverless_testbed.stress.traffic import Config
from serverless_testbed.stress.work.backends import Backend
from serverless_testbed.stress.work.worker import (
    Worker,
    WorkerOptions,
    new_worker_id,
    run_until_signal,
)


def run_worker(args: argparse.Namespace, *, control_secret: str | None) -> int:
    """The command's run, from its parsed flags (declared in serverless_testbed.stress.cli)."""
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    target = target_from_args(args)
    if args.worker_id is not None and (":" in args.worker_id or not args.worker_id.strip()):
        raise UsageError(
            f"--worker-id: must be non-empty and contain no ':' (got {args.worker_id!r})"
        )
    if args.db_redis and args.db != "redis":
        raise UsageError("--db-redis: only with --db redis")
    if args.create_table and args.db != "dynamodb":
        raise UsageError("--create-table: only with --db dynamodb")
    items = (
        target_from_args(argparse.Namespace(**{**vars(args), "redis": args.db_redis}))
        if args.db_redis
        else target
    )
    options = WorkerOptions(
        prefix=args.prefix,
        worker_id=args.worker_id or new_worker_id(),
        dead_after_s=args.dead_after,
        batch=args.batch,
        secret=control_secret,
        allow_remote_exec=args.allow_remote_exec,
        reboot_command=args.reboot_command,
        terminate_command=args.terminate_command,
    )
    logging.getLogger("testbed.worker").info(
        "worker %s on %s, backend %s", options.worker_id, target.redacted, args.db
    )
    worker = Worker(target.client(), options, _backend_factory(args.db, items, args.create_table))
    try:
        run_until_signal(worker)
    except redis.RedisError as error:
        raise RunFailed(f"Redis at {target.redacted}: {type(error).__name__}") from None
    return 0


def _backend_factory(db: str, items: RedisTarget, create: bool) -> Callable[[Config], Backend]:
    """A backend per consumer thread; only the chosen backend's library is imported."""
    if db == "redis":
        from serverless_testbed.stress.work.backends.redis import RedisBackend

        return lambda config: RedisBackend(items.client(), config.table_name)
    from serverless_testbed.stress.work.backends.dynamodb import (
        DynamoDBBackend,
        create_table,
        dynamodb_client,
    )

    created: set[str] = set()

    def factory(config: Config) -> Backend:
        client = dynamodb_client(config.region)
        if create and config.table_name not in created:
            create_table(client, config.table_name)
            created.add(config.table_name)
        return DynamoDBBackend(client, config.table_name)

    return factory
