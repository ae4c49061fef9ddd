"""Run `testbed` in a child process, as a user does (each embedded run starts its own stack)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ENV_VARIABLES_OF_A_RUN = ("STACK_NAME", "STAGE", "REPEAT", "RUN_REMOTE_TESTS", "AWS_PROFILE")


def clean_environment(extra: Mapping[str, str] = {}) -> dict[str, str]:
    """The caller's environment without any AWS endpoint, profile or stack setting, with
    dummy credentials and no config files, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_") and key not in ENV_VARIABLES_OF_A_RUN
    }
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    env.update(extra)
    return env


def run_testbed(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout_s: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "serverless_testbed.cli", *args],
        cwd=cwd,
        env=dict(env) if env is not None else clean_environment(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
