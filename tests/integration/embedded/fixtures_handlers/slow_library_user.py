"""A handler whose init imports a library the test's runtime preloads in its zygote."""

from __future__ import annotations

from typing import Any

import testbed_slow_library  # written by the test; sleeps at import


def handler(event: Any, context: Any) -> str:
    return testbed_slow_library.NAME
