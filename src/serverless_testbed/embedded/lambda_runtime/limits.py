"""A container's memory size made real: a memory limit and a CPU share, as Lambda gives them.

Lambda kills an execution environment whose memory passes its MemorySize, and gives it CPU in
proportion to its memory: 1,769 MB is one full vCPU, less memory a proportional share. Here
each container gets its own cgroup (v1: ``memory`` and ``cpu`` controllers) where the host
lets this process make one (as root on a cgroup v1 host it does):

- memory: ``memory.limit_in_bytes`` = MemorySize minus what the container already had resident
  when it was forked (the zygote's pages are charged to the zygote's cgroup, not to the
  container's, yet Max Memory Used counts them), so the kernel's OOM killer sends SIGKILL when
  the container's resident memory would pass MemorySize;
- CPU: ``cpu.cfs_quota_us`` = ``cpu.cfs_period_us`` x MemorySize / 1,769.

Where a controller is not available and CPU scaling was asked for, the runtime says so in
each cold start's log ("[testbed] CPU not scaled on this host: ..."), so no report shows a
curve that is not there.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
FULL_VCPU_MB = 1769  # Lambda: at 1,769 MB a function has the equivalent of one vCPU
CFS_PERIOD_US = 100_000
MIN_QUOTA_US = 1000  # the kernel's lower bound for cpu.cfs_quota_us
MEBIBYTE = 1 << 20


def cpu_quota_us(memory_mb: int) -> int:
    """The CFS quota per 100 ms period that gives ``memory_mb`` its share of a vCPU."""
    return max(MIN_QUOTA_US, round(CFS_PERIOD_US * memory_mb / FULL_VCPU_MB))


@dataclass(frozen=True)
class Controller:
    name: str  # "memory" or "cpu"
    base: Path | None  # this runtime's cgroup directory, None when unavailable
    reason: str  # why unavailable ("" when available)


@dataclass(frozen=True)
class ContainerCgroups:
    """A container's cgroup directories; the container joins them itself, before its init."""

    memory: Path | None
    cpu: Path | None

    def join(self, pid: int, memory_mb: int) -> None:
        """Called in the container process: cap its memory, then move it into the groups."""
        if self.memory is not None:
            resident = _resident_bytes()
            limit = max(memory_mb * MEBIBYTE - resident, MEBIBYTE)
            (self.memory / "memory.limit_in_bytes").write_text(str(limit))
            swap_limit = self.memory / "memory.memsw.limit_in_bytes"
            if swap_limit.exists():  # no swapping past the limit: Lambda has no swap
                with contextlib.suppress(OSError):
                    swap_limit.write_text(str(limit))
            (self.memory / "cgroup.procs").write_text(str(pid))
        if self.cpu is not None:
            (self.cpu / "cgroup.procs").write_text(str(pid))

    def remove(self) -> None:
        for path in (self.memory, self.cpu):
            if path is not None:
                with contextlib.suppress(OSError):
                    path.rmdir()  # fails while a process is still in it: it is gone by now


class HostLimits:
    """This runtime's cgroups on the host, made once; one child cgroup per container."""

    def __init__(self, *, limit_memory: bool = True, scale_cpu: bool = False) -> None:
        name = f"serverless-testbed-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.memory = _controller("memory", name, limit_memory)
        self.cpu = _controller("cpu", name, scale_cpu)
        self._wanted = {"memory": limit_memory, "cpu": scale_cpu}

    @property
    def notes(self) -> list[str]:
        """What a cold start's log says about what was asked for and the host does not allow.

        Only when CPU scaling was asked for (an experiment on memory sizes): the memory limit
        is on by default, and a note in every function's log on every host without cgroup v1
        would change the log lines the rest of the product and its tests read."""
        notes: list[str] = []
        if not self._wanted["cpu"]:
            return notes
        if self._wanted["memory"] and self.memory.base is None:
            notes.append(f"[testbed] memory not limited on this host: {self.memory.reason}")
        if self._wanted["cpu"] and self.cpu.base is None:
            notes.append(f"[testbed] CPU not scaled on this host: {self.cpu.reason}")
        return notes

    def for_container(self, container_id: str, memory_mb: int) -> ContainerCgroups:
        memory = cpu = None
        if self.memory.base is not None:
            memory = self.memory.base / container_id
            with contextlib.suppress(OSError):
                memory.mkdir()
        if self.cpu.base is not None:
            cpu = self.cpu.base / container_id
            with contextlib.suppress(OSError):
                cpu.mkdir()
                (cpu / "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
                (cpu / "cpu.cfs_quota_us").write_text(str(cpu_quota_us(memory_mb)))
        return ContainerCgroups(memory, cpu)

    def close(self) -> None:
        for controller in (self.memory, self.cpu):
            if controller.base is None:
                continue
            for child in controller.base.iterdir():
                if child.is_dir():
                    with contextlib.suppress(OSError):
                        child.rmdir()
            with contextlib.suppress(OSError):
                controller.base.rmdir()


def _controller(name: str, group_name: str, enabled: bool) -> Controller:
    if not enabled:
        return Controller(name, None, "turned off")
    mount = CGROUP_ROOT / name
    if not (mount / "cgroup.procs").exists():
        return Controller(name, None, f"no cgroup v1 {name} controller at {mount}")
    own = _own_cgroup(name)
    base = mount / own.lstrip("/") / group_name
    try:
        base.mkdir()
    except OSError as error:
        return Controller(name, None, f"cannot create a cgroup under {base.parent}: {error}")
    return Controller(name, base, "")


def _own_cgroup(controller: str) -> str:
    """This process's cgroup path for a v1 controller (from /proc/self/cgroup)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return path
    return "/"


def _resident_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def cgroup_of(pid: int, controller: str) -> Path | None:
    """A process's cgroup directory for a v1 controller (None if it has none or is gone)."""
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return CGROUP_ROOT / controller / path.lstrip("/")
    return None
