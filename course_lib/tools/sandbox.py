"""Limits on a learner's notebook while `course check` runs it.

Trust model. Grading runs the student's code. These limits contain *mistakes and
mischief*: an endless loop, a 50 GB allocation, a fork loop, a file that never stops
growing, a print in a loop, `os._exit`, deleting the files around it. They do not stop
a determined attacker: the code runs as the grading user, so it can read what that user
can read and change files that user may write outside its working folder. To grade
untrusted code, run `course check` inside a container (or as a separate, unprivileged
user) with no network and a read-only view of the course.

What is enforced, and how (Linux; elsewhere only the wall time per cell and the output
cap apply):

| limit | default | how |
|---|---|---|
| wall time per cell | 120 s | the notebook client's cell timeout |
| CPU time, all processes together | 600 s | `Watchdog` sums utime + stime of the kernel's session; RLIMIT_CPU as a backstop |
| memory per process | 4096 MB | RLIMIT_AS: an allocation beyond it raises MemoryError in the notebook |
| output of the notebook | 1024 kB | `CappedOutput` counts every output message; past the cap the kernel is stopped |
| bytes written | 100 MB | RLIMIT_FSIZE on any one file; `Watchdog` on the whole working folder |
| processes at once | 32 | `Watchdog` counts the kernel's session; RLIMIT_NPROC too when not root |
| network | refused | the offline guard (`tools/offline/sitecustomize.py`), loopback only |

The kernel runs in a fresh temporary folder holding a copy of the notebook (also its
TMPDIR); the learner's file is only read. A breach stops the whole session (the kernel
and everything it started) and the report says which limit was crossed.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Limits:
    """What one notebook may use while it is graded (see the module docstring)."""
    cell_seconds: int = 120
    cpu_seconds: int = 600
    memory_mb: int = 4096
    output_kb: int = 1024
    files_mb: int = 100
    processes: int = 32

    def __post_init__(self):
        for name in ("cell_seconds", "cpu_seconds", "memory_mb", "output_kb", "files_mb", "processes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int; got {value!r}")

    def describe(self) -> str:
        return (f"{self.cell_seconds} s per cell, {self.cpu_seconds} s CPU, {self.memory_mb} MB memory, "
                f"{self.output_kb} kB output, {self.files_mb} MB written, {self.processes} processes")


def apply_rlimits(pid: int, limits: Limits) -> None:
    """Set the kernel-enforced limits on process `pid` (inherited by what it starts)."""
    import resource

    mb = 1024 * 1024
    resource.prlimit(pid, resource.RLIMIT_AS, (limits.memory_mb * mb,) * 2)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (limits.files_mb * mb,) * 2)
    # The watchdog stops the session at cpu_seconds with a clear reason; this is the backstop.
    resource.prlimit(pid, resource.RLIMIT_CPU, (limits.cpu_seconds + 5, limits.cpu_seconds + 10))
    if os.geteuid() != 0:        # root is exempt from RLIMIT_NPROC; the watchdog covers it
        mine = sum(1 for s in processes() if s.uid == os.getuid())
        resource.prlimit(pid, resource.RLIMIT_NPROC, (mine + limits.processes,) * 2)


@dataclass
class ProcessStat:
    pid: int
    session: int
    cpu_seconds: float
    uid: int = -1
    parent: int = 0


def processes() -> list[ProcessStat]:
    """Every process's parent, session and CPU time (utime + stime + waited-for
    children), from /proc (Linux); empty where there is no /proc."""
    if not os.path.isdir("/proc"):
        return []
    out = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
            uid = entry.stat().st_uid
        except OSError:
            continue                                    # the process ended meanwhile
        fields = raw[raw.rindex(")") + 2:].split()      # after "pid (comm) "
        parent, session = int(fields[1]), int(fields[3])
        ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))   # utime stime cutime cstime
        out.append(ProcessStat(int(entry.name), session, ticks / CLOCK_TICKS, uid, parent))
    return out


def session_processes(session: int) -> list[ProcessStat]:
    """The processes of session `session` (the kernel is its leader: jupyter_client starts
    kernels with start_new_session=True, and what the kernel forks inherits it)."""
    return [s for s in processes() if s.session == session]


def folder_bytes(folder: Path) -> int:
    """Total size of the files below `folder` (0 when it is gone)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


class Watchdog(threading.Thread):
    """Polls the kernel's session every `interval` seconds and stops all of it (SIGKILL
    to every process of the session) when it starts more than `limits.processes`
    processes, uses more than `limits.cpu_seconds` of CPU, or writes more than
    `limits.files_mb` into `workdir`: the folder's growth over its size when the
    watchdog was made, so one file at RLIMIT_FSIZE's cap (exactly `files_mb`) beside the
    notebook is not a breach. `reason` says which, or stays None."""

    def __init__(self, kernel_pid: int, workdir: Path, limits: Limits, interval: float = 0.1):
        super().__init__(daemon=True)
        self.kernel_pid, self.workdir, self.limits, self.interval = kernel_pid, workdir, limits, interval
        self.reason: str | None = None
        self.peak_processes = 0
        self.cpu_seconds = 0.0
        self.start_bytes = folder_bytes(workdir)
        self._stop_event = threading.Event()

    def breach(self, reason: str) -> None:
        """Stop the session now, recording why (the first reason wins)."""
        if self.reason is None:
            self.reason = reason
        for _ in range(3):                   # processes forked while we kill: go again
            alive = session_processes(self.kernel_pid)
            if not alive:
                break
            for s in alive:
                try:
                    os.kill(s.pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.05)

    def run(self) -> None:
        limit_bytes = self.limits.files_mb * 1024 * 1024
        tick = 0
        while not self._stop_event.wait(self.interval):
            procs = session_processes(self.kernel_pid)
            self.peak_processes = max(self.peak_processes, len(procs))
            self.cpu_seconds = max(self.cpu_seconds, sum(s.cpu_seconds for s in procs))
            if len(procs) > self.limits.processes:
                self.breach(f"started more than {self.limits.processes} processes at once "
                            "(a fork or multiprocessing loop?)")
            elif self.cpu_seconds > self.limits.cpu_seconds:
                self.breach(f"used more than {self.limits.cpu_seconds} s of CPU time")
            elif tick % 5 == 0 and folder_bytes(self.workdir) - self.start_bytes > limit_bytes:
                self.breach(f"wrote more than {self.limits.files_mb} MB of files")
            tick += 1

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


def snapshot(folder: Path) -> dict[str, int]:
    """{relative path: size} of every file below `folder`."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            try:
                out[os.path.relpath(path, folder)] = os.lstat(path).st_size
            except OSError:
                pass
    return out
