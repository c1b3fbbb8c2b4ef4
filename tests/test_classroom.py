"""Grading a classroom: 20 submissions of the made-up day 99, among them notebooks that
allocate 50 GB, fork in a loop, write endless files, loop forever, flood their output,
burn CPU, call os._exit, delete the files around them or reach for the network. Each is
reported with its reason, the others are graded normally, and no learner's file changes.

Every bad submission is bounded (the fork loop stops at 100 sleeping children, the
writers at 1 GB), so a broken sandbox cannot take the CI machine down."""

import csv
import hashlib
import json
import sys

import nbformat
import pytest

from course_lib.tools import classroom, cli, grading, sandbox
from course_lib.tools.sandbox import Limits
from tests.test_grading import course, learner_copy, solve  # noqa: F401 - the fixture

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox's limits need Linux")

LIMITS = Limits(cell_seconds=20, cpu_seconds=8, memory_mb=3072, output_kb=64, files_mb=20, processes=16)

BAD = {
    "memory_hog": "import numpy as np\nx = np.ones(50 * 1024**3 // 8)",
    "fork_loop": ("import os, time\nfor _ in range(100):\n    if os.fork() == 0:\n"
                  "        time.sleep(30)\n        os._exit(0)\ntime.sleep(5)"),
    "big_file": "with open('big.bin', 'wb') as f:\n    for _ in range(1024):\n        f.write(bytes(2**20))",
    "many_files": ("import time\nfor i in range(1024):\n    with open(f'part{i}.bin', 'wb') as f:\n"
                   "        f.write(bytes(2**20))\n    time.sleep(0.01)"),
    "endless_loop": "import time\nwhile True:\n    time.sleep(0.1)",
    "output_flood": "while True:\n    print('x' * 1000)",
    # CPU time, not wall time: on a busy machine 15 s of wall clock may be under 8 s of CPU
    "cpu_burner": "import time\nwhile time.process_time() < 15:\n    pass",
    "exits": "import os\nos._exit(0)",
    "deletes_files": "import os\nfor name in os.listdir('.'):\n    os.remove(name)",
    "network": "import socket\nsocket.create_connection(('example.com', 80), timeout=3)",
}
EXPECT = {   # submission -> (text in the report's errors, checks passed)
    "memory_hog": ("MemoryError", 2),
    "fork_loop": ("started more than 16 processes", 0),
    "big_file": ("File too large", 2),
    "many_files": ("wrote more than 20 MB of files", 0),
    "endless_loop": ("did not finish within 20 s", 0),
    "output_flood": ("printed more than 64 kB of output", 0),
    "cpu_burner": ("used more than 8 s of CPU time", 0),
    "exits": ("kernel died", 0),
    "deletes_files": ("deleted", 2),
    "network": ("cell 1 raised", 2),
}


def submission(course, name, code=None, solved=True, at=1):
    """The day-99 exercise (solved or not) with `code` as an extra cell at index `at`
    (1: before the solutions; 3: after them, before the checks)."""
    def edit(cells):
        if solved:
            solve(cells)
        if code is not None:
            cells.insert(at, nbformat.v4.new_code_cell(code))
    folder = course / "submissions"
    folder.mkdir(exist_ok=True)
    return learner_copy(course, edit, name=f"submissions/{name}.ipynb")


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_twenty_submissions_each_reported_with_its_reason(course, monkeypatch):
    for name, code in BAD.items():
        submission(course, name, code)
    for i in range(4):
        submission(course, f"good_{i}")
    for i in range(3):
        submission(course, f"unsolved_{i}", solved=False)
    for i in range(3):
        submission(course, f"buggy_{i}", "add = lambda a, b: a - b", at=3)   # a bug after the solution
    folder = course / "submissions"
    before = digest(folder)
    assert len(before) == 20

    lines = []
    reports = classroom.grade_many("99", [folder], out=course / "grades", limits=LIMITS, jobs=2, root=course,
                                   log=lines.append)
    assert digest(folder) == before, "every learner's file must stay byte-identical"
    by_name = {p.split("/")[-1].removesuffix(".ipynb"): r for p, r in ((r["notebook"], r) for r in reports)}
    assert len(by_name) == 20

    for name, (needle, passed) in EXPECT.items():
        report = by_name[name]
        text = " ".join(report["errors"] + [c["message"] for c in report["checks"]])
        assert needle in text, f"{name}: expected {needle!r} in {report['errors']}"
        assert report["passed"] == passed, f"{name}: {report['passed']} checks passed, expected {passed}"
    assert by_name["fork_loop"]["stopped"] and by_name["output_flood"]["stopped"]
    assert "mine.ipynb" not in str(by_name["deletes_files"]["files_deleted"])
    assert by_name["deletes_files"]["files_deleted"] == ["deletes_files.ipynb"]
    assert by_name["big_file"]["files_written"] == ["big.bin"]
    for i in range(4):
        assert by_name[f"good_{i}"]["ok"] and by_name[f"good_{i}"]["errors"] == []
    for i in range(3):
        assert by_name[f"unsolved_{i}"]["passed"] == 0 and by_name[f"unsolved_{i}"]["errors"] == []
        buggy = by_name[f"buggy_{i}"]
        assert [c["passed"] for c in buggy["checks"]] == [False, True], buggy

    rows = list(csv.DictReader(open(course / "grades" / "summary.csv")))
    assert len(rows) == 20 and set(rows[0]) == set(classroom.SUMMARY_FIELDS)
    assert {json.loads(p.read_text())["notebook"] for p in (course / "grades").glob("*.json")} == \
        {r["notebook"] for r in rows}
    # ok means every check passes: the good four, and the bad ones whose trouble came
    # before the solutions and left them intact (memory, big file, deletion, network).
    n_ok = 4 + sum(passed == 2 for _, passed in EXPECT.values())
    assert sum(r["ok"] for r in reports) == n_ok == 8
    assert any(f"{n_ok}/20 submissions pass every check" in line for line in lines), lines[-1]


def test_limits_are_checked_and_described():
    with pytest.raises(ValueError, match="memory_mb must be a positive int"):
        Limits(memory_mb=0)
    assert "4096 MB memory" in Limits().describe()


def test_watchdog_counts_what_was_written_not_what_was_there(tmp_path):
    """A file at the per-file cap beside files that were there before is within the
    folder budget (the CI machine once stopped a submission for it); one byte more is not."""
    import subprocess
    import time

    (tmp_path / "notebook.ipynb").write_bytes(bytes(3 * 2**20))
    sleeper = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        dog = sandbox.Watchdog(sleeper.pid, tmp_path, Limits(files_mb=1), interval=0.02)
        dog.start()
        (tmp_path / "big.bin").write_bytes(bytes(2**20))          # exactly the cap
        time.sleep(0.5)
        assert dog.reason is None and sleeper.poll() is None
        (tmp_path / "more.bin").write_bytes(b"x")
        sleeper.wait(timeout=5)
        assert dog.reason == "wrote more than 1 MB of files"
        dog.stop()
    finally:
        sleeper.kill()


def test_classroom_cli_writes_reports_and_exit_codes(course, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(grading, "project_root", lambda: course)
    monkeypatch.setattr(cli, "project_root", lambda: course)
    monkeypatch.setattr(classroom, "project_root", lambda: course)
    good = submission(course, "good")
    assert cli.main(["check", "99", str(good), str(good), "--out", str(tmp_path / "g")]) == 0
    names = sorted(p.name for p in (tmp_path / "g").iterdir())
    assert names == ["good-2.json", "good.json", "summary.csv"], "two reports of one name must not collide"
    bad = submission(course, "bad", "import os\nos._exit(0)")
    assert cli.main(["check", "99", str(course / "submissions"), "--out", str(tmp_path / "h")]) == 1
    assert "1/2 submissions pass every check" in capsys.readouterr().out
    assert cli.main(["check", "99", str(tmp_path / "empty"), "--out", str(tmp_path / "i")]) == 2
    assert cli.main(["check", "99", str(bad), "--memory-mb", "0"]) == 2
    assert "--memory-mb must be positive" in capsys.readouterr().err
