"""The `testbed` command: one entry point, one sub-command module per part.

Each part registers its own sub-commands through a ``register(subparsers)`` function, so this
module stays a table of contents. Heavy imports happen inside the commands, never here, so
`testbed --help` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from serverless_testbed.errors import RunFailed, UsageError

# (module, what it adds) in the order `testbed --help` lists them.
COMMAND_MODULES = (
    "serverless_testbed.embedded.commands",  # up, health
    "serverless_testbed.containers.commands",  # serve
    "serverless_testbed.latency.commands",  # latency
    "serverless_testbed.stress.cli",  # publish, worker
    "serverless_testbed.delay.commands",  # delay
    "serverless_testbed.experiments.commands",  # invoke, coldstart, memory-sweep
    "serverless_testbed.dashboard.commands",  # dashboard
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="testbed",
        description="A local-first emulated test environment for event-driven AWS systems.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(module_name)
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as error:
        print(f"testbed {args.command}: error: {error}", file=sys.stderr)
        return 2
    except RunFailed as error:
        print(f"testbed {args.command}: failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
