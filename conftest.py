"""Test-session set-up: offline kernels, and per-notebook times checked against budgets.

nbval reports one test per cell; here the cells' times are summed per notebook, printed
as a table at the end, written to artifacts/notebook_times.json, and a notebook over its
budget (DESIGN.md section 7) fails the session. A budget is for the reference machine
with its cores free: when other programs used some of them during a notebook (measured
by `tests/busy_machine.py`), its budget grows by all cores / free cores, and the table
says so.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import pytest

from course_lib.tools import authoring
from course_lib.runtime import artifacts_dir

# Every kernel started from this session (nbval's and the grader's) runs offline.
_offline = authoring.offline_environment()
_offline.__enter__()
os.environ.setdefault("MPLBACKEND", "Agg")
# nbval waits for a busy kernel's output instead of failing after 5 s; kernels get the
# cores other programs leave free.
pytest_plugins = ["tests.nbval_patience", "tests.busy_machine"]


def _busy():
    """tests/busy_machine.py, imported by pytest as a plugin (importing it here first would
    keep pytest from rewriting its asserts)."""
    import tests.busy_machine

    return tests.busy_machine

def pytest_configure(config):
    config.addinivalue_line("markers", "builds_cache: trains models that later tests, lessons and exercises "
                                       "load from artifacts/; such tests run first")


def pytest_collection_modifyitems(session, config, items):
    """Tests marked `builds_cache` run before all others (the rest keep their order): day
    18's exercise notebook, graded unsolved in tests/test_exercises.py within 20 s, loads
    the video models tests/test_video_understanding_trained.py trains."""
    items.sort(key=lambda item: item.get_closest_marker("builds_cache") is None)


BUDGETS_S = {"notebooks": 120.0, "solutions": 60.0}
# Lessons an issue allows more (issue 4: the two video-diffusion days, 180 s each;
# issue 15: day 07, which distils, trains a ControlNet and three LoRAs; issue 22: day 15,
# which trains a codec and a token LM).
LESSON_BUDGETS_S = {"day05": 180.0, "day06": 180.0, "day07": 180.0, "day08": 180.0, "day15": 180.0}
_times: dict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        _times[path] += report.duration


def _budget(path: str) -> float | None:
    """The notebook's budget, grown when other programs took some of the cores."""
    folder, name = Path(path).parts[0], Path(path).name
    if folder == "notebooks" and name[:5] in LESSON_BUDGETS_S:
        base = LESSON_BUDGETS_S[name[:5]]
    else:
        base = BUDGETS_S.get(folder)
    return None if base is None else base * _busy().budget_factor(_busy().FILES.get(path))


def _over_budget() -> list[tuple[str, float, float]]:
    _busy().finish_current()        # the last file's load, before any budget is read
    out = []
    for path, seconds in _times.items():
        budget = _budget(path)
        if budget is not None and seconds > budget:
            out.append((path, seconds, budget))
    return out


def pytest_terminal_summary(terminalreporter):
    if not _times:
        return
    tr, busy = terminalreporter, _busy()
    busy.finish_current()
    tr.section("notebook times (budget: lessons 120 s (days 05-08 and 15: 180 s), solutions 60 s)")
    for path, seconds in sorted(_times.items()):
        budget = _budget(path)
        flag = f"  OVER BUDGET ({budget:.0f} s)" if budget and seconds > budget else ""
        load = busy.FILES.get(path)
        if load and (busy.budget_factor(load) > 1 or load.other_at_start >= busy.NOTICEABLE_CORES):
            flag += (f"  (other programs used {load.other:.1f} of {busy.cores()} cores: "
                     f"{load.threads} thread(s), budget {budget:.0f} s)")
        tr.write_line(f"{seconds:7.1f} s  {path}{flag}")
    (artifacts_dir() / "notebook_times.json").write_text(json.dumps(dict(_times), indent=1))


def pytest_sessionfinish(session, exitstatus):
    if _over_budget() and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def root() -> Path:
    return Path(__file__).resolve().parent
