"""Scratch directories whose owner was killed are removed by the next one made of their kind.

The embedded stack makes a few directories under the system's temporary directory (the Redis
server's log and TLS files, unpacked function code) and removes them when it stops; a process
killed with SIGKILL, or by the kernel's OOM killer, cannot. Each directory made here holds an
``OWNER`` file naming the process that made it: its pid and, where /proc tells it, the
process's start time, so that a pid the kernel gave to a later process is not taken for the
owner. ``make`` first removes this user's directories of the same prefix whose owner is gone.
A directory without an ``OWNER`` file (made by an earlier version, or by hand) is left alone:
nothing says its owner has gone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

OWNER_FILE = "OWNER"


def make(prefix: str) -> Path:
    """A new directory ``<tmp>/<prefix>XXXXXXXX`` owned by this process (mode 0700), after
    removing the directories of the same prefix left by processes that are gone."""
    sweep(prefix)
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    (directory / OWNER_FILE).write_text(_identity(os.getpid()) + "\n")
    return directory


def sweep(prefix: str) -> list[Path]:
    """Remove this user's ``<tmp>/<prefix>*`` directories whose owner is gone; return them."""
    removed = []
    root = Path(tempfile.gettempdir())
    with contextlib.suppress(OSError):
        for candidate in root.glob(f"{prefix}*"):
            if _left_behind(candidate):
                shutil.rmtree(candidate, ignore_errors=True)
                removed.append(candidate)
    return removed


def _left_behind(directory: Path) -> bool:
    try:
        if directory.is_symlink() or not directory.is_dir():
            return False
        if directory.stat().st_uid != os.getuid():
            return False
        owner = (directory / OWNER_FILE).read_text().split()
    except OSError:  # no OWNER file, or not ours to read
        return False
    if not owner or not owner[0].isdigit():
        return False
    pid = int(owner[0])
    if not _running(pid):
        return True
    state = _proc_state(pid)
    if state is None:  # no /proc: a running pid is taken for the owner
        return False
    status, started = state
    recorded = owner[1] if len(owner) > 1 else None
    # Killed but not yet reaped by its parent, or a later process that was given the pid.
    return status == "Z" or (recorded is not None and started != recorded)


def _identity(pid: int) -> str:
    state = _proc_state(pid)
    return str(pid) if state is None else f"{pid} {state[1]}"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process holds the pid
        return True
    return True


def _proc_state(pid: int) -> tuple[str, str] | None:
    """The process's state letter and start time in clock ticks since boot (/proc/PID/stat,
    fields 3 and 22), or None without /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return (fields[0], fields[19]) if len(fields) > 19 else None
