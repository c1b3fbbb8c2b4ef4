"""The SVG toolkit and `course figures`: deterministic output, clear errors, orphans."""

import xml.etree.ElementTree as ET

import pytest

from course_lib.tools import cli
from course_lib.tools.diagrams import Diagram
from course_lib.tools.figures import build_figures, render_all


def small():
    d = Diagram(300, 100, title="t < u & v")
    a = d.box(10, 30, 80, 40, "in\n(B, T)", fill="data")
    b = d.box(200, 30, 80, 40, "out", fill="model")
    d.arrow(a.right, b.left, "f", via=[(150, 50)])
    d.frame(5, 5, 290, 90, "× N")
    d.circle(150, 20)
    d.pixels(120, 60, [[0, 0.5], [1, 0.25]], cell=5)
    return d


def test_same_calls_give_the_same_valid_svg():
    first, second = small().svg(), small().svg()
    assert first == second
    root = ET.fromstring(first)                          # well-formed XML, text escaped
    assert root.get("viewBox") == "0 0 300 128"          # the title adds 28 px
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "t < u & v" in texts and "(B, T)" in texts and "in" in texts


def test_box_anchors_and_bad_sizes():
    b = Diagram(10, 10).box(2, 4, 6, 8)
    assert (b.left, b.right, b.top, b.bottom, b.center) == ((2, 8), (8, 8), (5, 4), (5, 12), (5, 8))
    with pytest.raises(ValueError, match="width and height"):
        Diagram(0, 10)


def write_module(root, name, body):
    (root / "figures").mkdir(exist_ok=True)
    (root / "figures" / name).write_text(body)


def test_build_writes_checks_and_removes_orphans(tmp_path):
    write_module(tmp_path, "day01_a.py", "from course_lib.tools.diagrams import Diagram\n"
                 "FIGURES = {'day01_a.svg': lambda: Diagram(10, 10), 'day01_b.svg': lambda: '<svg/>'}\n")
    assert build_figures(tmp_path, check=True) == ["notebooks/figures/day01_a.svg", "notebooks/figures/day01_b.svg"]
    assert len(build_figures(tmp_path)) == 2
    assert build_figures(tmp_path, check=True) == []
    (tmp_path / "notebooks" / "figures" / "old.svg").write_text("<svg/>")
    assert build_figures(tmp_path, check=True) == ["notebooks/figures/old.svg"]
    build_figures(tmp_path)
    assert sorted(p.name for p in (tmp_path / "notebooks" / "figures").iterdir()) == ["day01_a.svg", "day01_b.svg"]


def test_bad_figure_modules_are_named(tmp_path):
    write_module(tmp_path, "day01_a.py", "FIGURES = {'a.png': lambda: '<svg/>'}\n")
    with pytest.raises(ValueError, match=r"day01_a.py: figure name 'a.png' must end in .svg"):
        render_all(tmp_path)
    write_module(tmp_path, "day01_a.py", "FIGURES = {'a.svg': lambda: '<svg/>'}\n")
    write_module(tmp_path, "day02_b.py", "FIGURES = {'a.svg': lambda: '<svg/>'}\n")
    with pytest.raises(ValueError, match="day02_b.py: figure 'a.svg' is drawn twice"):
        render_all(tmp_path)


def test_course_figures_check_passes_on_the_committed_tree(capsys):
    assert cli.main(["figures", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_pixel_greys_may_differ_by_a_rounding_step_and_nothing_else():
    from course_lib.tools.figures import same_figure

    def draw(grey, label="a"):
        d = Diagram(20, 20)
        d.pixels(0, 0, [[grey / 255]], cell=5)
        d.text(5, 5, label)
        return d.svg()

    assert same_figure(draw(100), draw(102))        # another CPU's float32 rounding
    assert not same_figure(draw(100), draw(110))    # a different picture
    assert not same_figure(draw(100), draw(100, "b"))
    assert not same_figure(draw(100), Diagram(20, 20).svg())
