"""Grading a classroom: many submissions of one day, each in its own process and kernel,
all under the same limits (`tools.sandbox.Limits`).

    course check day03 submissions/                     # every .ipynb below the folder
    course check day03 alice.ipynb bob.ipynb --jobs 2 --out grades/

Each submission is graded by a separate `python -m course_lib.tools.grading` process in
a temporary copy, so one that crashes, loops or floods its output is reported with the
reason while the others are graded normally, and no learner's file is written.

Results: `<out>/<submission>.json` (the report `course check --json` prints, with the
limits and the files the notebook wrote or deleted in its copy) and `<out>/summary.csv`
with one row per submission: notebook, passed, total, ok, stopped, errors.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

from course_lib.runtime import project_root
from course_lib.tools.sandbox import Limits

SUMMARY_FIELDS = ("notebook", "passed", "total", "ok", "stopped", "errors")


def find_submissions(paths: Iterable[str | Path]) -> list[Path]:
    """Notebooks named directly, and every .ipynb below each folder (checkpoints skipped),
    in a stable order."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        else:
            found.append(path)
    return found


def _report_name(path: Path, taken: set[str]) -> str:
    """A file name for the submission's report, unique within this run."""
    base = path.stem or "submission"
    name, n = f"{base}.json", 1
    while name in taken:
        n += 1
        name = f"{base}-{n}.json"
    taken.add(name)
    return name


def _code_cells(path: Path) -> int:
    try:
        import nbformat
        return sum(c.cell_type == "code" for c in nbformat.read(path, as_version=4).cells)
    except Exception:  # noqa: BLE001 - the grader reports unreadable files itself
        return 1


def grade_one(day: str, path: Path, out: Path, limits: Limits, root: Path) -> dict:
    """Grade `path` in a separate process; return its report (also written to `out`).
    A grader process that dies or overruns every cell's time gets a report saying so."""
    command = [sys.executable, "-m", "course_lib.tools.grading", day, str(path), "--out", str(out),
               "--root", str(root)]
    for name, value in asdict(limits).items():
        command += [f"--{name.replace('_', '-')}", str(value)]
    wall = limits.cell_seconds * (_code_cells(path) + 2) + 60       # every cell at its limit, and more
    problem = None
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=wall)
        if done.returncode != 0 or not out.exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            problem = f"the grader process failed (exit {done.returncode}): {tail[0]}"
    except subprocess.TimeoutExpired:
        problem = f"grading took longer than {wall} s and was stopped"
    if problem is not None:
        report = {"day": day, "notebook": str(path), "checks": [], "errors": [problem], "stopped": problem,
                  "files_written": [], "files_deleted": [], "limits": asdict(limits),
                  "passed": 0, "total": 0, "ok": False}
        out.write_text(json.dumps(report, indent=2))
        return report
    return json.loads(out.read_text())


def grade_many(day: str, paths: Iterable[str | Path], out: str | Path = "grades", limits: Limits | None = None,
               jobs: int = 1, root: Path | None = None,
               log: Callable[[str], None] = print) -> list[dict]:
    """Grade every submission in `paths` (files or folders); write one JSON per submission
    and summary.csv into `out`; return the reports in submission order."""
    limits = limits or Limits()
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive int; got {jobs!r}")
    root = Path(root or project_root())
    submissions = find_submissions(paths)
    if not submissions:
        raise ValueError("no notebooks found in the given paths")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    targets = [(path, out / _report_name(path, taken)) for path in submissions]
    log(f"grading {len(targets)} submission(s) of {day} ({limits.describe()}; {jobs} at a time)")

    def run(target):
        path, report_path = target
        report = grade_one(day, path, report_path, limits, root)
        status = "ok" if report["ok"] else (f"stopped: {report['stopped']}" if report.get("stopped")
                                            else f"{report['passed']}/{report['total']}")
        log(f"  {path}: {report['passed']}/{report['total']} checks  [{status}]")
        return report

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        reports = list(pool.map(run, targets))
    with open(out / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=SUMMARY_FIELDS)
        writer.writeheader()
        for report in reports:
            writer.writerow({"notebook": report["notebook"], "passed": report["passed"], "total": report["total"],
                             "ok": report["ok"], "stopped": report.get("stopped") or "",
                             "errors": " | ".join(report["errors"])})
    log(f"{sum(r['ok'] for r in reports)}/{len(reports)} submissions pass every check; "
        f"reports in {out}/ (one JSON each, summary.csv)")
    return reports
