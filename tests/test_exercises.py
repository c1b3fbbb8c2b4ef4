"""Every day's exercise notebook: runs unsolved within budget, and each check bites.

That every check *passes* on the worked solution is proven by nbval executing
`solutions/` (a failing check cell fails that run); day 01 is also graded end to end
through `course check`, as a learner would.
"""

import time
from pathlib import Path

import pytest

from course_lib.tools import cli, grading

ROOT = Path(__file__).resolve().parent.parent
STEMS = sorted(p.stem for p in (ROOT / "solutions").glob("day*.py"))
UNSOLVED_BUDGET_S = 20.0
MIN_EXERCISES = 3


@pytest.mark.parametrize("stem", STEMS)
def test_unsolved_exercise_runs_and_every_check_fails(stem):
    start = time.perf_counter()
    report = grading.grade(stem, ROOT / "exercises" / f"{stem}.ipynb", root=ROOT)
    elapsed = time.perf_counter() - start
    assert report.errors == [], f"the unsolved notebook must run end to end: {report.errors}"
    assert report.total >= MIN_EXERCISES, f"{stem} has only {report.total} checks"
    passing = [c.name for c in report.checks if c.passed]
    assert not passing, f"checks that pass without a solution cannot fail: {passing}"
    assert all("not solved yet" in c.message for c in report.checks), report.to_text()
    assert elapsed <= UNSOLVED_BUDGET_S, f"unsolved {stem} took {elapsed:.1f} s (budget {UNSOLVED_BUDGET_S} s)"
    print(f"{stem}: unsolved exercise graded in {elapsed:.1f} s")


def test_course_check_day01_on_the_solution_passes_every_check(capsys):
    solution = ROOT / "solutions" / f"{grading.resolve_day('day01', ROOT)}.ipynb"
    assert cli.main(["check", "day01", str(solution)]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and "checks passed" in out, out
