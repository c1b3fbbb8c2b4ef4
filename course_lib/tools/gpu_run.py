"""`course gpu-run` (`make test-gpu`): every lesson and solution on one CUDA GPU, with the
GPU presets, timed, and the numbers its asserts check, written to a JSON report.

    course gpu-run                      # all days -> gpu-report.json
    course gpu-run --out r.json 05 11   # some days

Each notebook runs from its source in a fresh kernel (the committed .ipynb is not
touched); `get_device()` picks CUDA and each lesson's config cell picks `PRESETS["gpu"]`,
so the first run trains the GPU models and caches them in `artifacts/` like the CPU ones.
"The key asserted metrics" are read off the notebook itself: for every `assert a <op> b`
in its code, the value of `a` (and of `b` when it is not a literal) is evaluated in the
kernel after the last cell, and the numbers are reported under their expression's text,
e.g. `{"hits['own', 'adapted']": 5.0, "judge_accuracy": 0.978}`. The report is rewritten
after every notebook, so a run stopped early keeps what it measured.

Without CUDA (or with COURSE_DEVICE=cpu) it refuses to start, saying why: on a CPU the
GPU presets are shape-tested by tests/test_presets.py instead.
"""

from __future__ import annotations

import ast
import json
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

from course_lib.runtime import project_root

MARKER = "COURSE_GPU_METRICS "


def asserted_expressions(code_cells: list[str]) -> list[str]:
    """The source text of what each `assert x <op> y` compares (x, and y unless it is a
    literal), in order, without repeats. Cells that are not plain Python (magics) are
    skipped."""
    found: list[str] = []
    for source in code_cells:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Assert):
                continue
            tests = node.test.values if isinstance(node.test, ast.BoolOp) else [node.test]
            for test in tests:
                if isinstance(test, ast.Compare):
                    for side in (test.left, *test.comparators):
                        if not _is_literal(side) and (text := ast.unparse(side)) not in found:
                            found.append(text)
    return found


def _is_literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
        return True
    except ValueError:
        return False


def metrics_cell(expressions: list[str]) -> str:
    """A code cell that prints `MARKER {expression: number}` for those of `expressions`
    that evaluate to a number (a Python or NumPy scalar, or a one-element tensor)."""
    return (
        "import json as _json\n"
        "_found = {}\n"
        f"for _expr in {expressions!r}:\n"
        "    try:\n"
        "        _value = eval(_expr)\n"
        "        _value = _value.item() if hasattr(_value, 'item') else _value   # one-element tensor/array\n"
        "        if isinstance(_value, (bool, int, float)):\n"
        "            _found[_expr] = float(_value)\n"
        "    except Exception:\n"
        "        pass\n"
        f"print({MARKER!r} + _json.dumps(_found))\n")


def run_notebook(source: Path, timeout: int = 1800) -> dict:
    """Execute one notebook source with a metrics cell appended: its seconds (without
    the metrics cell), whether every cell ran, the first error, and the metrics."""
    import nbformat

    from course_lib.tools import authoring

    nb = authoring.read_source(source)
    expressions = asserted_expressions([c.source for c in nb.cells if c.cell_type == "code"])
    nb.cells.append(nbformat.v4.new_code_cell(metrics_cell(expressions)))
    start = time.perf_counter()
    authoring.execute(nb, cwd=source.parent, timeout=timeout, allow_errors=True)
    seconds = time.perf_counter() - start
    errors = [(i, o) for i, c in enumerate(nb.cells[:-1]) for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in nb.cells[-1].get("outputs", []) if o.get("output_type") == "stream")
    metrics = json.loads(text.split(MARKER, 1)[1]) if MARKER in text else {}
    return {"notebook": f"{source.parent.name}/{source.stem}", "seconds": round(seconds, 1), "ok": not errors,
            "error": f"cell {errors[0][0]}: {errors[0][1]['ename']}: {errors[0][1]['evalue'][:300]}" if errors else None,
            "metrics": metrics}


def cuda_problem() -> str | None:
    """Why the GPU run cannot start here, or None."""
    import torch

    if os.environ.get("COURSE_DEVICE", "").lower() == "cpu":
        return "COURSE_DEVICE=cpu is set, which forces the CPU presets; unset it"
    if not torch.cuda.is_available():
        build = f"torch {torch.__version__}" + (" (a CPU-only build)" if torch.version.cuda is None else "")
        return f"no CUDA GPU is visible to {build}; the GPU run needs one (on a CPU, `make test` checks the GPU presets' shapes)"
    return None


def gpu_run(out: Path, only: list[str] | None = None, progress: bool = True) -> dict:
    """Run every lesson and solution (or those of the days in `only`) on CUDA and write
    the report to `out` (JSON). Raises RuntimeError without CUDA."""
    import torch

    if problem := cuda_problem():
        raise RuntimeError(f"course gpu-run: {problem}")
    root = project_root()
    days = {d.lower().removeprefix("day").zfill(2) for d in only} if only else None
    sources = [p for folder in ("notebooks", "solutions") for p in sorted((root / folder).glob("day[0-9][0-9]_*.py"))
               if days is None or p.name[3:5] in days]
    if not sources:
        raise ValueError(f"no lesson or solution for days {sorted(days or [])}")
    report = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "cuda": torch.version.cuda,
              "host": platform.node(), "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "notebooks": []}
    out = Path(out)
    for source in sources:
        if progress:
            print(f"{source.parent.name}/{source.name} ...", flush=True)
        row = run_notebook(source)
        report["notebooks"].append(row)
        if progress:
            print(f"  {row['seconds']:.1f} s" + ("" if row["ok"] else f"  FAILED {row['error']}"), flush=True)
        partial = out.with_name(out.name + ".partial")
        partial.write_text(json.dumps(report, indent=1))
        partial.replace(out)
    return report
