"""Day 08 figures: how a caption conditions the video DiT (words -> ids -> caption
tokens; the pooled caption in adaLN, the tokens in cross-attention after each spatial
block, the null caption of guidance), and the two other models of the day: the
factorized 3D U-Net beside the DiT, and image-to-video's channel-concatenated first
frame with SDEdit. Every size, count and id comes from the library's cpu presets
(TEXT_VIDEO_PRESETS, IMAGE_TO_VIDEO_PRESETS, UNET_VIDEO_PRESETS), its tokenizer and the models it builds; the
digits are real clips of the day's captioned test split."""

from inspect import signature

from course_lib.data.captions import MAX_WORDS, NULL, NULL_CAPTION, PAD, WORDS, tokenize
from course_lib.diffusion.text_video_train import IMAGE_TO_VIDEO_PRESETS, TEXT_VIDEO_PRESETS, UNET_VIDEO_PRESETS
from course_lib.diffusion.video_dit import edit_video
from course_lib.tools.diagrams import Box, Diagram

RECIPE = TEXT_VIDEO_PRESETS["cpu"]            # the caption video DiT
I2V = IMAGE_TO_VIDEO_PRESETS["cpu"]           # image-to-video, fine-tuned from it
UNET = UNET_VIDEO_PRESETS["cpu"]              # the 3D U-Net on the same captions
CAPTIONS = ("a 3 moving up-left", "a 7 moving down")   # five words; four and one <pad>
EDIT = ("a 3 moving left", "a 8 moving left")           # SDEdit: a real clip and its new caption
STRENGTH = signature(edit_video).parameters["strength"].default
GREEN = "#2e8b57"
QUERY, KEY, CROSS = "#f39c12", "#5b9bd5", "#c0392b"
MUTED = "#555555"


# ---------------------------------------------------------------- helpers

def _ink(frame):
    """(H, W) tensor in [-1, 1] -> (H, W) array in [0, 1], ink dark on white."""
    return ((1 - frame.clamp(-1, 1)) / 2).numpy()


def _cross_out(d: Diagram, x: float, y: float, w: float, h: float) -> None:
    """A red X over the rectangle (x, y, w, h): a masked (padding) slot."""
    d.arrow((x + 3, y + 3), (x + w - 3, y + h - 3), head=False, color=CROSS)
    d.arrow((x + 3, y + h - 3), (x + w - 3, y + 3), head=False, color=CROSS)


def _grid(d: Diagram, x: float, y: float, rows: int, cols: int, lit, cell: float = 9,
          query: tuple[int, int] | None = None) -> None:
    """A rows x cols grid of tokens (frames x patch positions): `lit(r, c)` blue, `query` orange."""
    for r in range(rows):
        for c in range(cols):
            fill = QUERY if (r, c) == query else (KEY if lit(r, c) else "white")
            d.box(x + c * cell, y + r * cell, cell, cell, fill=fill, rounded=0)


def _params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def _zero_tag(d: Diagram, x: float, y: float, text: str = "= 0 at init") -> None:
    d.text(x, y, text, size=10, anchor="start", italic=True, color=CROSS)


# ---------------------------------------------------------------- figure 1: the caption block

def _words(d: Diagram, x: float, y: float, text: str, cell: float = 56) -> float:
    """The caption, its words and their ids (a PAD slot crossed out); returns the bottom y."""
    ids, pad = tokenize([text])
    d.text(x, y, f'"{text}"', size=12, anchor="start", mono=True)
    for i, (word_id, is_pad) in enumerate(zip(ids[0].tolist(), pad[0].tolist())):
        bx = x + i * (cell + 4)
        d.box(bx, y + 12, cell, 36, f"{WORDS[word_id]}\n{word_id}", fill="frozen" if is_pad else "data", size=11)
        if is_pad:
            _cross_out(d, bx, y + 12, cell, 36)
    return y + 48


def _caption_tokens(d: Diagram, x: float, y: float, cell: float = 56) -> float:
    """(B, L) caption token cells for CAPTIONS, PAD positions crossed out (= 0)."""
    _, pad = tokenize(list(CAPTIONS))
    for row, mask in enumerate(pad.tolist()):
        for i, is_pad in enumerate(mask):
            bx, by = x + i * (cell + 4), y + row * 26
            d.box(bx, by, cell, 22, "0" if is_pad else f"h{'₁₂₃₄₅₆₇₈₉'[i]}", fill="frozen" if is_pad else "cond",
                  size=11, rounded=3)
            if is_pad:
                _cross_out(d, bx, by, cell, 22)
    return y + 26 * len(CAPTIONS) - 4


def _words_to_c(d: Diagram) -> tuple[float, float]:
    """Left column: captions -> ids -> TextEncoder -> tokens, pooled -> c. Returns the
    y of the tokens row (for the cross-attention arrow) and of c (for the adaLN arrows)."""
    text, dim = RECIPE.text, RECIPE.model.dim
    d.text(10, 8, "1. Words → ids → caption tokens", size=13, anchor="start", bold=True)
    d.text(10, 26, f"vocabulary: {len(WORDS)} words; id {WORDS.index(PAD)} = {PAD}, {WORDS.index(NULL)} = {NULL}",
           size=11, anchor="start", color=MUTED)
    y = 44
    for caption in CAPTIONS:
        bottom = _words(d, 20, y, caption)
        y = bottom + 22
    d.arrow((168, bottom + 4), (168, bottom + 28), f"ids, pad: (B, L = {MAX_WORDS})")
    enc = d.box(20, bottom + 28, 296, 58, f"TextEncoder: Embedding({text.vocab_size} → {text.dim}) + sin-cos pos\n"
                f"{text.depth} × EncoderBlock: self-attention, PAD keys masked\nLayerNorm, then 0 at the PAD positions",
                size=11)
    top = enc.y + enc.h + 26
    d.arrow((80, enc.y + enc.h), (80, top - 2), f"caption tokens (B, L = {MAX_WORDS}, Dt = {text.dim})")
    bottom = _caption_tokens(d, 20, top)

    real = " and ".join(str(int(n)) for n in (~tokenize(list(CAPTIONS))[1]).sum(dim=1))
    pooled = d.box(20, bottom + 26, 296, 36, "pooled = mean of each caption's real tokens\n"
                   f"({real} here): (B, Dt = {text.dim})", fill="cond", size=11)
    d.arrow((168, bottom + 2), pooled.top)
    proj = d.box(20, pooled.y + pooled.h + 18, 180, 36, f"pool_proj: Linear({text.dim} → {dim})\n"
                 "weight = 0 at init", size=11, dashed=True)
    d.arrow((110, pooled.y + pooled.h), proj.top)
    plus = d.circle(110, proj.y + proj.h + 26, 11, "+", fill="cond")
    d.arrow(proj.bottom, plus.top)
    temb = d.box(215, plus.center[1] - 15, 101, 30, "t_embedder(t)", fill="cond", size=11)
    d.arrow(temb.left, plus.right)
    c = d.box(20, plus.y + plus.h + 14, 240, 34, f"c = t_emb + pool_proj(pooled)\n(B, D = {dim}): every block's adaLN",
              fill="cond", size=11)
    d.arrow(plus.bottom, (plus.center[0], c.y))
    return top + 24, c.center[1]


def _attention_row(d: Diagram, y: float, text: str, caption: str, gt: int, s: int, highlight) -> Box:
    """A self-attention block's box and its token-grid picture (`highlight(row, col)`: the
    tokens the query at (3, 4) attends to)."""
    box = d.box(372, y, 330, 66, text, size=11)
    d.text(725, y - 2, caption, size=10, anchor="start", color=MUTED)
    _grid(d, 740, y + 8, gt, s, highlight, cell=7, query=(3, 4))
    return box


def _cross_row(d: Diagram, y: float, gt: int, s: int, dim: int, heads: int) -> Box:
    box = d.box(372, y, 252, 98, f"cross_blocks[i]: CrossAttentionBlock\nx + CrossAttn(LN(x), tokens, pad)\n"
                f"Q: every video token (B·T', S, D)\nK, V: the caption tokens, per frame\n"
                f"(B·T', L, Dt); {heads} heads; PAD keys masked", size=11)
    zero = d.box(632, y, 70, 98, f"out_proj\nLinear\n{dim} → {dim}", size=11, dashed=True)
    _zero_tag(d, zero.x + 4, y + 84)
    d.arrow(box.right, zero.left)
    # the picture: one query token reads the caption's keys
    gx, gy, cell = 725, y + 14, 7
    _grid(d, gx, gy, gt, s, lambda r, col: False, cell=cell, query=(3, 4))
    qx, qy = gx + 4.5 * cell, gy + 3.5 * cell
    ids, pad = tokenize([CAPTIONS[1]])
    kx = 850
    for i, (word_id, is_pad) in enumerate(zip(ids[0].tolist(), pad[0].tolist())):
        ky = y + 2 + i * 19
        d.box(kx, ky, 66, 16, WORDS[word_id], fill="frozen" if is_pad else "cond", size=10, rounded=3)
        d.arrow((qx, qy), (kx - 2, ky + 8), head=False, color=CROSS if is_pad else KEY, dashed=is_pad)
        if is_pad:
            _cross_out(d, kx, ky, 66, 16)
    d.text(790, y + 106, f'query → keys of "{CAPTIONS[1]}"', size=10, color=MUTED)
    return box


def _guidance_inset(d: Diagram, x: float, y: float) -> None:
    d.box(x, y, 558, 118, fill="note")
    d.text(x + 10, y + 14, "Classifier-free guidance: the null caption", size=12, anchor="start", bold=True)
    ids, pad = tokenize([NULL_CAPTION])
    for i, word_id in enumerate(ids[0].tolist()):
        d.box(x + 10 + i * 52, y + 30, 48, 30, f"{WORDS[word_id]}\n{word_id}", fill="cond", size=10)
    d.text(x + 10, y + 74, f"{NULL} × {MAX_WORDS}, no {PAD}: attention", size=11, anchor="start")
    d.text(x + 10, y + 90, "always has keys to read", size=11, anchor="start")
    tx = x + 285
    d.text(tx, y + 36, "training: a caption becomes the null", size=11, anchor="start")
    d.text(tx, y + 52, f"caption with p = {RECIPE.caption_dropout:g}", size=11, anchor="start")
    d.text(tx, y + 70, "sampling: two passes per step, then", size=11, anchor="start")
    d.text(tx, y + 88, "ε̂ = ε̂_null + w · (ε̂_cond − ε̂_null)", size=12, anchor="start", bold=True)
    d.text(tx, y + 106, f"(the same mix for any prediction; ours is {RECIPE.base.prediction})", size=10,
           anchor="start", color=MUTED)


def caption_block() -> Diagram:
    cfg = RECIPE.model
    gt, s, dim = cfg.grid[0], cfg.tokens_per_frame, cfg.dim
    d = Diagram(940, 594, title="A caption conditions the video DiT twice: pooled in adaLN, "
                "token by token in cross-attention")
    tokens_y, c_y = _words_to_c(d)

    d.text(360, 8, f"2. One block of the caption video DiT on T' × S = {gt} × {s} tokens", size=13,
           anchor="start", bold=True)
    d.frame(360, 24, 572, 388, f"× depth = {cfg.depth}  (blocks[i], cross_blocks[i], temporal_blocks[i])")
    sp = _attention_row(d, 48, f"blocks[i]: AdaLNZeroBlock, spatial self-attention\n"
                        f"within each frame: (B·T', S, D) = (B·{gt}, {s}, {dim})\n"
                        "adaLN scale, shift, gate from c", "one frame attends within itself", gt, s,
                        lambda r, col: r == 3)
    cr = _cross_row(d, 150, gt, s, dim, cfg.heads)
    tb = _attention_row(d, 300, f"temporal_blocks[i]: TemporalBlock, attention across\n"
                        f"frames at each position: (B·S, T', D) = (B·{s}, {gt}, {dim})\n"
                        "+ sin-cos frame positions; adaLN from c", "one position attends over time", gt, s,
                        lambda r, col: col == 4)
    d.arrow((sp.x + 120, sp.y + sp.h), (cr.x + 120, cr.y))
    d.arrow((cr.x + 120, cr.y + cr.h), (tb.x + 120, tb.y))
    d.text(372, 396, f"then final_layer (adaLN from c) → unpatchify → x̂ (B, 1, {cfg.frames}, {cfg.height}, "
           f"{cfg.width})", size=11, anchor="start", color=MUTED)
    # the caption's two ways in
    d.arrow((316, tokens_y), (cr.x, cr.center[1]), via=[(336, tokens_y), (336, cr.center[1])])
    d.arrow((260, c_y), (sp.x, sp.center[1]), dashed=True, color=GREEN, via=[(348, c_y), (348, sp.center[1])])
    d.arrow((348, tb.center[1]), (tb.x, tb.center[1]), dashed=True, color=GREEN)

    _guidance_inset(d, 372, 430)
    d.text(470, 566, "dashed: zero at init, so before training the caption paths add nothing (the DiT starts as "
           "day 05's", size=11, color=MUTED, italic=True)
    d.text(470, 582, "unconditional model: pool_proj's bias is its null-label embedding); orange: learned; "
           "green: conditioning", size=11, color=MUTED, italic=True)
    return d


# ---------------------------------------------------------------- figure 2: the U-Net, image-to-video, SDEdit

def _clips():
    """Real clips of the captioned test split: {caption: (1, 1, T, H, W)} for the I2V clip and
    the clip SDEdit starts from, and the edit's goal: a test-split 8 moved along that clip's path."""
    import torch

    from course_lib.data.digits import load_digits, moving_digit_clip

    data = RECIPE.data.load("test")
    pick = {c: data.captions.index(c) for c in (CAPTIONS[0], EDIT[0])}
    clips = {c: data.videos[i:i + 1] for c, i in pick.items()}
    source = pick[EDIT[0]]
    new_digit = int(EDIT[1].split()[1])
    image = load_digits()[0][data.digit_index[data.labels.tolist().index(new_digit)]]     # (1, 8, 8)
    goal = moving_digit_clip(image, RECIPE.data.frames, RECIPE.data.canvas,
                             tuple(data.positions[source, 0].tolist()), tuple(data.velocities[source].tolist()))
    clips[EDIT[1]] = goal.transpose(0, 1)[None]                        # (1, 1, T, H, W)
    return clips, torch


def _noised(torch, clip, t: int, seed: int = 0):
    """q_sample(clip, t, eps) on day 05's schedule (cosine, the base recipe's num_steps)."""
    from course_lib.diffusion.ddpm import q_sample
    from course_lib.diffusion.schedules import make_schedule

    schedule = make_schedule("cosine", RECIPE.base.num_steps)
    noise = torch.randn(clip.shape, generator=torch.Generator().manual_seed(seed))
    return q_sample(clip, torch.tensor([t]), noise, schedule)


def _strip(d: Diagram, x: float, y: float, clip, cell: float = 2.5, gap: float = 3, step: int = 1) -> float:
    """Every `step`-th of the T frames of clip (1, 1, T, H, W) in a row; returns the right x."""
    for f in range(0, clip.shape[2], step):
        box = d.pixels(x, y, _ink(clip[0, 0, f]), cell=cell)
        x = box.x + box.w + gap
    return x - gap


def _counts():
    """Parameters of the U-Net and the caption DiT the presets build, and what the
    first-frame channel adds to the DiT."""
    import torch

    from course_lib.diffusion.unet3d import UNet3D
    from course_lib.diffusion.video_dit import VideoDiT

    torch.manual_seed(0)
    unet, dit = UNet3D(UNET.model), VideoDiT(RECIPE.model)
    i2v = VideoDiT(I2V.model)
    return unet, _params(unet), _params(dit), _params(i2v) - _params(dit), i2v.patch_embed.proj.in_channels


def _unet(d: Diagram, unet) -> Box:
    """The U-Net drawn from the modules the library builds: a dashed band per resolution,
    the down path on the left, the up path on the right, skips across. Returns the middle band."""
    cfg = unet.config
    w, lx, rx = 170, 20, 268
    x_in = d.box(lx, 30, w, 28, f"x_t (B, {cfg.in_channels}, T = {cfg.frames}, {cfg.height}, {cfg.width})",
                 fill="data", size=11)
    out = d.box(rx, 30, w, 28, f"x̂ (B, {cfg.in_channels}, {cfg.frames}, {cfg.height}, {cfg.width})", fill="data",
                size=11)
    top = 72
    d.frame(10, top, 440, 112, _level(cfg, 0))
    prev_down = d.box(lx, 96, w, 26, f"stem conv 1×3×3: {unet.stem.in_channels} → {unet.stem.out_channels}",
                      size=11)
    prev_up = d.box(rx, 96, w, 26, f"GN · SiLU · conv {unet.out.in_channels} → {unet.out.out_channels}", size=11)
    d.arrow(x_in.bottom, prev_down.top)
    d.arrow(prev_up.top, out.bottom)
    y = 140
    for level in range(len(unet.pool)):                         # the levels above the middle
        if level:
            d.frame(10, y - 24, 440, 62, _level(cfg, level))
        block_down, block_up = unet.down[level], unet.up[-1 - level]
        bd = d.box(lx, y, w, 28, _res(block_down), size=11)
        bu = d.box(rx, y, w, 28, "concat, " + _res(block_up), size=11)
        d.arrow(prev_down.bottom, bd.top)
        d.arrow(bu.top, prev_up.bottom)
        d.arrow(bd.right, bu.left, f"skip ({block_down.conv1.out_channels})")
        unpool = unet.unpool[-1 - level]
        gap = y + 28 + 10 + 26                                   # the middle of the gap to the next band
        d.text(bd.center[0] - 7, gap, "conv 1×2×2,\nstride (1, 2, 2)", size=10, anchor="end", color=MUTED)
        d.text(bu.center[0] + 7, gap, f"×2 nearest,\nconv {unpool.in_channels} → {unpool.out_channels}", size=10,
               anchor="start", color=MUTED)
        d.text(229, gap, "H, W halve; T stays", size=10, italic=True, color=MUTED)
        prev_down, prev_up, y = bd, bu, y + 106
    return _middle(d, unet, prev_down, prev_up, y - 24)


def _level(cfg, level: int) -> str:
    """A band's label: its spatial size, the frames and the channels."""
    return (f"{cfg.height >> level} × {cfg.width >> level}, T = {cfg.frames} frames, "
            f"{cfg.channels[level]} channels")


def _res(block) -> str:
    return f"ResBlock {block.conv1.in_channels} → {block.conv1.out_channels}"


def _middle(d: Diagram, unet, above_down: Box, above_up: Box, top: float) -> Box:
    """The middle band: ResBlock, spatial / cross / temporal attention, ResBlock."""
    cfg, c, level = unet.config, unet.config.channels[-1], len(unet.config.channels) - 1
    hw = (cfg.height >> level) * (cfg.width >> level)
    band = d.frame(10, top, 440, 94, _level(cfg, level) + ": the middle, where frames meet")
    first, last = unet.down[-1], unet.mid
    parts = [_res(first).replace(" ", "\n", 1), f"spatial\nattn\n(B·T, {hw}, {c})", "cross-attn\nto the\ncaption",
             f"temporal\nattn\n(B·{hw}, T, {c})", _res(last).replace(" ", "\n", 1)]
    boxes, x = [], 18
    for i, text in enumerate(parts):
        boxes.append(d.box(x, top + 26, 80, 56, text, size=10))
        if i:
            d.arrow(boxes[-2].right, boxes[-1].left)
        x += 86
    d.arrow((boxes[0].top[0], above_down.y + above_down.h), boxes[0].top)
    d.arrow(boxes[-1].top, (boxes[-1].top[0], above_up.y + above_up.h))
    return band


def _dit_column(d: Diagram, n_dit: int) -> None:
    cfg = RECIPE.model
    gt, s = cfg.grid[0], cfg.tokens_per_frame
    x, w = 470, 130
    d.text(x + w / 2, 14, "the caption DiT", size=12, bold=True)
    items = [(f"x_t (B, {cfg.in_channels}, {cfg.frames}, {cfg.height}, {cfg.width})", "data", 28),
             (f"patchify {cfg.patch}\n→ {gt * s} tokens × {cfg.dim}", "model", 40),
             (f"{cfg.depth} × [spatial →\ncross → temporal]\n{gt} × {s} tokens,\nall one size", "model", 74),
             ("final layer,\nunpatchify", "model", 40),
             (f"x̂ (B, {cfg.in_channels}, {cfg.frames}, {cfg.height}, {cfg.width})", "data", 28)]
    y, prev = 30, None
    for text, fill, h in items:
        box = d.box(x, y, w, h, text, fill=fill, size=10)
        if prev:
            d.arrow(prev.bottom, box.top)
        prev, y = box, y + h + 22
    d.text(x + w / 2, y + 6, f"{n_dit:,}\nparameters", size=11, bold=True)


def _image_to_video(d: Diagram, clips, torch, extra: int, n_in: int) -> None:
    """Channel 0: the noisy clip; channel 1: the first frame laid out as the I2V recipe does
    (frame 0 only, or repeated), with a little noise."""
    from course_lib.diffusion.video_dit import first_frame_condition

    x0, sx = 630, 688
    clip = clips[CAPTIONS[0]]
    t, std = I2V.base.num_steps // 2, I2V.still_noise
    d.text(x0 - 5, 8, "2. Image-to-video: the still as a channel", size=13, anchor="start", bold=True)
    d.frame(x0 - 5, 22, 347, 142)
    d.text(x0, 36, f"channel 0: x_t, the noisy clip (drawn at t = {t})", size=11, anchor="start")
    _strip(d, sx, 48, _noised(torch, clip, t))
    d.text(x0, 63, "x_t", size=11, anchor="start", color=MUTED)
    where = "frame 0, zeros after (CogVideoX)" if I2V.still_layout == "first" else "every frame (SVD)"
    d.text(x0, 94, "channel 1: the clean first frame of the clip", size=11, anchor="start", color=GREEN)
    d.text(x0, 108, f"in {where}, + noise std ~ U(0, {std:g})", size=11, anchor="start", color=GREEN)
    _strip(d, sx, 120, first_frame_condition(clip, std, torch.Generator().manual_seed(1), layout=I2V.still_layout))
    d.text(x0, 135, "still", size=11, anchor="start", color=MUTED)
    d.arrow((x0 + 165, 164), (x0 + 165, 190), "torch.cat(dim = 1)")
    cat = d.box(x0, 190, 337, 28, f"(B, {n_in}, T, H, W): one clip, {n_in} channels", fill="data", size=11)
    emb = d.box(x0, 238, 337, 52, f"DiT: patch_embed Conv3d({n_in} → {I2V.model.dim}), both channels\n"
                "from the caption DiT (it learned channel 1 with SVD's\n"
                f"layout; from day 05's stem: +{extra:,} parameters at 0)", size=11)
    d.arrow(cat.bottom, emb.top)
    d.text(x0, 308, f"training: {I2V.train.steps} steps from the caption DiT, which", size=11, anchor="start")
    d.text(x0, 324, "it starts as; every clip comes with its still", size=11, anchor="start")
    d.text(x0, 340, f"(the still dropped with p = {I2V.still_dropout:g}); noise as SVD", size=11, anchor="start")
    d.text(x0, 366, "sampling: the same still in the conditional and", size=11, anchor="start")
    d.text(x0, 382, "the null pass: guidance is over the caption only", size=11, anchor="start")


def _sdedit(d: Diagram, clips, torch, y: float) -> None:
    """A real clip -> noised to t_s -> (guided DDIM, new caption) -> the goal."""
    num_steps = RECIPE.base.num_steps
    t_s = round(STRENGTH * (num_steps - 1))
    d.text(10, y, "3. SDEdit (edit_video): noise a real clip part way, denoise it toward a new caption",
           size=13, anchor="start", bold=True)
    xs, step = [20, 380, 740], 2
    labels = [f"a real clip: \"{EDIT[0]}\"", f"q_sample to t_s = round({STRENGTH:g} · {num_steps - 1}) = {t_s}",
              f"goal: \"{EDIT[1]}\", the path kept"]
    strips = [clips[EDIT[0]], _noised(torch, clips[EDIT[0]], t_s, seed=2), clips[EDIT[1]]]
    for x, label, clip in zip(xs, labels, strips):
        d.text(x, y + 24, label, size=11, anchor="start")
        right = _strip(d, x, y + 36, clip, cell=3.5, gap=5, step=step)
    mid = y + 36 + 3.5 * RECIPE.data.canvas / 2
    d.arrow((right - xs[2] + xs[0] + 10, mid), (xs[1] - 10, mid), "noise")
    d.arrow((right - xs[2] + xs[1] + 10, mid), (xs[2] - 10, mid), "guided DDIM")
    frames = ", ".join(str(f) for f in range(0, RECIPE.data.frames, step))
    d.text(970, y, f"frames {frames} of {RECIPE.data.frames}", size=11, anchor="end", color=MUTED)
    d.text(10, y + 100, "Guided DDIM from t_s down to 0 with the new caption: the noise at t_s erases the digit's "
           "identity but not where it is, so the motion survives.", size=11, anchor="start")
    d.text(10, y + 118, "Right: the goal, drawn from the data (a test-split 8 on the left clip's path); "
           "the lesson shows what the trained model makes.", size=11, anchor="start", color=MUTED, italic=True)


def unet_i2v() -> Diagram:
    unet, n_unet, n_dit, extra, n_in = _counts()
    clips, torch = _clips()
    d = Diagram(980, 668, title="The 3D U-Net beside the DiT; image-to-video and SDEdit with the same models")
    d.text(10, 8, "1. The factorized 3D U-Net (UNet3D)", size=13, anchor="start", bold=True)
    band = _unet(d, unet)
    y = band.y + band.h
    d.text(230, y + 14, f"{n_unet:,} parameters", size=11, bold=True)
    d.text(230, y + 30, "every conv is 1×3×3 and every GroupNorm per frame: the frames", size=10, color=MUTED)
    d.text(230, y + 44, "meet only in the middle's temporal attention; t_emb + pooled caption", size=10,
           color=MUTED)
    d.text(230, y + 58, f"(B, {unet.down[0].cond.in_features}) is a bias per channel in every ResBlock", size=10,
           color=MUTED)
    _dit_column(d, n_dit)
    d.arrow((615, 0), (615, y + 64), head=False, color="#bbbbbb")
    _image_to_video(d, clips, torch, extra, n_in)
    _sdedit(d, clips, torch, y + 88)
    d.text(490, y + 238, "orange: learned; dashed: zero at init; green: the condition; blue: tensors",
           size=11, color=MUTED, italic=True)
    return d


FIGURES = {"day08_caption_block.svg": caption_block, "day08_unet_i2v.svg": unet_i2v}
