"""Day 21 figure: the two ways `course_lib.threed` turns a 3D scene into pixels — a ray
marched through a radiance field and composited (NeRF, `fields` + `volume`), and
Gaussians projected to the image and composited (`splats`)."""

import math

from course_lib.tools.diagrams import Diagram


def _ellipse(d: Diagram, cx: float, cy: float, rx: float, ry: float, angle_deg: float, fill: str) -> None:
    """An ellipse drawn as a polygon of 36 points (the diagram toolkit has no ellipse)."""
    a = math.radians(angle_deg)
    points = []
    for k in range(36):
        t = 2 * math.pi * k / 36
        x, y = rx * math.cos(t), ry * math.sin(t)
        points.append((cx + x * math.cos(a) - y * math.sin(a), cy + x * math.sin(a) + y * math.cos(a)))
    d.arrow(points[0], points[0], via=points[1:] + [points[0]], head=False, color="#555555")
    for px, py in points[::6]:
        d.circle(px, py, r=0.01, text="", fill=fill)


def rendering() -> Diagram:
    d = Diagram(900, 410, title="Two renderers: march a ray through a field, or splat Gaussians onto the image")

    # ---------------------------------------------------------------- NeRF (left)
    d.text(215, 40, "NeRF: one ray per pixel, S samples along it", size=12.5, italic=True, color="#555555")
    cam = d.box(20, 150, 46, 40, "eye", fill="data", size=11)
    d.box(96, 122, 10, 90, fill="cond")
    d.text(101, 108, "image plane", size=10, color="#555555")
    d.arrow(cam.right, (410, 120), "o + t·d", label_at=0.9)
    for k in range(8):
        x = 150 + 34 * k
        y = 170 - 50 * (x - 66) / 344                                  # on the ray from the eye
        filled = 3 <= k <= 5
        d.circle(x, y, r=6, text="", fill="loss" if filled else "op")
    d.text(230, 236, "samples t_1 < … < t_S: F(p) → density σ_i, colour c_i", size=11)
    d.text(230, 258, "α_i = 1 − exp(−σ_i δ_i),  T_i = Π_{j<i} (1 − α_j)", size=11, mono=True)
    d.text(230, 280, "pixel = Σ T_i α_i c_i + T_{S+1} · background", size=11, mono=True)
    d.box(20, 310, 400, 70, "F: positional encoding γ(p) → MLP (NeRF),\nor a hash grid's interpolated features → "
          "tiny MLP (Instant-NGP)\ncost per image: pixels × samples × network", fill="model", size=11)

    # ---------------------------------------------------------------- splatting (right)
    x0 = 470
    d.text(x0 + 205, 40, "3D Gaussian splatting: project, sort, composite", size=12.5, italic=True, color="#555555")
    _ellipse(d, x0 + 90, 140, 48, 22, 30, "data")
    d.text(x0 + 90, 190, "μ, Σ = R S Sᵀ Rᵀ\nopacity o, colour c", size=11)
    d.box(x0 + 250, 86, 12, 130, fill="cond")
    _ellipse(d, x0 + 256, 140, 7, 16, -20, "data")
    d.arrow((x0 + 150, 140), (x0 + 240, 140), "EWA")
    d.text(x0 + 330, 120, "Σ' = J W Σ Wᵀ Jᵀ\n+ 0.3 I", size=11, mono=True)
    d.text(x0 + 330, 170, "J: the projection's\nJacobian at μ", size=10, color="#555555")
    d.box(x0, 250, 410, 130, "per pixel p, the Gaussians front to back (sorted by depth):\n"
          "α_i = o_i exp(−½ (p − μ'_i)ᵀ Σ'_i⁻¹ (p − μ'_i))   (0 outside 3σ)\n"
          "pixel = Σ T_i α_i c_i — the same compositing as NeRF\n"
          "cost per image: pixels × the Gaussians that touch them (tiles)", fill="model", size=11)
    return d


FIGURES = {"day21_rendering.svg": rendering}
