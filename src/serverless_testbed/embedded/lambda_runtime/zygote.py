"""The zygote: a single-threaded process that forks Lambda containers, so a cold start is cheap.

The runtime is multi-threaded (moto's server, pollers, HTTP handlers), and forking a
multi-threaded process is unsafe. So the runtime starts this process once (fork + exec, which
is safe), it imports the heavy modules every handler needs (boto3, ...), and each container is
a fork of it: a cold start then costs a fork plus the handler's own import.

The zygote is the parent of every container: it is the only one to signal or reap them (so a
pid is never reused under our feet), and it reports each exit status to the runtime. When the
runtime goes away (the control socket closes) it kills every container and exits.

Control messages (JSON over a SOCK_SEQPACKET socket pair):
  runtime -> zygote  {"op": "spawn", "id": n, "init": {...}} | {"op": "kill", "pid": p}
                     | {"op": "stop"}
  zygote -> runtime  {"op": "spawned", "id": n, "pid": p} + 2 fds (the container's socket, its
                     log pipe) | {"op": "exited", "pid": p, "status": wait status}
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, NoReturn

MAX_CONTROL_MESSAGE = 1 << 20
SPAWN_TIMEOUT_S = 60.0  # the first spawn waits for the zygote's own imports

ExitCallback = Callable[[int], None]


@dataclass(frozen=True)
class Spawned:
    pid: int
    connection: Connection  # invokes and results
    log_fd: int  # read end of the container's stdout/stderr pipe


class ZygoteGone(RuntimeError):
    """The zygote process is not running (it crashed or was stopped)."""


class Zygote:
    """The runtime's handle on a zygote process (thread-safe)."""

    def __init__(self, preload: Sequence[str], boto3_services: Sequence[str] = ()) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = dict(os.environ)
        # The zygote and its containers must import what this process imports.
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                __name__,
                str(theirs.fileno()),
                json.dumps({"preload": list(preload), "boto3_services": list(boto3_services)}),
            ],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # Ctrl-C in a terminal is for the runtime, not for us
        )
        theirs.close()
        self._socket = ours
        self._send_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._next_id = 0
        self._pending: dict[int, tuple[Future[Spawned], ExitCallback]] = {}
        self._on_exit: dict[int, ExitCallback] = {}
        self.alive = True
        self._stopping = False
        self._reader = threading.Thread(target=self._read, name="lambda-zygote", daemon=True)
        self._reader.start()

    def spawn(self, init: dict[str, Any], on_exit: ExitCallback) -> Spawned:
        """Fork a container that runs ``lambda_container.serve(init)``."""
        future: Future[Spawned] = Future()
        with self._state_lock:
            if not self.alive:
                raise ZygoteGone("the Lambda zygote process is not running")
            self._next_id += 1
            request_id = self._next_id
            self._pending[request_id] = (future, on_exit)
        self._send({"op": "spawn", "id": request_id, "init": init})
        try:
            return future.result(timeout=SPAWN_TIMEOUT_S)
        except TimeoutError:
            future.cancel()  # if it is spawned after all, _spawned kills it
            raise

    @property
    def pid(self) -> int:
        return self._process.pid

    def exit_status(self) -> int | None:
        """None while the zygote runs, else its exit status (negative: the signal)."""
        return self._process.poll()

    def kill(self, pid: int) -> None:
        """SIGKILL a container and its process group (no-op if it has already exited)."""
        if self._stopping:
            return  # the zygote kills and reaps every container as it stops
        if self.alive:
            with contextlib.suppress(OSError):
                self._send({"op": "kill", "pid": pid})
                return
        # The zygote crashed: its orphans were re-parented, signal them directly.
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Kill every container, wait for them and for the zygote to exit."""
        self._stopping = True
        with contextlib.suppress(OSError):
            self._send({"op": "stop"})
        try:
            self._process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._reader.join(timeout=timeout_s)
        self._socket.close()

    def _send(self, message: dict[str, Any]) -> None:
        with self._send_lock:
            self._socket.send(json.dumps(message).encode())

    def _read(self) -> None:
        while True:
            try:
                data, fds, _flags, _addr = socket.recv_fds(self._socket, MAX_CONTROL_MESSAGE, 2)
            except OSError:
                data, fds = b"", []
            if not data:
                break
            message = json.loads(data)
            if message["op"] == "spawned":
                self._spawned(message, fds)
            elif message["op"] == "exited":
                with self._state_lock:
                    callback = self._on_exit.pop(message["pid"], None)
                if callback is not None:
                    callback(message["status"])
        with self._state_lock:
            self.alive = False
            pending, self._pending = self._pending, {}
            orphans, self._on_exit = self._on_exit, {}
        for future, _ in pending.values():
            future.set_exception(ZygoteGone("the Lambda zygote process exited"))
        if self._stopping:  # it killed every container with SIGKILL before exiting
            for callback in orphans.values():
                callback(signal.SIGKILL)

    def _spawned(self, message: dict[str, Any], fds: list[int]) -> None:
        with self._state_lock:
            future, on_exit = self._pending.pop(message["id"])
            if "pid" in message:
                self._on_exit[message["pid"]] = on_exit
        if "error" in message:
            with contextlib.suppress(InvalidStateError):
                future.set_exception(OSError(message["error"]))
            return
        connection_fd, log_fd = fds
        for fd in fds:  # received fds come without close-on-exec; no other process may hold them
            os.set_inheritable(fd, False)
        os.set_blocking(log_fd, False)
        try:
            future.set_result(Spawned(message["pid"], Connection(connection_fd), log_fd))
        except InvalidStateError:  # the caller gave up waiting: nobody will use this container
            for fd in fds:
                os.close(fd)
            self.kill(message["pid"])


# -- the zygote process ------------------------------------------------------------------------


def main(argv: Sequence[str]) -> NoReturn:
    control = socket.socket(fileno=int(argv[0]))
    settings = json.loads(argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from serverless_testbed.embedded.lambda_runtime import container as lambda_container
    from serverless_testbed.embedded.lambda_runtime import init_cost

    # What a cold start on Lambda would pay for and a fork does not: measured once here,
    # charged to each container's Init Duration (see init_cost.py).
    init_cost.record_boot()
    for module in settings["preload"]:
        try:
            init_cost.preload(module)
        except Exception as error:  # a missing optional preload only costs speed
            print(f"lambda zygote: cannot preload {module}: {error}", file=sys.stderr)
    if settings["boto3_services"] and "boto3" in sys.modules:
        try:
            init_cost.timed_boto3_data(
                lambda: lambda_container.prepare_boto3(settings["boto3_services"])
            )
        except Exception as error:
            print(f"lambda zygote: cannot prepare boto3: {error}", file=sys.stderr)
    init_cost.mark_ready()
    # Containers share the preloaded objects copy-on-write; a garbage collection walking them
    # in a container would copy most of those pages. Frozen objects are never walked.
    gc.freeze()
    ZygoteProcess(control).run()


class ZygoteProcess:
    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.children: set[int] = set()
        self.wakeup_r, self.wakeup_w = os.pipe()
        os.set_blocking(self.wakeup_r, False)
        os.set_blocking(self.wakeup_w, False)
        signal.set_wakeup_fd(self.wakeup_w)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        self.poller = select.poll()
        self.poller.register(self.control, select.POLLIN)
        self.poller.register(self.wakeup_r, select.POLLIN)

    def run(self) -> NoReturn:
        while True:
            for fd, _event in self.poller.poll():
                if fd == self.wakeup_r:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self.wakeup_r, 4096)
                    self.reap()
                elif not self.handle(self.control.recv(MAX_CONTROL_MESSAGE)):
                    self.shut_down()

    def handle(self, data: bytes) -> bool:
        if not data:
            return False
        message = json.loads(data)
        if message["op"] == "spawn":
            self.spawn(message)
        elif message["op"] == "kill":
            if message["pid"] in self.children:
                kill_group(message["pid"])
        elif message["op"] == "stop":
            return False
        return True

    def spawn(self, message: dict[str, Any]) -> None:
        ours, theirs = socket.socketpair()
        log_r, log_w = os.pipe()
        try:
            pid = os.fork()
        except OSError as error:
            self.reply({"op": "spawned", "id": message["id"], "error": str(error)})
            for fd in (log_r, log_w):
                os.close(fd)
            ours.close()
            theirs.close()
            return
        if pid == 0:
            ours.close()
            os.close(log_r)
            self.become_container(theirs, log_w, message["init"])
        self.children.add(pid)
        self.reply({"op": "spawned", "id": message["id"], "pid": pid}, [ours.fileno(), log_r])
        ours.close()
        theirs.close()
        os.close(log_r)
        os.close(log_w)

    def become_container(
        self, channel: socket.socket, log_w: int, init: dict[str, Any]
    ) -> NoReturn:
        try:
            os.setsid()  # its own process group: a kill takes whatever the handler started
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self.poller.unregister(self.control)
            self.control.close()
            os.close(self.wakeup_r)
            os.close(self.wakeup_w)
            os.dup2(log_w, 1)
            os.dup2(log_w, 2)
            os.close(log_w)
            from serverless_testbed.embedded.lambda_runtime import container as lambda_container

            lambda_container.serve(Connection(channel.detach()), init)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(70)

    def reply(self, message: dict[str, Any], fds: Sequence[int] = ()) -> None:
        socket.send_fds(self.control, [json.dumps(message).encode()], list(fds))

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children.discard(pid)
            with contextlib.suppress(OSError):
                self.reply({"op": "exited", "pid": pid, "status": status})

    def shut_down(self) -> NoReturn:
        for pid in list(self.children):
            kill_group(pid)
        for pid in list(self.children):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        os._exit(0)


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:  # not yet a group leader (setsid not run yet): the process alone
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    main(sys.argv[1:])
