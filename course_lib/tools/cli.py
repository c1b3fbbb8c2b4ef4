"""The `course` command: lab, build, check, doctor."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course_lib.runtime import project_root


def lab_command(notebook_dir: Path, as_root: bool) -> list[str]:
    """The JupyterLab command line `course lab` runs. As root (a container, a classroom
    VM) Jupyter refuses to start unless told `--allow-root`: it warns because a notebook
    run as root can change anything on the machine, which is the point of such a box."""
    command = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={notebook_dir}"]
    if as_root:
        command.append("--allow-root")
    return command


def _lab(args) -> int:
    import os
    import subprocess

    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if as_root:
        print("course lab: running as root (a container or VM?), so JupyterLab gets --allow-root; "
              "on a personal machine, run it as your own user instead.", file=sys.stderr)
    return subprocess.call(lab_command(project_root(), as_root))


def _build(args) -> int:
    from course_lib.tools.authoring import build

    report = build(check=args.check, force=args.force, only=args.only or None)
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
    from course_lib.tools.grading import grade

    if args.timeout <= 0:
        print(f"--timeout must be positive; got {args.timeout}", file=sys.stderr)
        return 2
    try:
        report = grade(args.day, args.path, timeout=args.timeout)
    except ValueError as exc:
        print(f"course check: {exc}", file=sys.stderr)
        return 2
    print(report.to_json() if args.json else report.to_text())
    if not report.checks and report.errors:
        return 2
    return 0 if report.ok else 1


def _doctor(args) -> int:
    from course_lib.tools.doctor import run_doctor
    return run_doctor()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course", description="Generative Audio & Video from Scratch")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("lab", help="open JupyterLab on the course").set_defaults(func=_lab)

    p = sub.add_parser("build", help="execute changed notebook sources; regenerate exercises/")
    p.add_argument("--check", action="store_true", help="execute nothing; exit 1 naming stale files")
    p.add_argument("--force", action="store_true", help="re-execute every notebook source")
    p.add_argument("only", nargs="*", help="limit to these days, e.g. day01")
    p.set_defaults(func=_build)

    p = sub.add_parser("check", help="grade an exercise notebook")
    p.add_argument("day", help="day01, 01 or 1")
    p.add_argument("path", nargs="?", type=Path, help="the notebook (default: exercises/dayNN_*.ipynb)")
    p.add_argument("--json", action="store_true", help="machine-readable report for autograding")
    p.add_argument("--timeout", type=int, default=120, help="seconds allowed per cell (default 120)")
    p.set_defaults(func=_check)

    sub.add_parser("doctor", help="check the installation").set_defaults(func=_doctor)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
