"""A pytest plugin: on a busy machine, the kernels of a test file get the cores that are
free (the root conftest loads it; `-p tests.busy_machine` loads it elsewhere).

torch splits each op over one thread per core, and the op ends when its slowest thread
does. When another program keeps a core busy, the thread on that core runs only in the
scheduler's slices, and every op waits for it. Measured on the 2-core reference machine
with one core busy: 100 steps of day 04's DiT in a kernel started by nbval took 152 s on
two threads and 8 s on one (7 s on two when idle); day 06's lesson from an empty
artifacts/ did not finish in 15 minutes on two threads, and took 213 s on one (208 s
idle on one).

So the plugin keeps measuring how many cores other programs use, in windows of at least
0.3 s closed between test items (between a notebook's cells, say). Before each test
file, before nbval starts a notebook's kernel, it reads the latest window: from a
quarter of a core up, the file runs on the free cores (at least one), torch in this
process and OMP_NUM_THREADS for the kernels and subprocesses it starts; a value the user
set is never raised. The conftest's budget table reads `FILES`: the threads chosen, and
the cores other programs used over each file's whole run.
Linux only (it reads /proc); elsewhere nothing changes.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from course_lib.tools.sandbox import CLOCK_TICKS, processes

PROBE_S = 0.3          # the shortest window a load is read from
NOTICEABLE_CORES = 0.25


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _busy_cpu_seconds() -> float | None:
    """CPU seconds every program has used since boot (user nice system irq softirq steal)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def _own_cpu_seconds() -> float:
    """CPU seconds used by this process and everything it started (alive, or waited for)."""
    table = processes()
    children: dict[int, list] = {}
    for p in table:
        children.setdefault(p.parent, []).append(p)
    me = next((p for p in table if p.pid == os.getpid()), None)
    total, todo = 0.0, [me] if me else []
    while todo:
        p = todo.pop()
        total += p.cpu_seconds
        todo.extend(children.get(p.pid, []))
    return total


class CpuMeter:
    """Cores used by other programs (not this process and its children) since `start()`."""

    def start(self) -> "CpuMeter":
        self.t0, self.busy0, self.own0 = time.perf_counter(), _busy_cpu_seconds(), _own_cpu_seconds()
        return self

    def other_cores(self) -> float | None:
        busy = _busy_cpu_seconds()
        if busy is None or self.busy0 is None:
            return None
        seconds = time.perf_counter() - self.t0
        other = (busy - self.busy0) - (_own_cpu_seconds() - self.own0)
        return max(0.0, other / seconds) if seconds > 0 else None


def threads_for(other: float | None, n_cores: int, default: int) -> int:
    """Threads for a kernel when other programs use `other` cores out of `n_cores`."""
    if other is None or other < NOTICEABLE_CORES:
        return default
    return max(1, min(default, n_cores - math.ceil(other - NOTICEABLE_CORES)))


@dataclass
class FileLoad:
    threads: int            # OMP_NUM_THREADS its kernels got
    other_at_start: float   # cores other programs used in the latest window before it
    other: float = 0.0      # cores other programs used, averaged over its whole run


FILES: dict[str, FileLoad] = {}
_current: dict = {"path": None, "meter": None}                   # the file running now
_window: dict = {"meter": None, "latest": None, "threads": None}  # the load measured last
_user_threads = os.environ.get("OMP_NUM_THREADS")
_torch_default: list[int] = []        # torch's thread count before the plugin changed it


def _default_threads() -> int:
    import torch

    if not _torch_default:
        _torch_default.append(torch.get_num_threads())
    if _user_threads and _user_threads.isdigit():
        return int(_user_threads)
    return _torch_default[0]


def finish_current() -> None:
    path, meter = _current["path"], _current["meter"]
    if path is not None and meter is not None:
        other = meter.other_cores()
        FILES[path].other = other if other is not None else 0.0
    _current.update(path=None, meter=None)


def _tick() -> None:
    """Close the measuring window once it is PROBE_S long: its reading becomes the latest
    load, and a new window opens. Called before every test item (every notebook cell)."""
    window = _window["meter"]
    if window is None:
        _window["meter"] = CpuMeter().start()
    elif time.perf_counter() - window.t0 >= PROBE_S:
        other = window.other_cores()
        _window.update(latest=other if other is not None else 0.0, meter=CpuMeter().start())


def _apply(threads: int, default: int) -> None:
    import torch

    if threads != default:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    elif _user_threads is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = _user_threads
    torch.set_num_threads(threads)


def _begin(path: str) -> None:
    finish_current()
    _tick()
    if _window["latest"] is None:          # the first file: nothing measured yet
        time.sleep(PROBE_S)
        _tick()
    other, default = _window["latest"], _default_threads()
    threads = threads_for(other, cores(), default)
    if threads != _window["threads"]:
        _apply(threads, default)
        _window["threads"] = threads
    FILES[path] = FileLoad(threads, other)
    _current.update(path=path, meter=CpuMeter().start())


def budget_factor(load: FileLoad | None, n_cores: int | None = None) -> float:
    """How much longer than on an idle machine a file may take: all cores / the cores
    left free by other programs (1 below a quarter core, at most the core count)."""
    n_cores = n_cores or cores()
    if load is None or load.other < NOTICEABLE_CORES:
        return 1.0
    return min(float(n_cores), n_cores / max(1.0, n_cores - load.other))


@pytest.hookimpl(tryfirst=True)        # before nbval's set-up starts the kernel
def pytest_runtest_setup(item):
    path = item.nodeid.split("::", 1)[0]
    if not os.path.isdir("/proc"):
        return
    if path != _current["path"]:
        _begin(path)
    else:
        _tick()


def pytest_sessionfinish(session, exitstatus):
    finish_current()
