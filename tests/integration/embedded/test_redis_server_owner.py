"""A Redis server ends with the process that started it, even one killed outright (SIGKILL
skips atexit and stop()), and not before: the stack starts it from a pool thread that ends,
and prctl(2) names the forking thread as the parent whose end sends the signal (the 6.18
kernel here sends it only when the whole process ends; the first test holds on both)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from serverless_testbed.embedded.redis_server import RedisServer
from tests.integration.helpers import wait_until

pytestmark = pytest.mark.skipif(
    shutil.which("setpriv") is None, reason="no setpriv (util-linux): servers are not tied"
)

ROOT = Path(__file__).resolve().parents[3]
OWNER = """
import sys, threading
from serverless_testbed.embedded.redis_server import RedisServer
servers = []
starter = threading.Thread(target=lambda: servers.append(RedisServer().start()))
starter.start()
starter.join()
print(servers[0].pid, servers[0]._dir, flush=True)
sys.stdin.read()
"""


def _running(pid: int) -> bool:
    """The process exists and is not a zombie left for a parent that does not reap."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_a_server_started_on_a_thread_that_ended_keeps_serving() -> None:
    servers: list[RedisServer] = []
    starter = threading.Thread(target=lambda: servers.append(RedisServer().start()))
    starter.start()
    starter.join()
    server = servers[0]
    try:
        assert server._process is not None
        # Tied to the ending thread instead, the kernel would send SIGTERM as it ended.
        with pytest.raises(subprocess.TimeoutExpired):
            server._process.wait(timeout=1)
        assert server.exit_status() is None
    finally:
        server.stop()


def test_a_server_ends_when_its_owner_is_killed_outright_and_the_next_removes_its_directory() -> (
    None
):
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout is not None
    pid_text, directory = owner.stdout.readline().split()
    pid = int(pid_text)
    try:
        assert _running(pid)
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=10)
        wait_until(lambda: not _running(pid), timeout_s=10, what=f"redis server {pid} ended")
    finally:
        if _running(pid):
            os.kill(pid, signal.SIGKILL)
    # Its directory (log, TLS files) outlived the killed owner; the next server removes it.
    with RedisServer() as server:
        assert server.exit_status() is None
        assert not Path(directory).exists()
