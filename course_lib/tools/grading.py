"""The grader behind `course check DAY [PATH]`.

It executes a *copy* of the learner's notebook in a fresh temporary folder (their file
is only read), with the check cells taken from `solutions/` so an edited check cannot
pass itself, under the limits of `tools.sandbox` (time, CPU, memory, output, files,
processes, no network), and reports one line per check: pass or fail with the assertion
message. `tools.classroom` grades many notebooks this way.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import traceback
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from course_lib.runtime import project_root
from course_lib.tools import authoring
from course_lib.tools.sandbox import Limits, Watchdog, apply_rlimits, snapshot

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
    stopped: str | None = None                        # the limit a breach stopped it at
    files_written: list[str] = field(default_factory=list)   # in its working folder (a copy)
    files_deleted: list[str] = field(default_factory=list)
    limits: dict = field(default_factory=dict)

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


class CappedClient(NotebookClient):
    """A NotebookClient that counts the bytes of every output message; past `output_limit`
    it drops them and calls `on_overflow` once (the grader stops the kernel there)."""

    def __init__(self, nb, output_limit: int, on_overflow=None, **kwargs):
        super().__init__(nb, **kwargs)
        self.output_limit, self.on_overflow = output_limit, on_overflow
        self.output_bytes, self.overflowed = 0, False

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        self.output_bytes += (len(str(content.get("text", ""))) + len(str(content.get("traceback", "")))
                              + sum(len(str(v)) for v in content.get("data", {}).values()))
        if self.output_bytes > self.output_limit:
            if not self.overflowed and self.on_overflow is not None:
                self.overflowed = True
                self.on_overflow()
            return None
        return super().output(outs, msg, display_id, cell_index)


def grade(day: str, path: str | Path | None = None, timeout: int | None = None,
          root: Path | None = None, limits: Limits | None = None) -> Report:
    """Execute a copy of the learner's notebook for `day` and report every check.

    limits: what the notebook may use (`tools.sandbox.Limits`); `timeout` overrides its
    `cell_seconds`."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    limits = limits or Limits()
    if timeout is not None:
        limits = replace(limits, cell_seconds=timeout)
    root = Path(root or project_root())
    stem = resolve_day(day, root)
    nb_path = Path(path) if path else root / authoring.EXERCISE_DIR / f"{stem}.ipynb"
    report = Report(day=stem, notebook=str(nb_path), limits=asdict(limits))
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

    workdir = Path(tempfile.mkdtemp(prefix="course-check-"))
    shutil.copyfile(nb_path, workdir / nb_path.name)         # the copy the notebook sees
    before = snapshot(workdir)
    watchdog: Watchdog | None = None
    client = CappedClient(nb, output_limit=limits.output_kb * 1024, timeout=limits.cell_seconds,
                          allow_errors=True, kernel_name="python3",
                          resources={"metadata": {"path": str(workdir)}},
                          on_overflow=lambda: watchdog and watchdog.breach(
                              f"printed more than {limits.output_kb} kB of output"))
    current = None
    try:
        with authoring.offline_environment(), authoring.environment(TMPDIR=str(workdir)), client.setup_kernel():
            process = getattr(getattr(client.km, "provisioner", None), "process", None)
            if process is not None and sys.platform.startswith("linux"):
                apply_rlimits(process.pid, limits)
                watchdog = Watchdog(process.pid, workdir, limits)
                watchdog.start()
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
                if watchdog is not None and watchdog.reason:
                    raise DeadKernelError(watchdog.reason)
    except CellTimeoutError:
        report.stopped = f"a cell ran longer than {limits.cell_seconds} s"
        report.errors.append(f"cell {current} did not finish within {limits.cell_seconds} s "
                             "(an endless loop, or too much work for the CPU?)")
        if current in results:
            results[current].message = f"timed out after {limits.cell_seconds} s"
    except DeadKernelError:
        if watchdog is not None and watchdog.reason:
            report.stopped = watchdog.reason
            report.errors.append(f"stopped at cell {current}: the notebook {watchdog.reason}")
            if current in results:
                results[current].message = f"stopped: the notebook {watchdog.reason}"
        else:
            report.stopped = "the kernel died"
            report.errors.append(f"the Python kernel died while running cell {current} (os._exit or "
                                 "exit(), out of memory, or the code crashed the process)")
            if current in results:
                results[current].message = "the kernel died while running this check"
    except Exception as exc:  # noqa: BLE001 - report, never crash the grader
        report.errors.append(f"the notebook could not be run: {type(exc).__name__}: {exc}")
        report.errors.append(traceback.format_exc(limit=2).strip().splitlines()[-1])
    finally:
        if watchdog is not None:
            watchdog.stop()
        after = snapshot(workdir)
        report.files_written = sorted(p for p in after if p not in before or after[p] != before[p])
        report.files_deleted = sorted(p for p in before if p not in after)
        shutil.rmtree(workdir, ignore_errors=True)
    if report.files_deleted:
        report.errors.append(f"the notebook deleted {', '.join(report.files_deleted)} in its working "
                             "folder (a temporary copy: your files were not touched)")
    return report


def main(argv: list[str] | None = None) -> int:
    """`python -m course_lib.tools.grading DAY PATH --out report.json [limits]`: grade one
    notebook and write its JSON report (what `tools.classroom` runs per submission)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m course_lib.tools.grading")
    parser.add_argument("day")
    parser.add_argument("path", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--root", type=Path)
    for name, default in asdict(Limits()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=default)
    args = parser.parse_args(argv)
    limits = Limits(**{name: getattr(args, name) for name in asdict(Limits())})
    report = grade(args.day, args.path, root=args.root, limits=limits)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(report.to_json())
    tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
