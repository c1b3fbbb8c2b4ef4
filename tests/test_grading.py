"""The grader on a small made-up day: correct, buggy, broken and missing notebooks."""

import hashlib
import json

import nbformat
import pytest

from course_lib.tools import authoring, cli, grading
from tests.test_authoring import SOLUTION, write_day


@pytest.fixture()
def course(tmp_path):
    """A course root with day 99: its solution source and the generated exercise."""
    path = write_day(tmp_path)
    (tmp_path / "exercises").mkdir()
    (tmp_path / "exercises" / "day99_demo.ipynb").write_text(authoring.exercise_text(path))
    return tmp_path


def learner_copy(course, edit=None, name="mine.ipynb"):
    """The exercise notebook with `edit(cells)` applied, saved where a learner would."""
    nb = nbformat.read(course / "exercises" / "day99_demo.ipynb", as_version=4)
    if edit:
        edit(nb.cells)
    out = course / name
    nbformat.write(nb, out)
    return out


def solve(cells):
    cells[1].source = cells[1].source.replace("# YOUR CODE HERE\n    raise NotImplementedError()", "return a + b")
    cells[2].source = cells[2].source.replace(
        "# YOUR CODE HERE\n        raise NotImplementedError()", "return [k * v for v in x]")


def grade(course, path, **kw):
    return grading.grade("99", path, root=course, **kw)


def test_solution_scores_full(course):
    report = grade(course, learner_copy(course, solve))
    assert report.ok and (report.passed, report.total) == (2, 2), report.to_text()
    assert report.errors == []
    assert "2/2 checks passed" in report.to_text()


def test_unsolved_exercise_fails_every_check_with_a_hint(course):
    report = grade(course, course / "exercises" / "day99_demo.ipynb")
    assert (report.passed, report.total) == (0, 2)
    assert all("not solved yet" in c.message for c in report.checks)
    assert report.errors == [], "the unsolved notebook itself must run end to end"


def test_plausible_bug_fails_the_right_check(course):
    def buggy(cells):
        solve(cells)
        cells[1].source = cells[1].source.replace("return a + b", "return a - b")
    report = grade(course, learner_copy(course, buggy))
    first, second = report.checks
    assert not first.passed and "add(2, 3) must be 5" in first.message
    assert second.passed
    assert not report.ok


def test_edited_check_cannot_pass_itself(course):
    def cheat(cells):
        cells[3].source = "# Check: add sums two numbers\nassert True"
    report = grade(course, learner_copy(course, cheat))
    assert not report.checks[0].passed


def test_syntax_error_and_earlier_exception_are_reported(course):
    def broken(cells):
        solve(cells)
        cells[1].source = "def add(a, b)\n    return a + b"   # missing colon
        cells.insert(1, nbformat.v4.new_code_cell("1 / 0"))
    report = grade(course, learner_copy(course, broken))
    assert any("ZeroDivisionError" in e for e in report.errors)
    assert any("SyntaxError" in e for e in report.errors)
    add_check, scale_check = report.checks
    assert not add_check.passed and "NameError" in add_check.message
    assert scale_check.passed


def test_timeout_is_reported(course):
    def endless(cells):
        cells.insert(1, nbformat.v4.new_code_cell("while True:\n    pass"))
    report = grade(course, learner_copy(course, endless), timeout=3)
    assert any("did not finish within 3 s" in e for e in report.errors)
    assert all(not c.passed and "not run" in c.message for c in report.checks)


def test_dead_kernel_is_reported(course):
    def crash(cells):
        cells.insert(1, nbformat.v4.new_code_cell("import os\nos._exit(1)"))
    report = grade(course, learner_copy(course, crash))
    assert any("kernel died" in e for e in report.errors)
    assert not report.ok


def test_missing_and_unreadable_files(course):
    report = grade(course, course / "nope.ipynb")
    assert report.errors == [f"no notebook at {course / 'nope.ipynb'}"] and not report.ok
    (course / "junk.ipynb").write_text("{not json")
    assert "cannot read" in grade(course, course / "junk.ipynb").errors[0]


def test_removed_check_cell_is_reported(course):
    report = grade(course, learner_copy(course, lambda cells: cells.pop()))
    assert "1 check cells" in report.errors[0] and "has 2" in report.errors[0]


def test_learner_file_is_never_modified(course):
    path = learner_copy(course, solve)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    grade(course, path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_unknown_day_is_a_clear_error(course):
    with pytest.raises(ValueError, match="no exercises for day 42; known: day99_demo"):
        grading.grade("day42", root=course)
    with pytest.raises(ValueError, match="day must look like"):
        grading.grade("audio", root=course)


def test_cli_json_and_exit_codes(course, monkeypatch, capsys):
    monkeypatch.setattr(grading, "project_root", lambda: course)
    assert cli.main(["check", "day99", str(learner_copy(course, solve)), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["passed"], data["total"], data["ok"]) == (2, 2, True)
    assert [c["name"] for c in data["checks"]] == ["add sums two numbers", "Scaler multiplies every element"]
    assert cli.main(["check", "99"]) == 1                       # the unsolved exercise
    assert "0/2 checks passed" in capsys.readouterr().out
    assert cli.main(["check", "99", str(course / "nope.ipynb")]) == 2
    assert cli.main(["check", "7"]) == 2
