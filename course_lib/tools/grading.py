"""The grader behind `course check DAY [PATH]`.

It executes a *copy* of the learner's notebook (their file is never written), with the
check cells taken from `solutions/` so an edited check cannot pass itself, and reports
one line per check: pass or fail with the assertion message.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from course_lib.tools import authoring
from course_lib.runtime import project_root

NOT_RUN = "not run: an earlier cell stopped the notebook"


@dataclass
class CheckResult:
    name: str
    passed: bool
    message: str = ""
    cell: int | None = None   # index of the cell in the notebook


@dataclass
class Report:
    day: str
    notebook: str
    checks: list[CheckResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)   # problems outside the check cells

    @property
    def passed(self) -> int:
        return sum(c.passed for c in self.checks)

    @property
    def total(self) -> int:
        return len(self.checks)

    @property
    def ok(self) -> bool:
        """All checks pass (and there is at least one)."""
        return self.total > 0 and self.passed == self.total

    def to_json(self) -> str:
        data = asdict(self)
        data.update(passed=self.passed, total=self.total, ok=self.ok)
        return json.dumps(data, indent=2)

    def to_text(self) -> str:
        lines = [f"{self.day}: {self.notebook}"]
        lines += [f"  ! {e}" for e in self.errors]
        for c in self.checks:
            mark = "PASS" if c.passed else "FAIL"
            lines.append(f"  {mark}  {c.name}" + ("" if c.passed else f"\n        {c.message}"))
        lines.append(f"{self.passed}/{self.total} checks passed")
        return "\n".join(lines)


def resolve_day(day: str, root: Path) -> str:
    """'day01', '01', '1' or 'day01_audio' -> the stem 'day01_audio' found in solutions/."""
    key = str(day).lower().removeprefix("day").split("_")[0]
    if not key.isdigit():
        raise ValueError(f"day must look like 'day01' or '1'; got {day!r}")
    matches = sorted((root / "solutions").glob(f"day{int(key):02d}_*.py"))
    if not matches:
        known = ", ".join(p.stem for p in sorted((root / "solutions").glob("day*.py"))) or "none"
        raise ValueError(f"no exercises for day {int(key):02d}; known: {known}")
    return matches[0].stem


def _error_message(outputs) -> str | None:
    """The error a cell raised, as 'Name: message', or None when it ran cleanly."""
    for out in outputs:
        if out.get("output_type") != "error":
            continue
        ename, evalue = out.get("ename", "Error"), out.get("evalue", "")
        if ename == "NotImplementedError":
            return "NotImplementedError: the exercise is not solved yet (its cell still raises)"
        if ename == "AssertionError" and not evalue:
            # A bare assert: show the failing line from the traceback instead.
            frames = [l for l in out.get("traceback", []) if "assert" in l]
            evalue = _strip_ansi(frames[-1]).strip() if frames else "assertion failed"
        return f"{ename}: {evalue}"
    return None


def _strip_ansi(text: str) -> str:
    import re
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def grade(day: str, path: str | Path | None = None, timeout: int = 120,
          root: Path | None = None) -> Report:
    """Execute a copy of the learner's notebook for `day` and report every check."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    root = Path(root or project_root())
    stem = resolve_day(day, root)
    nb_path = Path(path) if path else root / authoring.EXERCISE_DIR / f"{stem}.ipynb"
    report = Report(day=stem, notebook=str(nb_path))
    reference = authoring.read_source(root / "solutions" / f"{stem}.py")
    ref_checks = [reference.cells[i].source for i in authoring.check_cells(reference)]

    if not nb_path.is_file():
        report.errors.append(f"no notebook at {nb_path}")
        return report
    try:
        nb = nbformat.read(nb_path, as_version=4)   # read only: the file is never written
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same report
        report.errors.append(f"cannot read {nb_path} as a notebook: {exc}")
        return report

    indices = authoring.check_cells(nb)
    if len(indices) != len(ref_checks):
        report.errors.append(
            f"the notebook has {len(indices)} check cells (tagged 'check'); the exercise has "
            f"{len(ref_checks)}: restore them from exercises/{stem}.ipynb")
        return report
    for i, source in zip(indices, ref_checks):
        nb.cells[i].source = source
    results = {i: CheckResult(authoring.check_name(s), False, NOT_RUN, i)
               for i, s in zip(indices, ref_checks)}
    report.checks = list(results.values())

    client = NotebookClient(nb, timeout=timeout, allow_errors=True, kernel_name="python3",
                            resources={"metadata": {"path": str(nb_path.parent.resolve())}})
    current = None
    try:
        with authoring.offline_environment(), client.setup_kernel():
            for current, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                client.execute_cell(cell, current)
                error = _error_message(cell.outputs)
                if current in results:
                    results[current].passed = error is None
                    results[current].message = error or ""
                elif error:
                    report.errors.append(f"cell {current} raised {error}")
    except CellTimeoutError:
        report.errors.append(f"cell {current} did not finish within {timeout} s "
                             "(an endless loop, or too much work for the CPU?)")
        if current in results:
            results[current].message = f"timed out after {timeout} s"
    except DeadKernelError:
        report.errors.append(f"the Python kernel died while running cell {current} "
                             "(out of memory, or the code crashed the process)")
        if current in results:
            results[current].message = "the kernel died while running this check"
    except Exception as exc:  # noqa: BLE001 - report, never crash the grader
        report.errors.append(f"the notebook could not be run: {type(exc).__name__}: {exc}")
        report.errors.append(traceback.format_exc(limit=2).strip().splitlines()[-1])
    return report
