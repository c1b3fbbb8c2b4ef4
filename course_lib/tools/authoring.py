"""Authoring: notebook sources (.py, jupytext percent) -> executed .ipynb, and exercises.

`course build` calls `build()`. The `.py` file is the source of truth; the `.ipynb` beside
it is its executed rendering; `exercises/dayNN_*.ipynb` is generated from
`solutions/dayNN_*.py` by replacing each solution region with a stub.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import jupytext
import nbformat
from nbformat import NotebookNode

from course_lib.runtime import project_root

SOURCE_DIRS = ("notebooks", "solutions")
EXERCISE_DIR = "exercises"
CHECK_TAG = "check"
RAISES_TAG = "raises-exception"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]
KEPT_NOTEBOOK_METADATA = ("kernelspec", "language_info")


# ---------------------------------------------------------------- reading sources

def read_source(py_path: Path) -> NotebookNode:
    """Read a percent-format source into a notebook with stable cell ids and no outputs."""
    py_path = Path(py_path)
    if not py_path.is_file():
        raise FileNotFoundError(f"no notebook source at {py_path}")
    nb = jupytext.read(py_path, fmt="py:percent")
    return clean(nb, name=py_path.stem)


def cell_signature(nb: NotebookNode) -> list[tuple[str, str, tuple[str, ...]]]:
    """What pairs a source and its .ipynb: (cell type, source, tags) of every cell."""
    return [(c.cell_type, c.source, tuple(c.get("metadata", {}).get("tags", [])))
            for c in nb.cells]


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def final_progress_text(view: dict, widgets: dict) -> str | None:
    """The last state of a tqdm progress bar as text, from the widget state nbclient
    saved: tqdm's widget is an HBox of (HTML "DiT: 100%", FloatProgress, HTML
    "2500/2500 [00:45<00:00, 55.3it/s]"). None when `view` is not such a widget."""
    import html

    state = widgets.get(view.get("model_id", ""), {}).get("state", {})
    children = [widgets.get(c.removeprefix("IPY_MODEL_"), {}) for c in state.get("children", [])]
    names = [c.get("model_name") for c in children]
    if names != ["HTMLModel", "FloatProgressModel", "HTMLModel"]:
        return None
    left, bar, right = (c["state"] for c in children)
    filled = round(10 * bar.get("value", 0) / bar["max"]) if bar.get("max") else 0
    text = f"{left.get('value', '')}|{'█' * filled}{' ' * (10 - filled)}|{right.get('value', '')}"
    return html.unescape(text).replace("\u2007", " ")


def _widget_tree(model_id: str, widgets: dict) -> dict:
    """The models a widget view needs: the widget and every model its state refers to
    (children, layout, style, ...), as {model id: saved model}."""
    tree, todo = {}, [model_id]
    while todo:
        mid = todo.pop()
        if mid in tree or mid not in widgets:
            continue
        tree[mid] = widgets[mid]
        refs = [v for v in tree[mid].get("state", {}).values()]
        while refs:
            v = refs.pop()
            if isinstance(v, str) and v.startswith("IPY_MODEL_"):
                todo.append(v.removeprefix("IPY_MODEL_"))
            elif isinstance(v, (list, tuple)):
                refs.extend(v)
    return tree


def saved_widget_view(view: dict, widgets: dict) -> tuple[dict, dict]:
    """A static rendering of an interactive widget's last view: (extra output data, the
    widget models to keep). The data gets the figure its Output widget last showed
    (image/png) and a text line naming the control values, so a reader without a kernel
    (GitHub, nbconvert, a static book) sees what the widget showed; JupyterLab renders
    the widget itself from the kept models."""
    tree = _widget_tree(view.get("model_id", ""), widgets)
    controls, image, printed = [], None, []
    for model in tree.values():
        state = model.get("state", {})
        name = model.get("model_name", "")
        if state.get("description") and name.endswith(
                ("SliderModel", "DropdownModel", "ToggleButtonsModel", "CheckboxModel", "RadioButtonsModel")):
            labels, index = state.get("_options_labels"), state.get("index")
            if labels is not None:          # a selection: the value is the chosen label
                if isinstance(index, int) and 0 <= index < len(labels):
                    controls.append(f"{state['description']} = {labels[index]}")
            elif "value" in state:
                controls.append(f"{state['description']} = {state['value']}")
        for out in state.get("outputs", []):
            if out.get("output_type") == "stream":
                printed.append(out.get("text", ""))
            elif "image/png" in out.get("data", {}):
                image = out["data"]["image/png"]
    data = {}
    if image is not None:
        data["image/png"] = image
    if controls or printed:
        where = f"Saved view at {', '.join(sorted(controls))}" if controls else "Saved view"
        data["text/plain"] = (where + " (run the cell to move the controls)\n" + "".join(printed)).rstrip()
    return data, tree


def _renamed_models(models: dict, nb: NotebookNode, prefix: str) -> dict:
    """Give the kept widget models stable ids (`day03_ddpm-widget-00`, ...) in the
    order the notebook shows them, so re-executing a lesson does not rewrite its file
    with fresh random ids; views and references are renamed to match."""
    order = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW)
            if view and view.get("model_id") in models:
                order.extend(m for m in _widget_tree(view["model_id"], models) if m not in order)
    order.extend(m for m in models if m not in order)
    names = {old: f"{prefix}-widget-{n:02d}" for n, old in enumerate(order)}

    def rename(value):
        if isinstance(value, str) and value.startswith("IPY_MODEL_") and value[10:] in names:
            return "IPY_MODEL_" + names[value[10:]]
        if isinstance(value, list):
            return [rename(v) for v in value]
        if isinstance(value, dict):
            return {k: rename(v) for k, v in value.items()}
        return value

    for cell in nb.cells:
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW)
            if view and view.get("model_id") in names:
                view["model_id"] = names[view["model_id"]]
    return {names[old]: rename(model) for old, model in models.items()}


def clean(nb: NotebookNode, name: str) -> NotebookNode:
    """Strip volatile metadata; give cells deterministic ids (`name-000`, ...).

    Widgets are stored so that a saved notebook reads well without a kernel: a progress
    bar becomes the text of its last state (the widget's own text is its first, 0 %); an
    interactive widget keeps its models in the notebook's widget state (JupyterLab draws
    it from them) and its output also carries the figure and control values of its last
    view, for every viewer that cannot draw widgets."""
    widgets = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    nb.metadata = {k: v for k, v in nb.metadata.items() if k in KEPT_NOTEBOOK_METADATA}
    nb.nbformat, nb.nbformat_minor = 4, 5
    kept: dict = {}
    for i, cell in enumerate(nb.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        cell.metadata = {"tags": list(tags)} if tags else {}
        cell.id = f"{re.sub(r'[^A-Za-z0-9-]', '-', name)}-{i:03d}"
        if cell.cell_type == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
            for out in cell.outputs:
                if out.get("output_type") in ("display_data", "execute_result") and WIDGET_VIEW in out.data:
                    final = final_progress_text(out.data[WIDGET_VIEW], widgets)
                    if final is not None:
                        del out.data[WIDGET_VIEW]
                        out.data["text/plain"] = final
                        continue
                    data, tree = saved_widget_view(out.data[WIDGET_VIEW], widgets)
                    if tree:
                        out.data.update(data)
                        kept.update(tree)
                    else:  # no saved state: a viewer could draw nothing from the view
                        del out.data[WIDGET_VIEW]
    if kept:
        kept = _renamed_models(kept, nb, prefix=re.sub(r'[^A-Za-z0-9-]', '-', name))
        nb.metadata["widgets"] = {WIDGET_STATE: {"state": dict(sorted(kept.items())),
                                                 "version_major": 2, "version_minor": 0}}
    return nb


def write_notebook(nb: NotebookNode, path: Path) -> None:
    Path(path).write_text(notebook_text(nb), encoding="utf-8")


def notebook_text(nb: NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


# ---------------------------------------------------------------- exercises

def _stub_region(lines: list[str], where: str) -> list[str]:
    out, inside, indent = [], False, ""
    for n, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise ValueError(f"{where}: nested '{BEGIN}' at line {n}")
            inside, indent = True, line[: len(line) - len(line.lstrip())]
            out.extend(indent + s for s in STUB)
        elif stripped == END:
            if not inside:
                raise ValueError(f"{where}: '{END}' without '{BEGIN}' at line {n}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: '{BEGIN}' is never closed")
    return out


def make_exercise(solution: NotebookNode, name: str = "exercise") -> NotebookNode:
    """The learner's notebook: solution regions stubbed, outputs cleared, checks tagged.

    Check cells get the `raises-exception` tag so the unsolved notebook executes end to
    end (nbval and Jupyter's "Run All" continue past them).
    """
    nb = nbformat.from_dict(solution)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        if BEGIN in cell.source or END in cell.source:
            cell.source = "\n".join(_stub_region(cell.source.split("\n"), f"{name} cell {i}"))
        tags = cell.metadata.get("tags", [])
        if CHECK_TAG in tags and RAISES_TAG not in tags:
            cell.metadata["tags"] = [*tags, RAISES_TAG]
    return nb


def check_cells(nb: NotebookNode) -> list[int]:
    """Indices of the cells tagged `check`."""
    return [i for i, c in enumerate(nb.cells) if CHECK_TAG in c.get("metadata", {}).get("tags", [])]


def check_name(source: str) -> str:
    """The name a check reports: its `# Check: ...` first line, else its first line."""
    first = source.strip().split("\n", 1)[0] if source.strip() else "check"
    m = re.match(r"#\s*Check:\s*(.+)", first)
    return m.group(1).strip() if m else first.lstrip("# ").strip()


# ---------------------------------------------------------------- executing

def _this_python_kernelspec() -> str:
    """A folder holding a `python3` kernelspec that runs *this* interpreter.

    Put first on JUPYTER_PATH, it wins over a user's own `python3` kernelspec that may
    point at another Python without course_lib installed."""
    import hashlib
    import json
    import sys
    import tempfile

    tag = hashlib.sha256(sys.executable.encode()).hexdigest()[:12]
    root = Path(tempfile.gettempdir()) / f"course-kernels-{tag}"
    spec = root / "kernels" / "python3" / "kernel.json"
    if not spec.exists():
        spec.parent.mkdir(parents=True, exist_ok=True)
        spec.write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (ipykernel)", "language": "python"}))
    return str(root)


@contextlib.contextmanager
def environment(**values: str):
    """Set environment variables for the block (kernels started in it inherit them), then
    restore what was there before."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def offline_environment():
    """Kernels started inside this block run this Python, refuse non-loopback network
    connections, and refresh progress bars at most once a second (TQDM_MININTERVAL: a
    headless run needs no more, and fewer messages keep a busy kernel responsive)."""
    guard = str(Path(__file__).parent / "offline")
    before = {k: os.environ.get(k) for k in ("PYTHONPATH", "JUPYTER_PATH")}
    return environment(
        PYTHONPATH=guard + (os.pathsep + before["PYTHONPATH"] if before["PYTHONPATH"] else ""),
        JUPYTER_PATH=_this_python_kernelspec() + (os.pathsep + before["JUPYTER_PATH"] if before["JUPYTER_PATH"]
                                                  else ""),
        TQDM_MININTERVAL=os.environ.get("TQDM_MININTERVAL", "1"))


def execute(nb: NotebookNode, cwd: Path, timeout: int = 600, allow_errors: bool = False) -> NotebookNode:
    """Execute every cell in a fresh offline kernel (working directory `cwd`). With
    allow_errors, a cell that raises (a failing assert) is recorded and the rest run."""
    from nbclient import NotebookClient

    with offline_environment():
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                                resources={"metadata": {"path": str(cwd)}})
        client.execute()
    return nb


# ---------------------------------------------------------------- build

@dataclass
class BuildReport:
    stale: list[str] = field(default_factory=list)      # files that are/were out of date
    executed: dict[str, float] = field(default_factory=dict)  # notebook -> seconds
    written: list[str] = field(default_factory=list)


def sources(root: Path) -> list[Path]:
    return sorted(p for d in SOURCE_DIRS for p in (root / d).glob("day*.py"))


def is_stale(py_path: Path) -> bool:
    """True when the .ipynb twin is missing or its cells differ from the source."""
    ipynb = py_path.with_suffix(".ipynb")
    if not ipynb.exists():
        return True
    return cell_signature(nbformat.read(ipynb, as_version=4)) != cell_signature(read_source(py_path))


def exercise_text(solution_py: Path) -> str:
    return notebook_text(make_exercise(read_source(solution_py), name=solution_py.stem))


def build(root: Path | None = None, check: bool = False, force: bool = False,
          only: list[str] | None = None, log=print) -> BuildReport:
    """Bring every generated notebook up to date (or, with check=True, only list them).

    Executes each source whose cells changed (all of them with force=True) into its
    .ipynb, then rewrites exercises/ from solutions/. `only` limits the work to stems
    containing one of the given strings (e.g. ["day01"]).
    """
    root = Path(root or project_root())
    report = BuildReport()
    chosen = [p for p in sources(root) if not only or any(s in p.stem for s in only)]
    for py in chosen:
        rel = str(py.with_suffix(".ipynb").relative_to(root))
        if not (force or is_stale(py)):
            continue
        report.stale.append(rel)
        if check:
            continue
        log(f"executing {rel} ...")
        start = time.perf_counter()
        nb = execute(read_source(py), cwd=py.parent)
        report.executed[rel] = time.perf_counter() - start
        write_notebook(clean(nb, py.stem), py.with_suffix(".ipynb"))
        report.written.append(rel)
        log(f"  {report.executed[rel]:.1f} s")
    (root / EXERCISE_DIR).mkdir(exist_ok=True)
    expected = {}
    for py in (root / "solutions").glob("day*.py"):
        if not only or any(s in py.stem for s in only):
            expected[f"{EXERCISE_DIR}/{py.stem}.ipynb"] = exercise_text(py)
    existing = {f"{EXERCISE_DIR}/{p.name}" for p in (root / EXERCISE_DIR).glob("day*.ipynb")}
    if not only:  # an exercise without a solution source is an orphan
        for rel in sorted(existing - set(expected)):
            report.stale.append(rel)
            if not check:
                (root / rel).unlink()
                log(f"removed orphan {rel}")
    for rel, text in sorted(expected.items()):
        path = root / rel
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        report.stale.append(rel)
        if not check:
            path.write_text(text, encoding="utf-8")
            report.written.append(rel)
            log(f"wrote {rel}")
    return report
