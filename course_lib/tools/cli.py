"""The `course` command: lab, build, figures, run, check, book, gpu-run, doctor."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course_lib.runtime import project_root


def lab_command(notebook_dir: Path, as_root: bool, extra: list[str] = ()) -> list[str]:
    """The JupyterLab command line `course lab` runs. As root (a container, a classroom
    VM) Jupyter refuses to start unless told `--allow-root`: it warns because a notebook
    run as root can change anything on the machine, which is the point of such a box.
    `extra` goes to JupyterLab as it is (`course lab --no-browser --port=8890`); a
    `--notebook-dir=` (or `--ServerApp.root_dir=`) in it replaces the course's."""
    own_dir = any(a.startswith(("--notebook-dir", "--ServerApp.root_dir")) for a in extra)
    command = [sys.executable, "-m", "jupyterlab"] + ([] if own_dir else [f"--notebook-dir={notebook_dir}"])
    if as_root:
        command.append("--allow-root")
    return [*command, *extra]


def _lab(args) -> int:
    import os
    import subprocess

    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if as_root:
        print("course lab: running as root (a container or VM?), so JupyterLab gets --allow-root; "
              "on a personal machine, run it as your own user instead.", file=sys.stderr)
    return subprocess.call(lab_command(project_root(), as_root, args.jupyter_args))


def _build(args) -> int:
    from course_lib.tools.authoring import build
    from course_lib.tools.figures import build_figures

    figures = build_figures(check=args.check)  # lessons show them from markdown
    report = build(check=args.check, force=args.force, only=args.only or None)
    report.stale[:0] = figures
    if not args.check:
        report.written[:0] = figures
    if args.check:
        if report.stale:
            print("stale (run `course build`):")
            print("\n".join(f"  {p}" for p in report.stale))
            return 1
        print("all notebooks and exercises are up to date")
        return 0
    print(f"{len(report.written)} file(s) written")
    return 0


def _check(args) -> int:
    from dataclasses import asdict

    from course_lib.tools.sandbox import Limits

    values = {name: getattr(args, name) for name in asdict(Limits())}
    for name, value in values.items():
        if value < 1:
            flag = "--timeout" if name == "cell_seconds" else "--" + name.replace("_", "-")
            print(f"course check: {flag} must be positive; got {value}", file=sys.stderr)
            return 2
    limits = Limits(**values)
    paths = args.paths
    if args.jobs < 1:
        print(f"course check: --jobs must be positive; got {args.jobs}", file=sys.stderr)
        return 2
    if len(paths) > 1 or args.out is not None or any(p.is_dir() for p in paths):
        return _check_many(args, limits)

    from course_lib.tools.grading import grade

    try:
        report = grade(args.day, paths[0] if paths else None, limits=limits)
    except ValueError as exc:
        print(f"course check: {exc}", file=sys.stderr)
        return 2
    print(report.to_json() if args.json else report.to_text())
    if not report.checks and report.errors:
        return 2
    return 0 if report.ok else 1


def _check_many(args, limits) -> int:
    """Classroom mode: several notebooks or folders; one JSON each and summary.csv."""
    from course_lib.tools.classroom import grade_many
    from course_lib.tools.grading import resolve_day

    try:
        resolve_day(args.day, project_root())
        reports = grade_many(args.day, args.paths, out=args.out or Path("grades"), limits=limits,
                             jobs=args.jobs)
    except ValueError as exc:
        print(f"course check: {exc}", file=sys.stderr)
        return 2
    if any(not r["checks"] and r["errors"] for r in reports):
        return 2
    return 0 if all(r["ok"] for r in reports) else 1


def _run(args) -> int:
    """Execute one lesson (or solution) into another file: the committed notebook is not
    touched. With COURSE_SEED set, every training recipe the lesson picks is reseeded."""
    import os
    import time

    from course_lib.tools import authoring

    root = project_root()
    key = str(args.day).lower().removeprefix("day").split("_")[0]
    folder = "solutions" if args.solution else "notebooks"
    matches = sorted((root / folder).glob(f"day{int(key):02d}_*.py")) if key.isdigit() else []
    if not matches:
        print(f"course run: no {folder[:-1]} for day {args.day!r}", file=sys.stderr)
        return 2
    source = matches[0]
    out = args.out or Path(f"{source.stem}.run.ipynb")
    seed = os.environ.get("COURSE_SEED")
    print(f"executing {source.relative_to(root)}" + (f" with COURSE_SEED={seed}" if seed else "") + f" -> {out}")
    start = time.perf_counter()
    try:
        nb = authoring.execute(authoring.read_source(source), cwd=source.parent, allow_errors=args.keep_going)
    except Exception as exc:  # noqa: BLE001 - nbclient's CellExecutionError carries the cell and traceback
        print(f"course run: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    authoring.write_notebook(authoring.clean(nb, source.stem), out)
    failed = [i for i, c in enumerate(nb.cells) if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    print(f"  {time.perf_counter() - start:.1f} s" + (f"; cells that raised: {failed}" if failed else ""))
    return 1 if failed else 0


def _figures(args) -> int:
    from course_lib.tools.figures import build_figures

    changed = build_figures(check=args.check)
    if args.check:
        if changed:
            print("stale figures (run `course figures`):")
            print("\n".join(f"  {p}" for p in changed))
            return 1
        print("all figures are up to date")
        return 0
    print(f"{len(changed)} figure file(s) written or removed")
    return 0


def _doctor(args) -> int:
    from course_lib.tools.doctor import run_doctor
    return run_doctor()


def _book(args) -> int:
    from course_lib.tools.book import build_book

    index = build_book(args.out, args.only or None)
    print(f"the book: {index} (open it, or: python -m http.server -d {index.parent})")
    return 0


def _gpu_run(args) -> int:
    from course_lib.tools.gpu_run import gpu_run

    try:
        report = gpu_run(args.out, args.only or None)
    except (RuntimeError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 2
    failed = [row["notebook"] for row in report["notebooks"] if not row["ok"]]
    print(f"{len(report['notebooks'])} notebooks on {report['device']}: {args.out}" +
          (f"; failed: {failed}" if failed else ""))
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course", description="Generative Audio & Video from Scratch")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("lab", help="open JupyterLab on the course (other options go to JupyterLab)",
                   description="Open JupyterLab on the course. Options it does not know go to JupyterLab, "
                               "e.g. course lab --no-browser --port=8890").set_defaults(func=_lab)

    p = sub.add_parser("build", help="draw figures; execute changed notebook sources; regenerate exercises/")
    p.add_argument("--check", action="store_true", help="execute nothing; exit 1 naming stale files")
    p.add_argument("--force", action="store_true", help="re-execute every notebook source")
    p.add_argument("only", nargs="*", help="limit to these days, e.g. day01")
    p.set_defaults(func=_build)

    p = sub.add_parser("figures", help="draw the lessons' concept figures (figures/*.py -> notebooks/figures/)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 naming stale figures")
    p.set_defaults(func=_figures)

    p = sub.add_parser("check", help="grade exercise notebooks: one, several, or a folder of them",
                       description="Grade a learner's notebook (default: exercises/dayNN_*.ipynb), or a "
                                   "classroom: several notebooks or folders, each in its own kernel under "
                                   "the limits below, with one JSON report each and summary.csv in --out.")
    p.add_argument("day", help="day01, 01 or 1")
    p.add_argument("paths", nargs="*", type=Path, help="notebooks or folders of notebooks")
    p.add_argument("--json", action="store_true", help="one notebook: machine-readable report")
    p.add_argument("--out", type=Path, help="classroom mode: folder for the reports (default grades/)")
    p.add_argument("--jobs", type=int, default=1, help="classroom mode: notebooks graded at once (default 1)")
    p.add_argument("--timeout", dest="cell_seconds", type=int, default=120,
                   help="seconds allowed per cell (default 120)")
    p.add_argument("--cpu-seconds", type=int, default=600, help="CPU seconds per notebook (default 600)")
    p.add_argument("--memory-mb", type=int, default=4096, help="memory per process in MB (default 4096)")
    p.add_argument("--output-kb", type=int, default=1024, help="output per notebook in kB (default 1024)")
    p.add_argument("--files-mb", type=int, default=100, help="MB a notebook may write (default 100)")
    p.add_argument("--processes", type=int, default=32, help="processes at once per notebook (default 32)")
    p.set_defaults(func=_check)

    p = sub.add_parser("run", help="execute a lesson into another file (COURSE_SEED=N reseeds its training)")
    p.add_argument("day", help="day05, 05 or 5")
    p.add_argument("--solution", action="store_true", help="the day's solution notebook instead of its lesson")
    p.add_argument("--out", type=Path, help="where to write the executed notebook (default dayNN_topic.run.ipynb)")
    p.add_argument("--keep-going", action="store_true", help="record a failing cell and run the rest")
    p.set_defaults(func=_run)

    p = sub.add_parser("book", help="build the course as a static website (_build/book/index.html)")
    p.add_argument("--out", type=Path, help="folder to write (default _build/book)")
    p.add_argument("only", nargs="*", help="limit to these days, e.g. day11 (a quick look)")
    p.set_defaults(func=_book)

    p = sub.add_parser("gpu-run", help="run every lesson and solution on CUDA with the GPU presets; "
                                       "times and asserted metrics to JSON (refuses without CUDA)")
    p.add_argument("--out", type=Path, default=Path("gpu-report.json"), help="the report (default gpu-report.json)")
    p.add_argument("only", nargs="*", help="limit to these days, e.g. 05 11")
    p.set_defaults(func=_gpu_run)

    sub.add_parser("doctor", help="check the installation").set_defaults(func=_doctor)

    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.jupyter_args = extra
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
