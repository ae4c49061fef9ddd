"""Command-line values that both local engines' commands take (`testbed up`, `testbed serve`)."""

from __future__ import annotations

import argparse

from serverless_testbed.errors import UsageError


def port(text: str) -> int:
    """An argparse type: a TCP port, 0 meaning a free one."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 0-65535: {value}")
    return value


def template_parameters(pairs: list[str]) -> dict[str, str]:
    """Repeated ``--parameter KEY=VALUE`` as a dict, or a one-line UsageError naming the pair."""
    parameters = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--parameter {pair!r}: expected KEY=VALUE")
        parameters[key] = value
    return parameters
