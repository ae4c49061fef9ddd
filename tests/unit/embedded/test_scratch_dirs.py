"""Scratch directories left by a killed process are removed by the next one of their kind
made; those of running processes, of other kinds, and without an owner are kept."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from serverless_testbed.embedded import scratch_dirs
from tests.integration.helpers import wait_until

ROOT = Path(__file__).resolve().parents[3]
MAKER = """
import sys
from serverless_testbed.embedded import scratch_dirs
from tests.integration.helpers import wait_until
print(scratch_dirs.make(sys.argv[1]), flush=True)
sys.stdin.read()
"""


@pytest.fixture
def prefix() -> Iterator[str]:
    """A prefix no other test uses; its directories are removed afterwards."""
    unique = f"testbed-test-{uuid.uuid4().hex[:8]}-"
    yield unique
    for left in Path(tempfile.gettempdir()).glob(f"{unique}*"):
        shutil.rmtree(left, ignore_errors=True)


def _made_by_another_process(prefix: str) -> tuple[subprocess.Popen[str], Path]:
    maker = subprocess.Popen(
        [sys.executable, "-c", MAKER, prefix],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert maker.stdout is not None
    return maker, Path(maker.stdout.readline().strip())


def test_a_directory_whose_owner_was_killed_is_removed_by_the_next_of_its_kind(
    prefix: str,
) -> None:
    maker, left = _made_by_another_process(prefix)
    maker.send_signal(signal.SIGKILL)
    maker.wait(timeout=10)
    assert left.is_dir()

    made = scratch_dirs.make(prefix)

    assert not left.exists()
    assert made.is_dir() and made != left


def test_the_directory_of_an_owner_that_runs_is_kept(prefix: str) -> None:
    maker, kept = _made_by_another_process(prefix)
    try:
        scratch_dirs.make(prefix)
        assert kept.is_dir()
    finally:
        maker.kill()
        maker.wait(timeout=10)


def test_an_owner_killed_but_not_yet_reaped_is_gone(prefix: str) -> None:
    maker, left = _made_by_another_process(prefix)
    try:
        maker.send_signal(signal.SIGKILL)
        # Not waited for: a zombie until reaped, which still holds its pid.
        wait_until_zombie(maker.pid)
        scratch_dirs.make(prefix)
        assert not left.exists()
    finally:
        maker.wait(timeout=10)


def test_a_pid_given_to_another_process_does_not_keep_a_directory(prefix: str) -> None:
    recycled = Path(tempfile.mkdtemp(prefix=prefix))
    # This process's pid, but a start time that is not this process's.
    (recycled / scratch_dirs.OWNER_FILE).write_text(f"{os.getpid()} 1\n")

    assert scratch_dirs.sweep(prefix) == [recycled]
    assert not recycled.exists()


def test_a_directory_without_an_owner_is_left_alone(prefix: str) -> None:
    ownerless = Path(tempfile.mkdtemp(prefix=prefix))
    scratch_dirs.make(prefix)
    assert ownerless.is_dir()


def test_a_directory_of_another_kind_is_left_alone(prefix: str) -> None:
    maker, other_kind = _made_by_another_process(prefix + "a-")
    maker.kill()
    maker.wait(timeout=10)
    scratch_dirs.make(prefix + "b-")
    assert other_kind.is_dir()


def test_this_processs_own_directory_is_kept(prefix: str) -> None:
    mine = scratch_dirs.make(prefix)
    scratch_dirs.make(prefix)
    assert mine.is_dir()


def wait_until_zombie(pid: int) -> None:
    def zombie() -> bool:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"

    wait_until(zombie, timeout_s=10, what=f"process {pid} killed")
