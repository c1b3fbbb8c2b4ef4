"""Concept figures as plain SVG: boxes, arrows, labels, pixel grids.

The lessons' architecture figures are drawn by small Python functions in `figures/`
(one module per day) with this toolkit, and written to `notebooks/figures/*.svg` by
`course figures`. The SVG text depends only on the drawing calls (fixed number format,
no timestamps, no random ids), so a test can regenerate every figure and compare it
with the committed file, and the files diff cleanly in review.

    d = Diagram(420, 120, title="DDPM: the forward chain")
    x0 = d.box(10, 40, 80, 40, "x₀", fill="data")
    x1 = d.box(160, 40, 80, 40, "x₁", fill="data")
    d.arrow(x0.right, x1.left, "q(x₁|x₀)")
    d.svg()   # -> str

Coordinates are SVG pixels, origin top left, y down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

# One palette for every figure, so a colour means the same thing across the course.
PALETTE = {
    "data": "#e8f1fb",       # inputs, outputs, tensors (blue)
    "model": "#fdebd3",      # learned layers (orange)
    "frozen": "#eeeeee",     # fixed / not trained (grey)
    "op": "#ffffff",         # parameter-free operations
    "loss": "#fbe0e0",       # losses and targets (red)
    "cond": "#e3f4e1",       # conditioning: time, class, text, speaker (green)
    "note": "#fff8c4",       # annotations (yellow)
    "none": "none",
}
STROKE = "#333333"
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"


def _n(value: float) -> str:
    """A coordinate as short, stable text: at most two decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True)
class Box:
    """A drawn rectangle and its anchor points (x, y) for arrows."""
    x: float
    y: float
    w: float
    h: float

    @property
    def left(self) -> tuple[float, float]:
        return (self.x, self.y + self.h / 2)

    @property
    def right(self) -> tuple[float, float]:
        return (self.x + self.w, self.y + self.h / 2)

    @property
    def top(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y)

    @property
    def bottom(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y + self.h)

    @property
    def center(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y + self.h / 2)


class Diagram:
    """An SVG canvas of `width` × `height` pixels with an optional title line on top
    (the title adds 28 px above the drawing area; coordinates start below it)."""

    def __init__(self, width: float, height: float, title: str | None = None):
        if width <= 0 or height <= 0:
            raise ValueError(f"width and height must be positive; got {width} × {height}")
        self.width, self.height, self.title = width, height, title
        self.top = 28 if title else 0
        self._items: list[str] = []

    # ------------------------------------------------------------ shapes
    def box(self, x: float, y: float, w: float, h: float, text: str = "", fill: str = "model",
            size: float = 13, dashed: bool = False, rounded: float = 6, bold: bool = False,
            color: str = STROKE) -> Box:
        """A rectangle with centred text (lines split on \\n). `fill` is a PALETTE key
        or any SVG colour."""
        y0 = y + self.top
        dash = ' stroke-dasharray="5,3"' if dashed else ""
        self._items.append(
            f'<rect x="{_n(x)}" y="{_n(y0)}" width="{_n(w)}" height="{_n(h)}" rx="{_n(rounded)}" '
            f'fill="{PALETTE.get(fill, fill)}" stroke="{color}" stroke-width="1.2"{dash}/>')
        if text:
            self.text(x + w / 2, y + h / 2, text, size=size, bold=bold)
        return Box(x, y, w, h)

    def frame(self, x: float, y: float, w: float, h: float, label: str = "", fill: str = "none") -> Box:
        """A dashed region around a group of boxes, its label in the top-left corner
        (e.g. "× N blocks")."""
        box = self.box(x, y, w, h, fill=fill, dashed=True, rounded=10, color="#888888")
        if label:
            self.text(x + 8, y + 14, label, size=11, anchor="start", italic=True, color="#555555")
        return box

    def circle(self, cx: float, cy: float, r: float = 11, text: str = "+", fill: str = "op",
               size: float = 14) -> Box:
        """A small circle for a parameter-free operation (+, ×, ⊙, concat)."""
        self._items.append(f'<circle cx="{_n(cx)}" cy="{_n(cy + self.top)}" r="{_n(r)}" '
                           f'fill="{PALETTE.get(fill, fill)}" stroke="{STROKE}" stroke-width="1.2"/>')
        self.text(cx, cy, text, size=size)
        return Box(cx - r, cy - r, 2 * r, 2 * r)

    def text(self, x: float, y: float, text: str, size: float = 13, anchor: str = "middle",
             bold: bool = False, italic: bool = False, color: str = STROKE, mono: bool = False) -> None:
        """Text centred vertically on y; several lines (\\n) are stacked around y."""
        lines = text.split("\n")
        style = (' font-weight="bold"' if bold else "") + (' font-style="italic"' if italic else "")
        family = "DejaVu Sans Mono, Menlo, Consolas, monospace" if mono else FONT
        for i, line in enumerate(lines):
            dy = (i - (len(lines) - 1) / 2) * size * 1.2
            self._items.append(
                f'<text x="{_n(x)}" y="{_n(y + self.top + dy)}" font-family="{family}" '
                f'font-size="{_n(size)}" text-anchor="{anchor}" dominant-baseline="central" '
                f'fill="{color}"{style}>{escape(line)}</text>')

    def arrow(self, start: tuple[float, float], end: tuple[float, float], label: str = "",
              via: list[tuple[float, float]] | None = None, dashed: bool = False,
              color: str = STROKE, label_at: float = 0.5, label_offset: float = -9,
              head: bool = True) -> None:
        """A line from `start` through the `via` points to `end`, with an arrow head at
        `end` and an optional label beside the segment that holds `label_at` (0–1) of
        the path's length."""
        points = [start, *(via or []), end]
        path = " ".join(f"{_n(px)},{_n(py + self.top)}" for px, py in points)
        dash = ' stroke-dasharray="5,3"' if dashed else ""
        self._items.append(f'<polyline points="{path}" fill="none" stroke="{color}" '
                           f'stroke-width="1.4"{dash}/>')
        if head:
            (x1, y1), (x2, y2) = points[-2], points[-1]
            angle = math.atan2(y2 - y1, x2 - x1)
            wing = [(x2 - 9 * math.cos(angle + s * 0.42), y2 - 9 * math.sin(angle + s * 0.42))
                    for s in (-1, 1)]
            tri = " ".join(f"{_n(px)},{_n(py + self.top)}" for px, py in [(x2, y2), *wing])
            self._items.append(f'<polygon points="{tri}" fill="{color}"/>')
        if label:
            lengths = [math.dist(p, q) for p, q in zip(points, points[1:])]
            target, walked = label_at * sum(lengths), 0.0
            for (p, q), length in zip(zip(points, points[1:]), lengths):
                if walked + length >= target or (p, q) == (points[-2], points[-1]):
                    f = (target - walked) / length if length else 0.5
                    mx, my = p[0] + f * (q[0] - p[0]), p[1] + f * (q[1] - p[1])
                    vertical = abs(q[0] - p[0]) < abs(q[1] - p[1])
                    if vertical:
                        self.text(mx + 6, my, label, size=11, anchor="start", italic=True)
                    else:
                        self.text(mx, my + label_offset, label, size=11, italic=True)
                    break
                walked += length

    def pixels(self, x: float, y: float, image, cell: float = 4, border: bool = True) -> Box:
        """A small grayscale image (2-D array-like, values in [0, 1]; 1 = white) drawn as
        one rectangle per pixel: vector, so it stays sharp at any zoom."""
        rows = [[min(1.0, max(0.0, float(v))) for v in row] for row in image]
        for r, row in enumerate(rows):
            for c, v in enumerate(row):
                g = round(255 * v)
                self._items.append(f'<rect x="{_n(x + c * cell)}" y="{_n(y + self.top + r * cell)}" '
                                   f'width="{_n(cell)}" height="{_n(cell)}" fill="rgb({g},{g},{g})"/>')
        w, h = cell * (len(rows[0]) if rows else 0), cell * len(rows)
        if border:
            self._items.append(f'<rect x="{_n(x)}" y="{_n(y + self.top)}" width="{_n(w)}" height="{_n(h)}" '
                               f'fill="none" stroke="{STROKE}" stroke-width="0.8"/>')
        return Box(x, y, w, h)

    # ------------------------------------------------------------ output
    def svg(self) -> str:
        """The figure as SVG text (deterministic: same calls, same bytes)."""
        total = self.height + self.top
        head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(self.width)}" height="{_n(total)}" '
                f'viewBox="0 0 {_n(self.width)} {_n(total)}">')
        body = [f'<rect width="100%" height="100%" fill="white"/>']
        if self.title:
            body.append(f'<text x="{_n(self.width / 2)}" y="17" font-family="{FONT}" font-size="15" '
                        f'text-anchor="middle" font-weight="bold" fill="{STROKE}">{escape(self.title)}</text>')
        return "\n".join([head, *body, *self._items, "</svg>"]) + "\n"
