"""Command-line values that both local engines' commands take (`testbed up`, `testbed serve`)."""

from __future__ import annotations

from serverless_testbed.errors import UsageError


def template_parameters(pairs: list[str]) -> dict[str, str]:
    """Repeated ``--parameter KEY=VALUE`` as a dict, or a one-line UsageError naming the pair."""
    parameters = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--parameter {pair!r}: expected KEY=VALUE")
        parameters[key] = value
    return parameters
