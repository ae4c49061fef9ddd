"""Sub-commands of `testbed` for the stress part (registered by serverless_testbed.cli)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this part's sub-commands to `testbed`. Filled in as the part is built."""
