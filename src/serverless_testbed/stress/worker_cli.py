"""`testbed worker`: the seed design's worker, as a sub-command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from serverless_testbed.stress.connection import RedisTarget, add_redis_arguments, target_from_args
from serverless_testbed.stress.protocol import CONTROL_SECRET_ENV, DEFAULT_PREFIX

if TYPE_CHECKING:  # imported when a worker runs, not for --help
    from serverless_testbed.stress.backends import Backend
    from serverless_testbed.stress.traffic import Config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="consume stress descriptors from Redis and run them against DynamoDB or Redis",
        description="Read {prefix}_cfg, listen on {prefix}_notify (signed control messages), "
        "run `threads` consumers on {prefix}_q0..q{threads-1} with a reliable queue "
        "(in-flight lists, heartbeats, reclaim from dead workers), execute the operations "
        "against the backend and report to {prefix}_stats every second and to "
        "{prefix}_totals:{worker} exactly.",
    )
    add_redis_arguments(parser)
    parser.add_argument(
        "--prefix", default=DEFAULT_PREFIX, help=f"Redis key prefix (default {DEFAULT_PREFIX})"
    )
    parser.add_argument(
        "--db",
        required=True,
        choices=("dynamodb", "redis"),
        help="backend: dynamodb (boto3; endpoint from AWS_ENDPOINT_URL[_DYNAMODB]) or redis "
        "(one hash per item, on the --db-redis server, default the --redis one)",
    )
    parser.add_argument(
        "--db-redis",
        metavar="HOST:PORT|URL",
        help="with --db redis: the Redis holding the items (default: the --redis server)",
    )
    parser.add_argument(
        "--control-secret",
        help=f"shared secret for control messages (prefer the {CONTROL_SECRET_ENV} variable: "
        "a flag is visible in the process list); without one every control message is refused",
    )
    parser.add_argument(
        "--allow-remote-exec",
        action="store_true",
        help="obey signed execute_bash / reboot_instance / terminate_instance (off by default)",
    )
    parser.add_argument("--reboot-command", default="sudo reboot", help="run on reboot_instance")
    parser.add_argument(
        "--terminate-command", default="sudo shutdown -h now", help="run on terminate_instance"
    )
    parser.add_argument(
        "--create-table",
        action="store_true",
        help="with --db dynamodb: create the table (pk: S, on demand) if it is missing",
    )
    parser.add_argument("--worker-id", help="this worker's id (default host-pid-random)")
    parser.add_argument(
        "--dead-after",
        type=_positive_float,
        default=5.0,
        metavar="SECONDS",
        help="a worker silent for this long is dead: its work is reclaimed (default 5)",
    )
    parser.add_argument(
        "--batch",
        type=_positive_int,
        default=32,
        help="most operations already due sent in one backend round trip (default 32)",
    )
    parser.set_defaults(func=run)


register_worker = register  # the name the brief uses


def run(args: argparse.Namespace) -> int:
    from serverless_testbed.errors import UsageError
    from serverless_testbed.stress.worker import (
        Worker,
        WorkerOptions,
        new_worker_id,
        run_until_signal,
    )

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
        secret=args.control_secret or os.environ.get(CONTROL_SECRET_ENV) or None,
        allow_remote_exec=args.allow_remote_exec,
        reboot_command=args.reboot_command,
        terminate_command=args.terminate_command,
    )
    logging.getLogger("testbed.worker").info(
        "worker %s on %s, backend %s", options.worker_id, target.redacted, args.db
    )
    import redis

    from serverless_testbed.errors import RunFailed

    worker = Worker(target.client(), options, _backend_factory(args.db, items, args.create_table))
    try:
        run_until_signal(worker)
    except redis.RedisError as error:
        raise RunFailed(f"Redis at {target.redacted}: {type(error).__name__}") from None
    return 0


def _backend_factory(db: str, items: RedisTarget, create: bool) -> Callable[[Config], Backend]:
    if db == "redis":
        from serverless_testbed.stress.backends.redis import RedisBackend

        return lambda config: RedisBackend(items.client(), config.table_name)
    from serverless_testbed.stress.backends.dynamodb import (
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


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0 (got {text})")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1 (got {text})")
    return value
