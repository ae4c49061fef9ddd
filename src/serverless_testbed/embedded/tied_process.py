"""A child process that ends with the process that started it, even one killed outright.

``atexit`` and ``stop()`` end a server when its owner exits or stops it, not when the owner
is SIGKILLed or dies hard: the server then outlived it and kept its port. On Linux the child
asks the kernel for SIGTERM when its parent dies (``PR_SET_PDEATHSIG``, set by util-linux's
``setpriv --pdeathsig``, which then execs the command: the pid is the command's own).
prctl(2) names the *thread* that forked as that parent, and the stack starts its parts on a
thread pool whose threads end, so the fork happens on a thread of its own that lives until
``release()`` (the 6.18 kernel here signals only when the whole process ends). Without
``setpriv`` (macOS, a minimal image) the command starts as it is.
"""

from __future__ import annotations

import queue
import shutil
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class TiedProcess:
    """``process`` is the started command; call ``release()`` once it has been reaped."""

    def __init__(self, command: Sequence[str], **popen_options: Any) -> None:
        self._released = threading.Event()
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            self.process: subprocess.Popen[bytes] = subprocess.Popen(command, **popen_options)
            return
        started: queue.SimpleQueue[subprocess.Popen[bytes] | BaseException] = queue.SimpleQueue()

        def fork_and_stay() -> None:
            try:
                tied = [setpriv, "--pdeathsig", "TERM", "--", *command]
                started.put(subprocess.Popen(tied, **popen_options))
            except BaseException as error:  # handed to the caller's thread, raised there
                started.put(error)
                return
            self._released.wait()

        name = f"parent of {Path(command[0]).name}"
        threading.Thread(target=fork_and_stay, name=name, daemon=True).start()
        outcome = started.get()
        if isinstance(outcome, BaseException):
            raise outcome
        self.process = outcome

    def release(self) -> None:
        """The process has ended: its parent thread may end too."""
        self._released.set()
