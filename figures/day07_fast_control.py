"""Day 07 figures: consistency distillation of day 04's DiT (the teacher's many DDIM
steps, the student's one jump, multistep sampling, the training pair), and the two ways
the lesson steers a frozen model: a ControlNet on the DiT and a LoRA on day 05's video DiT.
Every number comes from the library's cpu presets."""

from course_lib.diffusion.camera_lora_train import CAMERA_LORA_PRESETS
from course_lib.diffusion.consistency import SIGMA_DATA, TIMESTEP_SCALING
from course_lib.diffusion.controlnet_train import CONTROLNET_PRESETS
from course_lib.diffusion.distill_train import CONSISTENCY_PRESETS
from course_lib.tools.diagrams import Diagram

RECIPE = CONSISTENCY_PRESETS["cpu"]
CONTROL = CONTROLNET_PRESETS["cpu"]
LORA = CAMERA_LORA_PRESETS["cpu"]
DIGIT = 3                     # index into load_digits16(): a "3"
STUDENT = "#d35400"           # the student's jumps (orange, as learned layers)
LOSS = "#c0392b"


def _ink(x):
    """(1, 1, H, W) tensor in [-1, 1] -> (H, W) array in [0, 1], ink dark on white."""
    return ((1 - x.clamp(-1, 1)) / 2)[0, 0].numpy()


def _trajectory(steps):
    """The training digit and q_sample(x₀, t, ε) with one fixed ε (seed 0) on the
    teacher's schedule: {t: (16, 16) image}, t = 0 giving x₀ itself."""
    import torch

    from course_lib.data.digits import load_digits16
    from course_lib.diffusion.ddpm import q_sample
    from course_lib.diffusion.schedules import make_schedule

    x0 = load_digits16()[0][DIGIT:DIGIT + 1]
    schedule = make_schedule(RECIPE.teacher.schedule, RECIPE.teacher.num_steps)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
    return {t: _ink(q_sample(x0, torch.tensor([t]), noise, schedule) if t else x0) for t in steps}


def _c_skip(t):
    """c_skip at timestep t, from the library's `boundary_coefficients`."""
    import torch

    from course_lib.diffusion.consistency import boundary_coefficients

    return float(boundary_coefficients(torch.tensor([t]))[0][0])


def consistency() -> Diagram:
    from course_lib.diffusion.ddpm import ddim_timesteps

    k, w, T = RECIPE.skip, RECIPE.guidance, RECIPE.teacher.num_steps
    grid = [T - 1] + list(range(T - 100, 0, -100)) + [0]              # drawn: 999, 900, ..., 100, 0
    t_n = 2 * k                                                        # a grid point of the training pair
    images = _trajectory(sorted(set(grid) | {t_n, t_n - k}))
    d = Diagram(860, 585, title="Consistency distillation: the teacher's many steps become one jump")

    # --- 1. the trajectory: teacher steps above, student jumps below
    d.text(10, 8, "1. Sampling walks the probability-flow trajectory from noise x_T to a clean digit",
           size=13, anchor="start", bold=True)
    d.text(430, 34, f"teacher (day 04's DiT, frozen): guided DDIM steps →, each 2 network passes "
           f"(conditional + null, w = {w:g}); drawn every 100", size=11, italic=True)
    cell, step, x_left, y_img = 3, 76, 30, 70
    size = 16 * cell
    centers = []
    for i, t in enumerate(grid):
        x = x_left + i * step
        d.pixels(x, y_img, images[t], cell=cell)
        label = {0: f"x_T, t = {t}", len(grid) - 1: "x₀, t = 0"}.get(i, f"{t}")
        d.text(x + size / 2, y_img - 12, label, size=10)
        centers.append(x + size / 2)
        if i:
            d.arrow((x - step + size + 4, y_img + size / 2), (x - 4, y_img + size / 2))
    end, bottom = centers[-1], y_img + size
    for j, (i, level) in enumerate(((0, 150), (3, 138), (6, 126))):
        dx = 10 * (1 - j)
        d.arrow((centers[i], bottom + 2), (end + dx, bottom + 2), via=[(centers[i], level), (end + dx, level)],
                color=STUDENT)
    d.text(430, 164, "student f_θ(x_t, t): ONE network call from any point of the trajectory lands on "
           "its end", size=11, italic=True, color=STUDENT)

    # --- 2. the parametrisation
    y2 = 192
    d.text(10, y2, "2. The student's output", size=13, anchor="start", bold=True)
    d.box(10, y2 + 16, 420, 96, fill="note")
    d.text(20, y2 + 30, "f_θ(x_t, t) = c_skip(t) · x_t + c_out(t) · x̂₀(x_t, t)", size=12, anchor="start")
    d.text(20, y2 + 52, "c_skip = σ_d² / ((s·t)² + σ_d²),   c_out = s·t / √((s·t)² + σ_d²)", size=11,
           anchor="start")
    d.text(20, y2 + 72, f"σ_d = {SIGMA_DATA:g}, s = {TIMESTEP_SCALING:g} (LCM): t = 0 → c_skip = 1, c_out = 0, "
           "f = identity", size=11, anchor="start")
    d.text(20, y2 + 92, f"t = 1 → c_skip = {_c_skip(1):.4f}; t ≥ {k}: f ≈ x̂₀ (from ε̂, clipped to [−1, 1])",
           size=11, anchor="start")

    # --- 3. multistep sampling
    d.text(450, y2, "3. Multistep sampling: jump, re-noise, jump", size=13, anchor="start", bold=True)
    ts = ddim_timesteps(T, 4)
    bw, bh, top, low = 62, 26, y2 + 20, y2 + 70
    for i, t in enumerate(ts):
        xt = d.box(450 + i * 100, top, bw, bh, f"x_{t}", fill="data", size=11)
        xh = d.box(490 + i * 100, low, bw, bh, "x̂₀" if i < len(ts) - 1 else "sample", fill="data", size=11)
        d.arrow((xt.x + 20, top + bh), (xh.x + 20, low), color=STUDENT)
        if i < len(ts) - 1:
            d.arrow((xh.x + bw - 8, low), (xh.x + bw + 18, top + bh), dashed=True)
    d.text(450, y2 + 112, f"orange: f_θ, 1 call ({len(ts)} in all);  dashed: q_sample to the next t with",
           size=11, anchor="start")
    d.text(450, y2 + 128, "fresh ε (no call). The teacher at DDIM-50: 50 × 2 = 100 passes.", size=11,
           anchor="start")

    # --- 4. the training pair
    Y = 350
    d.text(10, Y, f"4. One training pair: the student must agree with its EMA target one teacher step "
           f"(k = {k}) later", size=13, anchor="start", bold=True)
    x0 = d.pixels(20, Y + 56, images[0], cell=cell)
    d.text(x0.center[0], Y + 116, "x₀, label y", size=11)
    xt = d.pixels(150, Y + 56, images[t_n], cell=cell)
    d.text(xt.center[0], Y + 116, f"x_(t_n), t_n = {t_n}", size=11)
    d.arrow(x0.right, xt.left, "q_sample, ε")
    cy = xt.center[1]
    student = d.box(520, Y + 22, 170, 44, "student f_θ(x_(t_n), t_n)\ninitialised as the teacher", size=11)
    teacher = d.box(265, Y + 101, 185, 54, f"teacher: DDIM step\nt_n → t_n − {k}, w = {w:g}\n(no grad)",
                    fill="frozen", size=11)
    xp = d.pixels(462, Y + 104, images[t_n - k], cell=cell)
    d.text(xp.center[0], Y + 164, f"x̂_(t_n − {k})", size=11)
    target = d.box(520, Y + 106, 170, 44, f"EMA target f_θ⁻(·, t_n − {k})\n(no grad)", fill="frozen",
                   size=11, dashed=True)
    d.arrow(xt.right, student.left, via=[(245, cy), (245, student.center[1])])
    d.arrow((245, cy), teacher.left, via=[(245, teacher.center[1])])
    d.arrow(teacher.right, xp.left)
    d.arrow(xp.right, target.left)
    d.arrow((545, student.y + student.h), (545, target.y), dashed=True)
    d.text(537, Y + 86, f"after each step: θ⁻ ← {RECIPE.ema_decay:g} θ⁻ + {1 - RECIPE.ema_decay:.2f} θ",
           size=11, anchor="end", italic=True)
    loss = d.box(712, Y + 56, 140, 56, "‖ f_θ(…) − f_θ⁻(…) ‖²\nmean; gradient\nto θ only", fill="loss",
                 size=11)
    d.arrow(student.right, (loss.x, loss.y + 14), via=[(700, student.center[1]), (700, loss.y + 14)])
    d.arrow(target.right, (loss.x, loss.y + loss.h - 14),
            via=[(700, target.center[1]), (700, loss.y + loss.h - 14)])
    tr = RECIPE.train
    d.text(10, Y + 184, f"t_n = n · {k}, n random in 1…{T // k} ({T:,} clamps to {T - 1}); "
           f"{tr.steps:,} steps, batch {tr.batch_size}, lr {tr.lr:g}.", size=11, anchor="start")
    d.text(10, Y + 202, "Orange: learned; grey: frozen (the teacher) or not trained by gradient (the EMA target); "
           "red: loss; blue: tensors.", size=11, anchor="start", color="#555555", italic=True)
    d.text(10, Y + 219, "Digits: a training digit and q_sample(x₀, t, ε) with one fixed ε, standing in for "
           "the trajectory.", size=11, anchor="start", color="#555555", italic=True)
    return d


def _edge_digit():
    """The ControlNet's condition for one training digit: (16, 16), edges dark on white."""
    from course_lib.data.digits import load_digits16
    from course_lib.diffusion.controlnet import edge_map

    return _ink(edge_map(load_digits16()[0][DIGIT:DIGIT + 1], CONTROL.threshold))


def _counts():
    """(frozen DiT, ControlNet branch, video DiT, its LoRA) parameter counts of untrained models."""
    import torch

    from course_lib.diffusion.controlnet import ControlDiT
    from course_lib.diffusion.dit import DiT
    from course_lib.diffusion.video_dit_train import new_video_dit
    from course_lib.nn import lora

    torch.manual_seed(0)
    control = ControlDiT(DiT(CONTROL.base.model), n_blocks=CONTROL.n_blocks)
    n_dit = sum(p.numel() for p in control.base.parameters())
    n_control = sum(p.numel() for p in control.control_parameters())
    video = new_video_dit(LORA.video)
    n_video = sum(p.numel() for p in video.parameters())
    wrapped = lora.add_lora(video, LORA.rank, LORA.alpha)
    n_lora = sum(p.numel() for p in lora.lora_parameters(video))
    return n_dit, n_control, n_video, n_lora, len(wrapped)


def control() -> Diagram:
    n, depth, dim = CONTROL.n_blocks, CONTROL.base.model.depth, CONTROL.base.model.dim
    patch = CONTROL.base.model.patch
    n_dit, n_control, n_video, n_lora, n_layers = _counts()
    d = Diagram(860, 540, title="Steering a frozen model: ControlNet adds a trained branch, LoRA a low-rank update")

    # --- ControlNet
    d.text(10, 8, f"ControlNet on day 04's DiT (copies the first {n} of {depth} blocks)", size=13,
           anchor="start", bold=True)
    fx, fw = 285, 140                                  # the frozen column
    fc = fx + fw / 2
    inp = d.box(fx, 30, fw, 30, "x_t, t, label y", fill="data", size=11)
    emb = d.box(fx, 80, fw, 40, "embed: patches + pos,\nc = t_emb + y_emb", fill="frozen", size=10)
    d.arrow(inp.bottom, emb.top)
    prev = emb
    rows = []
    for i in range(depth):
        y = 150 + i * 90
        blk = d.box(fx, y, fw, 36, f"block{i}", fill="frozen", size=12)
        d.arrow(prev.bottom, blk.top)
        prev = blk
        if i < n:
            plus = d.circle(fc, y + 65)
            d.arrow(blk.bottom, plus.top)
            prev = plus
            rows.append((y + 65, plus))
    final = d.box(fx, 395, fw, 34, "final layer", fill="frozen", size=12)
    d.arrow(prev.bottom, final.top)
    eps = d.box(fx + 30, 450, fw - 60, 28, "ε̂", fill="data", size=13)
    d.arrow(final.bottom, eps.top)
    d.text(fc, 493, f"frozen: dim {dim}, depth {depth}", size=11, color="#555555", italic=True)

    cx, cw = 65, 140                                   # the trainable column
    cc = cx + cw / 2
    d.box(cc - 28, 22, 56, 56, fill="cond", rounded=4)
    edges = d.pixels(cc - 24, 26, _edge_digit(), cell=3)
    d.text(cc + 40, 48, "condition:\nedge_map(x₀)", size=11, anchor="start", color="#2e7d32")
    cemb = d.box(cx, 88, cw, 36, f"cond_embed\nConv k = s = {patch}", size=10)
    d.arrow((cc, edges.y + edges.h + 4), cemb.top)
    zin = d.box(cx, 134, cw, 28, "zero_in: Linear = 0", size=10)
    d.arrow(cemb.bottom, zin.top)
    hplus = d.circle(cc, 185)
    d.arrow(zin.bottom, hplus.top)
    d.arrow(emb.left, hplus.right, via=[(245, emb.center[1]), (245, 185)])
    d.text(212, 175, "tokens", size=11, italic=True)
    prev = hplus
    for i, (y, plus) in enumerate(rows):
        cp = d.box(cx, y - 18, cw, 36, f"copy{i} (of block{i})", size=11)
        d.arrow(prev.bottom, cp.top)
        z = d.box(222, y - 13, 46, 26, "zero" + "₀₁₂₃₄₅"[i], size=11)
        d.arrow(cp.right, z.left)
        d.arrow(z.right, plus.left)
        prev = cp
    d.text(10, 388, f"zero_in, zero₀, zero₁: Linear {dim}→{dim},\nweight = bias = 0, so each is\n"
           "= 0 at init: the untrained ControlNet\nchanges nothing. Training can only\nadd what helps. "
           "(The copies get\nthe frozen model's c too.)",
           size=11, anchor="start")
    d.text(10, 476, f"trained: {n_control:,} parameters\n(copies, cond_embed, zero layers)\n"
           f"beside the {n_dit:,} frozen", size=11, anchor="start", color="#555555")
    d.arrow((466, 0), (466, 510), head=False, color="#bbbbbb")

    # --- LoRA
    r, alpha = LORA.rank, LORA.alpha
    vd = LORA.video.model.dim
    d.text(480, 8, f"LoRA on day 05's video DiT (rank {r}, α = {alpha:g})", size=13, anchor="start", bold=True)
    u = 1.5                                            # pixels per matrix entry
    x = d.box(485, 135, 62, 40, f"x\n(…, {vd})", fill="data", size=11)
    W = d.box(590, 50, vd * u, vd * u, f"W\n{vd} × {vd}\n(out × in)\nfrozen", fill="frozen", size=11)
    A = d.box(590, 215, vd * u, r * u, fill="model", rounded=1)
    d.text(590, 240, f"A: r × in = {r} × {vd}\nrandom init", size=10, anchor="start")
    B = d.box(720, 150, r * u, vd * u, fill="model", rounded=1)
    d.text(732, 215, f"B: out × r\n= {vd} × {r}\n= 0 at init", size=10, anchor="start")
    scale = d.circle(B.center[0], 120, r=14, text="α/r", size=10)
    plus = d.circle(B.center[0], 82)
    y = d.box(775, 67, 72, 30, f"y (…, {vd})", fill="data", size=11)
    d.arrow(x.top, W.left, via=[(x.top[0], W.center[1])])
    d.arrow(x.bottom, A.left, via=[(x.bottom[0], A.center[1])])
    d.arrow(A.right, (B.x, A.center[1]))
    d.arrow(B.top, scale.bottom)
    d.arrow(scale.top, plus.bottom)
    d.arrow((W.x + W.w, plus.center[1]), plus.left)
    d.arrow(plus.right, y.left)
    d.text(480, 268, f"y = x Wᵀ + b + (α/r) · x Aᵀ Bᵀ,  α/r = {alpha:g}/{r} = {alpha / r:g}", size=11,
           anchor="start")
    d.text(480, 288, "B = 0: the untrained adapter changes nothing; only A, B train.", size=11, anchor="start")
    d.text(480, 308, "After training, merge: W ← W + (α/r) B A", size=11, anchor="start")
    d.text(480, 326, "(one matrix again: no extra cost at inference).", size=11, anchor="start")

    # where: the q, k, v, out projections of every attention block
    d.text(480, 356, "Where: q, k, v, out of every attention block", size=11, anchor="start", bold=True)
    blocks = LORA.video.model.depth
    for row, kind in enumerate(("spatial", "temporal")):
        yy = 372 + row * 34
        d.text(480, yy + 13, kind, size=10, anchor="start")
        for b in range(blocks):
            bx = 540 + b * 104
            d.box(bx, yy, 98, 26, fill="frozen", rounded=4)
            for j, name in enumerate(("q", "k", "v", "o")):
                d.box(bx + 4 + j * 23.5, yy + 4, 20, 18, name, size=10, rounded=2)
    d.text(480, 452, f"{n_layers} Linear {vd}→{vd}, each r·(in + out) = {r * 2 * vd} new numbers", size=11,
           anchor="start")
    d.text(480, 470, f"trained: {n_lora:,} of the base's {n_video:,} = {100 * n_lora / n_video:.2f} %",
           size=11, anchor="start", bold=True)
    d.text(430, 522, "grey: frozen (trained before, not updated); orange: trained here; green: the condition; "
           "blue: tensors", size=11, color="#555555", italic=True)
    return d


FIGURES = {"day07_consistency.svg": consistency, "day07_control.svg": control}
