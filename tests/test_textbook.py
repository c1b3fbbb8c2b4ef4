"""The lessons read like a textbook: figures, links, no long source dumps, saved views.

These check the committed, executed lessons as a reader opens them (JupyterLab, GitHub,
nbconvert, a static book): no kernel is started.
"""

import re
from pathlib import Path

import nbformat
import pytest

from course_lib.tools import authoring
from course_lib.tools.figures import OUTPUT_DIR, build_figures

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("day*.ipynb"))
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
LINK = re.compile(r"(?<!!)\[[^\]]+\]\((https?://[^)\s]+)\)")
MAX_SOURCE_LINES = 40


def markdown(nb):
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


def test_the_lessons_exist():
    assert len(LESSONS) >= 16


def test_committed_figures_are_what_the_figure_scripts_draw():
    assert build_figures(ROOT, check=True) == [], "run `course figures`"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_lesson_shows_a_concept_figure_that_exists(path):
    nb = nbformat.read(path, as_version=4)
    images = [m for text in markdown(nb) for m in IMAGE.findall(text)]
    assert images, f"{path.name}: no figure shown from markdown"
    for image in images:
        assert not image.startswith(("http:", "https:")), f"{path.name}: {image} would need the network"
        assert (path.parent / image).is_file(), f"{path.name}: {image} does not exist"
        assert image.startswith(OUTPUT_DIR.name + "/"), f"{path.name}: {image} is not in {OUTPUT_DIR}"


def in_production_section(nb) -> str:
    """The markdown from the '## In production' heading to the next heading of its level."""
    text = "\n".join(markdown(nb))
    m = re.search(r"^(#+) In production[^\n]*\n(.*?)(?=^\1 |\Z)", text, re.S | re.M)
    return m.group(2) if m else ""


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_in_production_links_what_it_discusses(path):
    section = in_production_section(nbformat.read(path, as_version=4))
    assert section, f"{path.name}: no 'In production' section"
    links = set(LINK.findall(section))
    assert len(links) >= 3, f"{path.name}: 'In production' links {len(links)} sources; needs at least 3"


def output_text(cell) -> str:
    return "".join(o.get("text", "") if o.get("output_type") == "stream" else
                   o.get("data", {}).get("text/plain", "") for o in cell.get("outputs", []))


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_no_long_source_dumps(path):
    """A lesson builds its central code in its own cells; a printed library function is
    a short reminder of the signature at most, never a page of validation code."""
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "getsource" in cell.source:
            lines = output_text(cell).count("\n")
            assert lines <= MAX_SOURCE_LINES, f"{path.name} cell {i}: prints {lines} lines of library source"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_saved_outputs_read_well_without_a_kernel(path):
    """No progress bar is stored at its 0 % placeholder, and every widget view carries a
    figure or text of its last state for viewers that cannot draw widgets."""
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            text = data.get("text/plain", "") if isinstance(data.get("text/plain", ""), str) else ""
            assert not re.search(r"\b0%\|\s+\|", text), f"{path.name} cell {i}: a progress bar saved at 0 %"
            if authoring.WIDGET_VIEW in data:
                assert "image/png" in data or text.startswith("Saved view"), \
                    f"{path.name} cell {i}: a widget view with nothing to show without a kernel"
                assert text.startswith("Saved view"), f"{path.name} cell {i}: widget saved as {text[:40]!r}"
