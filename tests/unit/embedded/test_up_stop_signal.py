"""`testbed up` stops on a stop signal whichever of its threads the kernel gives it to.

A signal sent to a process may be taken by any thread that does not block it; Python runs
the handler in the main thread only. `testbed up`'s main thread waited in signal.pause(),
which a signal taken by another thread does not end: a part that died (the health watch
sends the stop from its own thread) then left the stack running, about one run in ten
under load. Here the main thread blocks SIGTERM, so the kernel must give it to the other
thread, in a process of its own (signal handlers and masks are process-wide state).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

PROBE = textwrap.dedent(
    """
    import os, signal, threading, time
    from serverless_testbed.embedded import commands

    signal.signal(signal.SIGTERM, commands._request_stop)

    def stop_from_this_thread():
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGTERM)  # taken here: the main thread blocks it
        time.sleep(30)

    threading.Thread(target=stop_from_this_thread, daemon=True).start()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        commands._wait_for_a_signal()
    except commands._StopRequested:
        print("stopped")
    """
)


def test_a_stop_signal_taken_by_another_thread_ends_the_wait() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "stopped"
