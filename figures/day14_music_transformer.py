"""Day 14 figure: relative attention's skewing trick (Huang et al. 2018) on L = S = 4,
computed here with the same pad -> reshape -> slice as `course_lib.music.transformer.skew`
(on labels instead of numbers), so every cell shows where q_i · E_r really lands."""

from course_lib.tools.diagrams import Diagram

SUB = str.maketrans("0123456789-", "₀₁₂₃₄₅₆₇₈₉₋")
# One colour per distance r = j - i, so the diagonals can be followed from panel to panel.
DISTANCE_FILL = {0: "#fdebd3", -1: "#e3f4e1", -2: "#e8f1fb", -3: "#f3e5f5"}


def _cells(L: int = 4):
    """QEᵀ as labels: row i, column m holds (i, r) with r = m - (L - 1); the three steps."""
    qe = [[(i, m - (L - 1)) for m in range(L)] for i in range(L)]
    padded = [[None] + row for row in qe]                          # (L, L + 1)
    flat = [c for row in padded for c in row]
    reshaped = [flat[r * L:(r + 1) * L] for r in range(L + 1)]    # (L + 1, L)
    return qe, padded, reshaped, reshaped[1:]                      # drop the first row: (L, L)


def _grid(d, x, y, rows, cell=46, height=30, masked_above=False, faded_first_row=False):
    for r, row in enumerate(rows):
        for c, item in enumerate(row):
            cx, cy = x + c * cell, y + r * height
            label = "0" if item is None else f"q{item[0]}E{item[1]}".translate(SUB)
            if masked_above and c > r:                             # a future key: garbage, masked
                d.box(cx, cy, cell, height, fill="#dddddd", rounded=0, color="#999999")
                d.text(cx + cell / 2, cy + height / 2, label, size=10, color="#999999")
            elif item is None:
                d.box(cx, cy, cell, height, "0", fill="#ffffff", size=11, rounded=0, color="#999999")
            else:
                i, dist = item
                faded = faded_first_row and r == 0
                d.box(cx, cy, cell, height, label, fill="#f4f4f4" if faded else DISTANCE_FILL[dist], size=10,
                      rounded=0, color="#bbbbbb" if faded else "#555555")
    return x + len(rows[0]) * cell, y + len(rows) * height


def skewing_trick() -> Diagram:
    L, cell, h = 4, 46, 30
    qe, padded, reshaped, out = _cells(L)
    d = Diagram(1090, 330,
                title="Relative attention: the skewing trick turns Q Eᵀ into S_rel with pad → reshape → slice")
    top = 70
    xs = [45, 300, 590, 880]
    heads = ["1. Q Eᵀ  (L × S)\ncolumn = distance r", "2. pad one zero column\non the left: L × (S + 1)",
             "3. read row-major,\nreshape to (S + 1) × L", "4. drop the first row:\nS_rel (L × S), row i, key j"]
    panels = [(qe, {}), (padded, {}), (reshaped, {"faded_first_row": True}), (out, {"masked_above": True})]
    ends = []
    for x, head, (rows, kw) in zip(xs, heads, panels):
        d.text(x + len(rows[0]) * cell / 2, 22, head, size=12, bold=False)
        ends.append(_grid(d, x, top, rows, cell, h, **kw))
    for m in range(L):                                             # distances over panel 1's columns
        d.text(xs[0] + m * cell + cell / 2, top - 10, f"r = {m - (L - 1)}", size=10, italic=True)
    for j in range(L):                                             # keys over panel 4's columns
        d.text(xs[3] + j * cell + cell / 2, top - 10, f"j = {j}", size=10, italic=True)
    for i in range(L):
        d.text(xs[0] - 8, top + i * h + h / 2, f"i={i}", size=10, anchor="end", italic=True)
        d.text(xs[3] - 8, top + i * h + h / 2, f"i={i}", size=10, anchor="end", italic=True)
    for a, b in zip(range(3), range(1, 4)):
        y = top + 2 * h
        d.arrow((ends[a][0] + 8, y), (xs[b] - (34 if b == 3 else 12), y))
    d.text(xs[2] + 4 * cell + 6, top + h / 2, "← dropped", size=10, anchor="start", italic=True, color="#888888")
    d.text(545, 258, "qᵢEᵣ = q_i · E_r: query i with the learned embedding of distance r = j − i ≤ 0. "
           "Each colour is one distance:", size=12)
    d.text(545, 278, "after the skew it runs down a diagonal, so S_rel[i, j] = q_i · E_(j−i); "
           "the grey cells above it are future keys (garbage), masked anyway.", size=12)
    d.text(545, 300, "logits_ij = (q_i · k_j + S_rel[i, j]) / √d_h  —  one (L × S) matmul, "
           "no (L × L × d_h) gather of embeddings", size=12, color="#c0392b")
    return d


FIGURES = {"day14_skewing_trick.svg": skewing_trick}
