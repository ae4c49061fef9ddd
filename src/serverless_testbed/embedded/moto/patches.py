"""Everything the embedded stack changes in moto's server, installed once per process.

moto 5.2 alone cannot run this pipeline as AWS would (``behaviour.py``: Lambda invoke
routing, no inline SQS mappings, SendTaskFailure's cause, CloudFormation's state machines,
callbacks before the heartbeat wait; ``timestamp_wait.py``: Timestamp waits in UTC whatever
the host's time zone), and starts and answers slower than it has to (``speed/``;
``interpreter_invoke.py``: Step Functions invokes functions in process, not through moto's
HTTP layer). Every patch goes through ``patching.py``: it fails with a one-line error when
a moto upgrade moved its target, keeps the original, and is listed by
``patching.applied_patches()``. ``model_tracking.py`` holds moto's list of every model
instance weakly, so that what a backend lets go of is freed; ``deleted_receipts.py`` bounds
the receipt handles a queue remembers. The README's "moto bugs"
section reproduces the bugs the behaviour patches work around. ``wait_scale.py`` (Wait
states shrunk by a scale) is applied only when a stack asks for a scale other than 1.

The patches are process-wide, as moto's backends are: one embedded stack per process.
"""

from __future__ import annotations

import logging
import threading

from serverless_testbed.embedded.moto import (
    behaviour,
    cloudformation_tables,
    deleted_receipts,
    interpreter_invoke,
    model_tracking,
    speed,
    timestamp_wait,
)
from serverless_testbed.emulation.invoke import Invoke
from serverless_testbed.errors import UsageError

_lock = threading.Lock()
_invoker: Invoke | None = None
_installed = False


def install(invoker: Invoke) -> None:
    """Apply every patch (idempotent) and route Lambda invokes to ``invoker``.

    One invoker per process: moto's backends are process-wide, so a second embedded stack in
    the same process would share the first one's resources and take over its Lambda invokes.
    Raises ``patching.PatchTargetMissing`` when the installed moto lacks a patch's target.
    """
    global _invoker, _installed
    with _lock:
        if _invoker is not None:
            raise UsageError(
                "an embedded stack is already running in this process (moto's state is "
                "process-wide): use that one, or start another in a separate process"
            )
        if not _installed:
            speed.apply()  # first: it decides what the imports below cost
            model_tracking.apply()
            deleted_receipts.apply()
            behaviour.apply(current_invoker)
            interpreter_invoke.apply()
            cloudformation_tables.apply()
            timestamp_wait.install()
            _quiet_logs()
            _installed = True
        _invoker = invoker


def current_invoker() -> Invoke | None:
    return _invoker


def uninstall_invoker(invoker: Invoke) -> None:
    """Forget ``invoker`` (its stack stopped); invokes then fail as a Lambda service error."""
    global _invoker
    with _lock:
        if _invoker == invoker:
            _invoker = None


def _quiet_logs() -> None:
    # One access-log line per AWS call, and a traceback for every execution that fails as
    # designed, would drown what users want to see; execution history has the failures.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
