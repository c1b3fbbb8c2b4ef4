"""`course figures`: draw every concept figure of the lessons into notebooks/figures/.

Each module `figures/dayNN_*.py` defines `FIGURES`, a dict from an SVG file name to a
function that returns a `course_lib.tools.diagrams.Diagram` (or SVG text). A lesson
shows a figure from markdown, `![what it shows](figures/name.svg)`, so it renders in
JupyterLab, on GitHub and in a static book without running any code.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from course_lib.runtime import project_root

SOURCE_DIR = "figures"
OUTPUT_DIR = Path("notebooks") / "figures"


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"course_figures_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def render_all(root: Path | None = None) -> dict[str, str]:
    """Every figure's file name -> SVG text, drawn fresh from figures/*.py."""
    root = Path(root or project_root())
    figures: dict[str, str] = {}
    for path in sorted((root / SOURCE_DIR).glob("day*.py")):
        for name, draw in getattr(_load(path), "FIGURES", {}).items():
            if not name.endswith(".svg"):
                raise ValueError(f"{path.name}: figure name {name!r} must end in .svg")
            if name in figures:
                raise ValueError(f"{path.name}: figure {name!r} is drawn twice")
            drawn = draw()
            figures[name] = drawn if isinstance(drawn, str) else drawn.svg()
    return figures


GREY = re.compile(r"rgb\((\d+),(\d+),(\d+)\)")
GREY_TOLERANCE = 2


def same_figure(committed: str, drawn: str) -> bool:
    """True when two SVG texts are the same figure: identical, except that pixel colours
    (`rgb(r,g,b)`, from `Diagram.pixels`) may differ by GREY_TOLERANCE levels of 255.
    Figures drawn from computed data (a spectrogram, a rendered face) round float32
    results to 256 levels, and another CPU's vector kernels can move a value across a
    rounding edge; that must not make the committed file stale."""
    if committed == drawn:
        return True
    a, b = GREY.split(committed), GREY.split(drawn)
    if len(a) != len(b):
        return False
    # split() alternates text, r, g, b, text, ...: text parts at indices 0, 4, 8, ...
    return all(x == y if i % 4 == 0 else abs(int(x) - int(y)) <= GREY_TOLERANCE
               for i, (x, y) in enumerate(zip(a, b)))


def build_figures(root: Path | None = None, check: bool = False) -> list[str]:
    """Write the figures whose SVG changed (with check=True only list them); also list
    (and remove) SVGs in notebooks/figures/ that no module draws any more."""
    root = Path(root or project_root())
    out = root / OUTPUT_DIR
    figures = render_all(root)
    changed = []
    for name, text in sorted(figures.items()):
        path = out / name
        if path.exists() and same_figure(path.read_text(encoding="utf-8"), text):
            continue
        changed.append(str(OUTPUT_DIR / name))
        if not check:
            out.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for orphan in sorted(set(p.name for p in out.glob("*.svg")) - set(figures)) if out.exists() else []:
        changed.append(str(OUTPUT_DIR / orphan))
        if not check:
            (out / orphan).unlink()
    return changed
