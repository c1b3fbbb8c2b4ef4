# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Day 08 — Text-to-video and image-to-video
#
# **What you will build.** Day 05's video DiT drew "a 3" because it was given the class
# label 3. Today it reads **words**: "a 3 moving up-left" goes through a tokenizer and a
# small text encoder written from scratch, and every video token **cross-attends** to the
# caption's tokens. Classifier-free guidance over the caption makes it obey; a held-out
# set of (digit, direction) pairs it never saw tests whether it *composes* words. Beside
# it, the architecture video diffusion started with — Ho et al.'s **factorized 3D
# U-Net** — on the same captions. Then the same model **animates a still** (image-to-video,
# as Stable Video Diffusion does: the clean first frame concatenated to every frame's
# input channels) and **edits a clip** (SDEdit: noise a real "3 moving left" halfway and
# denoise it as "an 8 moving left").
#
# **Prerequisites.** Day 04 (DiT, adaLN, classifier-free guidance, DDIM), day 05 (the
# video DiT on moving digits, its frame judge and tracker) and day 02 (attention, masks).
# Day 05's model is loaded from `artifacts/` (trained there when missing). **CPU run
# time:** about 2 minutes on a 2-core CPU with day 05 cached: one fine-tuning of the
# caption model, two short trainings from scratch (the U-Net and a DiT), and the samples
# every table measures.
#
# **The plan.** `course_lib.data.captions` (tokenizer, held-out pairs),
# `course_lib.nn.text_encoder`, `course_lib.diffusion.text_cond` (caption embedder,
# cross-attention block), `course_lib.diffusion.unet3d`, `course_lib.diffusion.video_dit`
# (`first_frame_condition`, `edit_video`), `course_lib.video_metrics` (the direction
# tracker, frame-0 PSNR, identity), and the recipe `diffusion.text_video_train`.

# %%
import time
from dataclasses import replace

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from course_lib import video_metrics as vm
from course_lib import viz
from course_lib.data.captions import HELD_OUT_PAIRS, NULL_CAPTION, WORDS, tokenize
from course_lib.data.digits import DIRECTIONS
from course_lib.data.frame_judge import load_frame_judge
from course_lib.diffusion import ddpm
from course_lib.diffusion.text_cond import NULL_ID, CrossAttentionBlock
from course_lib.diffusion.text_video_train import (IMAGE_TO_VIDEO_PRESETS, TEXT_VIDEO_PRESETS, UNET_VIDEO_PRESETS,
                                                   new_text_video_model, train_text_video_dit)
from course_lib.diffusion.video_dit import edit_video, first_frame_condition, sample_video, video_loss
from course_lib.diffusion.video_dit_train import train_video_dit
from course_lib.runtime import best_time, get_device
from course_lib.train import describe, preset

DEVICE = get_device()
GPU = DEVICE.type == "cuda"
# One config cell. TEXT: the caption video DiT, fine-tuned from day 05's model (given the
# clip's first frame in half of its training clips); I2V: the image-to-video model,
# fine-tuned from TEXT's (its `start_from`) with the first frame in frame 0; UNET: the 3D
# U-Net on the same captions; SCRATCH_STEPS: the budget of the U-Net / DiT comparison
# (both from scratch, text-to-video only, the same steps and batches).
TEXT = preset(TEXT_VIDEO_PRESETS, DEVICE)
I2V = preset(IMAGE_TO_VIDEO_PRESETS, DEVICE)
UNET = preset(UNET_VIDEO_PRESETS, DEVICE)
SCRATCH_STEPS = 1500 if GPU else 150
CONFIG = dict(
    guidance_scales=(1.0, 2.0, 4.0),
    guidance=2.0,                      # the scale every later section samples with
    seen_per_pair=4 if GPU else 1,     # samples per seen (digit, direction) pair: 70 pairs
    held_out_per_pair=32 if GPU else 6,   # samples per held-out pair: 10 pairs
    i2v_clips=200 if GPU else 64,      # test-split stills to animate
    edit_clips=100 if GPU else 40,     # real "3" clips to turn into "8"s
    edit_strengths=(0.5, 0.7, 0.8, 0.9, 1.0),
    ddim_steps=20 if GPU else 10,      # DDIM steps of every sample (x0-prediction needs few)
)
print(DEVICE, describe(TEXT), describe(I2V), describe(UNET), CONFIG, sep="\n")
notebook_start = time.perf_counter()
cpu_start = time.process_time()

# %% [markdown]
# ## 1. From labels to words
#
# Every training clip comes with its caption, "a *digit* moving *direction*": 10 digits
# × 8 compass directions. The clips start at the wall *behind* their motion, so the first
# frames show the direction the caption names. Ten (digit, direction) pairs — one per
# digit, every direction at least once — are **held out**: no training clip shows them.
# A model that draws "a 4 moving up-right" has then combined a digit and a direction it
# only ever saw apart.

# %%
train_clips, test_clips = TEXT.data.load("train"), TEXT.data.load("test")
print(f"{len(train_clips.captions)} training clips (without the held-out pairs), {len(test_clips.captions)} test clips "
      f"of digits never seen in training; {TEXT.data.frames} frames of {TEXT.data.canvas}x{TEXT.data.canvas}")
print("held out:", ", ".join(f"a {d} moving {w}" for d, w in sorted(HELD_OUT_PAIRS)))
viz.show_images(train_clips.videos[:4, 0].flatten(0, 1)[:, None], nrow=TEXT.data.frames, scale=0.5,
                titles=[c if i % TEXT.data.frames == 0 else "" for c in train_clips.captions[:4]
                        for i in range(TEXT.data.frames)]);

# %% [markdown]
# **Tokens.** The tokenizer splits on spaces and hyphens, so "up-left" is the two words
# "up" and "left" and compass words compose. The vocabulary has 18 entries: `<pad>` (id
# 0) fills captions shorter than 5 words, `<null>` (id 1) is the word of the **null
# caption** that classifier-free guidance trains with — every position `<null>`, so the
# unconditional pass still has keys to attend to. A production model does the same with
# sub-word tokens (T5's SentencePiece, CLIP's BPE) and an empty prompt.

# %%
ids, pad = tokenize(["a 3 moving up-left", "a 7 moving down", NULL_CAPTION])
print("vocabulary:", WORDS)
print("ids:\n", ids, "\npadding (True = padding):\n", pad)

# %% [markdown]
# ![Left: "a 7 moving down" becomes 5 word ids (one padding), the text encoder turns them into caption tokens and their mean. Right: one block of the caption video DiT on T frames of S patches: spatial attention inside each frame modulated by the timestep plus the pooled caption, then cross-attention where every video token reads the caption tokens (padding masked), then temporal attention across frames; the cross-attention output and the pooled projection start at zero. Inset: the null caption gives the unconditional pass of classifier-free guidance](figures/day08_caption_block.svg)
#
# **The text encoder** (`nn.text_encoder`, the role T5 or CLIP's text tower plays) is
# word embeddings + sin-cos positions + two pre-norm Transformer encoder blocks whose
# self-attention never reads padding. Its output enters the video model twice, as in
# PixArt-α and SD3:
#
# - **pooled** (the mean of the real tokens), projected and added to the timestep
#   embedding — it modulates every block through adaLN, as day 04's class label did;
# - **token by token**, through **cross-attention** after every spatial block: the
#   queries are the video tokens, the keys and values the caption tokens,
#
# $$\mathrm{CrossAttn}(X, C) = \mathrm{softmax}\!\left(\frac{(X W_Q)(C W_K)^\top}{\sqrt{d}} + M\right) C W_V,
# \qquad M_{ij} = \begin{cases} -\infty & \text{caption position } j \text{ is padding}\\ 0 & \text{else.}\end{cases}$$
#
# Here it is by hand, checked against the library's block and against PyTorch's own
# `scaled_dot_product_attention` (an independent implementation). In the DiT the block's
# output projection starts at zero (so a model built with it computes what it computed
# without); we give it random weights first, or the check would compare zeros.

# %%
torch.manual_seed(0)
dim, text_dim, heads = 32, TEXT.text.dim, 4
block = CrossAttentionBlock(dim, heads, text_dim)
with torch.no_grad():
    block.attn.out_proj.weight.normal_(0, dim ** -0.5)          # away from its zero start, for the check
video_tokens = torch.randn(3, 9, dim)                           # (B*T, S, D): 3 frames of 3x3 patches
caption_tokens = torch.randn(3, 5, text_dim)                    # (B*T, L, Dt)
pad = tokenize(["a 3 moving up-left", "a 7 moving down", "a 1 moving up"])[1]   # (B*T, L)


def cross_attention(x, context, pad, attn, heads):
    """x (B, N, D) video tokens, context (B, L, Dt) caption tokens, pad (B, L) True =
    padding -> (B, N, D): every video token's weighted read of the caption."""
    b, n, d = x.shape
    q = attn.q_proj(x).view(b, n, heads, d // heads).transpose(1, 2)             # (B, H, N, d_h)
    k = attn.k_proj(context).view(b, -1, heads, d // heads).transpose(1, 2)      # (B, H, L, d_h)
    v = attn.v_proj(context).view(b, -1, heads, d // heads).transpose(1, 2)      # (B, H, L, d_h)
    scores = q @ k.transpose(-2, -1) / (d // heads) ** 0.5                     # (B, H, N, L)
    scores = scores.masked_fill(pad[:, None, None, :], float("-inf"))          # padding is never read
    out = scores.softmax(dim=-1) @ v                                            # (B, H, N, d_h)
    return attn.out_proj(out.transpose(1, 2).reshape(b, n, d))


with torch.no_grad():
    ours = video_tokens + cross_attention(block.norm(video_tokens), caption_tokens, pad, block.attn, heads)
    library = block(video_tokens, caption_tokens, pad)
    normed = block.norm(video_tokens)
    split = lambda z: z.view(3, -1, heads, dim // heads).transpose(1, 2)  # noqa: E731
    sdpa = F.scaled_dot_product_attention(split(block.attn.q_proj(normed)), split(block.attn.k_proj(caption_tokens)),
                                          split(block.attn.v_proj(caption_tokens)), attn_mask=~pad[:, None, None, :])
    reference = video_tokens + block.attn.out_proj(sdpa.transpose(1, 2).reshape(3, 9, dim))
    scrambled = caption_tokens.clone()
    scrambled[pad] = 100 * torch.randn(int(pad.sum()), text_dim)   # garbage at the padding positions
    unaffected = block(video_tokens, scrambled, pad)
print(f"ours vs course_lib: {(ours - library).abs().max():.1e}; vs torch SDPA: {(ours - reference).abs().max():.1e}; "
      f"garbage in the padding changes the output by {(unaffected - library).abs().max():.1e}")
assert torch.allclose(ours, library, atol=1e-6) and torch.allclose(ours, reference, atol=1e-5)
assert torch.equal(unaffected, library)

# %% [markdown]
# The three agree to float rounding (about $10^{-7}$), and writing garbage into the
# padding positions changes nothing: the mask sets their weights to exactly 0. Flip the
# mask (`~pad`) and the model would read *only* the padding — exercise 1 catches that.
#
# ## 2. The caption video DiT
#
# We do not train from nothing. Day 05's video DiT already draws moving digits; the
# caption model (`new_text_video_model`) copies every weight it shares with it, starts
# the cross-attention output and the pooled projection at zero, and gives the pooled
# projection's bias day 05's *null-label* embedding. So before any training it computes
# exactly day 05's **unconditional** model, whatever the caption — checked below. Training
# then only has to learn what the words add (the same promise as day 05's inflation and
# day 07's ControlNet).
#
# One more input: in half of its training clips the model is also given the clip's
# **first frame**, repeated over the frames as extra input channels (Stable Video
# Diffusion's layout, section 4), and zeros — "no still" — in the other half.
# Text-to-video passes "no still". Why train with stills at all? Measured with this recipe
# on seeds 0–2, the direction of text-to-video samples was right 96–100 % of the time
# with stills in training and only 56–89 % without: a clip that starts from a given
# frame teaches "continue the motion from here", and the lesson transfers.

# %%
day05 = train_video_dit(TEXT.base)                              # loaded from artifacts/
fresh = new_text_video_model(TEXT, day05.model).eval()
no_still = lambda n: torch.zeros(n, 1, TEXT.data.frames, TEXT.data.canvas, TEXT.data.canvas)  # noqa: E731
x = torch.randn(4, 1, TEXT.data.frames, TEXT.data.canvas, TEXT.data.canvas, generator=torch.Generator().manual_seed(1))
t = torch.tensor([50, 300, 600, 900])
with torch.no_grad():
    unconditional = day05.model.eval()(x, t, torch.full((4,), day05.model.null_label))
    before = fresh(x, t, tokenize(["a 3 moving up-left", "a 7 moving down", "a 0 moving left", NULL_CAPTION])[0],
                   cond=torch.randn_like(x))                     # any still: its input weights start at 0
print(f"caption model before training vs day 05 unconditional: max |difference| {(before - unconditional).abs().max():.1e}")
assert torch.allclose(before, unconditional, atol=1e-5)

# %%
trained = train_text_video_dit(TEXT)
text_model, schedule = trained.model, trained.schedule
print(f"{sum(p.numel() for p in text_model.parameters()) / 1e6:.2f} M parameters "
      f"({sum(p.numel() for p in day05.model.parameters()) / 1e6:.2f} M in day 05's model); "
      f"fine-tuned {TEXT.train.steps} steps in {trained.run.seconds:.0f} s"
      f"{' (loaded)' if trained.run.cached else ''}")
viz.plot_loss({"caption DiT": trained.run.history}, window=50, title="fine-tuning day 05's DiT on captions");

# %% [markdown]
# **Sampling with guidance over the caption.** DDIM with classifier-free guidance, as on
# day 04, with the caption ids in the place of the labels: each step runs the model on
# the caption and on the null caption (one batch) and moves along
#
# $$\hat x_0 = \hat x_0(x_t, \varnothing) + w\,\big(\hat x_0(x_t, c) - \hat x_0(x_t, \varnothing)\big)$$
#
# (this model predicts $x_0$; guidance is linear, so it combines any prediction the
# same way). $w = 1$ is the plain conditional model, $w > 1$ pushes away from what the
# null caption would draw. We sample every seen pair and every held-out pair and score
# each clip with two referees that share nothing with the model: day 05's **frame judge**
# (a classifier of single frames: is it the caption's digit in most frames?) and a
# **centroid tracker** (`vm.motion_direction`: the sign, per axis, of the least-squares
# slope of the ink's centre over the first five frames — no learning at all). A clip is
# right ("joint") when both agree with its caption.

# %%
judge, _ = load_frame_judge(canvas=TEXT.data.canvas, frames=TEXT.data.frames)
VELOCITY = {name: sign for sign, name in DIRECTIONS.items()}    # "up-left" -> (-1, -1)


def caption_set(held_out: bool, per_pair: int):
    """Captions of every seen (or held-out) pair, `per_pair` times: (captions, digits (N,), velocities (N, 2))."""
    rows = [(d, name) for d in range(10) for name in VELOCITY if ((d, name) in HELD_OUT_PAIRS) == held_out]
    rows = [row for row in rows for _ in range(per_pair)]
    return ([f"a {d} moving {name}" for d, name in rows], torch.tensor([d for d, _ in rows]),
            torch.tensor([VELOCITY[name] for _, name in rows]))


def generate(model, texts, guidance, seed, cond=None):
    """Clips (N, 1, T, H, W) for captions `texts`; `cond`: the stills laid out over the
    frames (image-to-video), by default "no still" for a model that takes one."""
    cond = no_still(len(texts)) if cond is None and model.config.cond_channels else cond
    return sample_video(model, tokenize(texts)[0], schedule, steps=CONFIG["ddim_steps"], guidance=guidance,
                        kind=TEXT.base.prediction, cond=cond,
                        generator=torch.Generator().manual_seed(seed)).clamp(-1, 1)


def accuracies(videos, digits, velocities):
    return {k: v.float().mean().item() for k, v in vm.caption_scores(videos, digits, velocities, judge).items()}


seen, held = caption_set(False, CONFIG["seen_per_pair"]), caption_set(True, CONFIG["held_out_per_pair"])
samples, table = {}, {}
for w in CONFIG["guidance_scales"]:
    samples["seen", w] = generate(text_model, seen[0], w, seed=1)
    samples["held out", w] = generate(text_model, held[0], w, seed=2)
    table["seen", w] = accuracies(samples["seen", w], *seen[1:])
    table["held out", w] = accuracies(samples["held out", w], *held[1:])
# control: random captions, scored against the held-out captions (what guessing scores)
pick_random = torch.Generator().manual_seed(3)
random_texts = [f"a {torch.randint(10, (1,), generator=pick_random).item()} moving "
                f"{list(VELOCITY)[torch.randint(8, (1,), generator=pick_random).item()]}" for _ in held[0]]
table["random captions", CONFIG["guidance"]] = accuracies(generate(text_model, random_texts, CONFIG["guidance"], seed=2),
                                                          *held[1:])
print(f"{'pairs':<16} {'w':>4} {'digit':>7} {'direction':>10} {'joint':>7}   ({len(seen[0])} seen, {len(held[0])} held-out clips)")
for (pairs, w), acc in table.items():
    print(f"{pairs:<16} {w:>4g} {acc['digit']:>7.1%} {acc['direction']:>10.1%} {acc['joint']:>7.1%}")

# %% [markdown]
# Read the table row by row.
#
# - **$w = 1$** (no guidance): the caption is followed loosely — the digit is often
#   wrong. Directions come more easily: a direction is a coarse, global property (which
#   wall the blob starts at, which way it goes), a digit's identity is in a few strokes.
# - **$w = 2$ and $4$**: guidance makes the digit right most of the time; joint accuracy
#   (digit *and* direction right) rises sharply. Going from 2 to 4 buys a few points at
#   most: with only 18 words the conditional model is already confident, and a larger $w$
#   mostly trades variety for little extra accuracy.
# - **Held-out pairs** score nearly as well as seen ones: the model has composed "4" and
#   "up-right" although no training clip showed them together. Words enter as separate
#   tokens that cross-attention reads separately, which is what makes composition
#   possible.
# - **Random captions** show chance: 10 % digit, 12.5 % direction, 1.25 % joint expected
#   (over 60 clips a run lands several points either side: one clip is 1.7 points).
#
# Each percentage is over the clips listed in the header (70 seen, 60 held-out on the
# CPU), so one clip is 1.4 or 1.7 points: differences of a few points are noise; ones of
# tens of points are not. The asserts below use margins measured on seeds 0–2
# (`COURSE_SEED=1 course run day08`): guided digit and direction accuracy (scales 2 and 4
# together) at least 80 %, guidance adding at least 10 points of joint accuracy, held-out
# pairs far above random captions.

# %%
g = CONFIG["guidance"]
guided = [table["seen", w] for w in CONFIG["guidance_scales"] if w > 1]      # w = 2 and 4, pooled
for measure in ("digit", "direction"):       # seeds 0-2: digit 85-92 %, direction 87-96 % (w = 2 and 4 pooled)
    assert sum(row[measure] for row in guided) / len(guided) >= 0.8, table
assert table["seen", g]["joint"] >= table["seen", 1.0]["joint"] + 0.1, table      # seeds 0-2: +21 to +31 points
assert table["held out", g]["joint"] >= table["random captions", g]["joint"] + 0.4, table   # 75-81 % vs 0 %

# %% [markdown]
# **A word-order probe.** The training captions always say "up-left", never "left-up".
# Ask for "a 5 moving left-up": a reader of English would draw the same motion. Our model?

# %%
probe = [f"a {d} moving left-up" for d in range(10)] * 2
probe_videos = generate(text_model, probe, CONFIG["guidance"], seed=4)
probe_acc = accuracies(probe_videos, torch.arange(10).repeat(2), torch.tensor([[-1, -1]] * len(probe)))
print(f"'left-up' drawn as up-left: direction {probe_acc['direction']:.0%}, digit {probe_acc['digit']:.0%} "
      f"({len(probe)} clips)")

# %% [markdown]
# It moves up-left almost every time. The encoder's sin-cos positions *could* tell
# "up left" from "left up", but nothing in training ever asked it to: for every
# caption it saw, the set of words decides the video. So it behaves as a bag of words —
# robust to this reordering, and blind to any caption where order matters ("a 3 left
# of a 5"). Production models meet the same problem at scale: CLIP's text tower is
# known to act as a bag of words on relations, and T5-XXL encoders (Imagen, SD3) are
# better at word order because they were trained on language, not on captions alone.
#
# Pick a caption and a guidance scale: each view shows the first sample drawn for it
# above (held-out pairs are marked).

# %%
texts_of = {key: (seen if key[0] == "seen" else held)[0] for key in samples}


def show_caption(digit, direction, guidance):
    caption = f"a {digit} moving {direction}"
    pairs = "held out" if (digit, direction) in HELD_OUT_PAIRS else "seen"
    clip = samples[pairs, guidance][texts_of[pairs, guidance].index(caption)]
    viz.show_images(clip[0][:, None], nrow=TEXT.data.frames, scale=0.6,
                    titles=[f"{caption} ({pairs}), w = {guidance:g}"] + [""] * (TEXT.data.frames - 1))


widgets.interact(show_caption, digit=widgets.Dropdown(options=list(range(10)), value=4),
                 direction=widgets.Dropdown(options=list(VELOCITY), value="up-right"),
                 guidance=widgets.SelectionSlider(options=list(CONFIG["guidance_scales"]), value=CONFIG["guidance"]));

# %% [markdown]
# ## 3. The 3D U-Net beside the DiT
#
# ![Left: the factorized 3D U-Net — (1×3×3) convolutions and per-frame GroupNorm at 12×12, 6×6 and 3×3 with skip connections, the frames meeting only in the middle block's temporal attention — beside the DiT's column of identical blocks on patch tokens. Right: image-to-video's input, the noisy clip and the clean still repeated over the frames concatenated on the channel axis; below, SDEdit: a real clip noised to t_s and denoised toward a new caption](figures/day08_unet_i2v.svg)
#
# Before DiTs, video diffusion used U-Nets: Ho et al.'s *Video Diffusion Models* (2022)
# took the image U-Net of DDPM, made every 2-D convolution a (1×3×3) one — the same
# kernel on every frame — and added **temporal attention** at low resolution, the only
# place where frames meet. Make-A-Video, Imagen Video, ModelScope and Stable Video
# Diffusion are all such factorized U-Nets. `diffusion.unet3d` builds one at the size of
# our caption DiT, with the same caption encoder, pooled caption (added to every
# residual block, as the timestep is) and cross-attention in the middle block.
#
# A fair comparison needs the same start: there is no day-05 U-Net, so **both train from
# scratch** here, with the same captions, batches and number of steps. We compare
# parameters, the time of one network pass (the cost of a sampling step) and what each
# learned.

# %%
contenders = {"3D U-Net": replace(UNET, train=replace(UNET.train, steps=SCRATCH_STEPS)),
              "DiT (from scratch)": replace(TEXT, pretrained=False, first_frame=False,
                                            train=replace(TEXT.train, steps=SCRATCH_STEPS))}
x_pass = torch.randn(2 * len(seen[0]), 1, TEXT.data.frames, TEXT.data.canvas, TEXT.data.canvas)
t_pass = torch.full((len(x_pass),), 500)
ids_pass = tokenize(seen[0] * 2)[0]
val_clips, val_ids = test_clips.videos[:256], tokenize(test_clips.captions[:256])[0]


def validation_loss(model):
    """The text-to-video denoising loss on 256 test clips (no still), with the same
    timesteps and noise for every model."""
    cond = no_still(64) if model.config.cond_channels else None
    with torch.no_grad():
        return sum(video_loss(model, (val_clips[i:i + 64], val_ids[i:i + 64]), schedule, kind=TEXT.base.prediction,
                              cond=cond, generator=torch.Generator().manual_seed(i)).item()
                   for i in range(0, len(val_clips), 64)) / (len(val_clips) // 64)


arch_table, arch_runs = {}, {}
for name, recipe in contenders.items():
    run = arch_runs[name] = train_text_video_dit(recipe)
    with torch.no_grad():
        seconds, _ = best_time(lambda: run.model(x_pass, t_pass, ids_pass), repeats=3)
    arch_table[name] = dict(params=sum(p.numel() for p in run.model.parameters()), step_ms=1e3 * seconds,
                            train_s=run.run.seconds, val_loss=validation_loss(run.model))
    if GPU:                                       # at the CPU's short budget neither draws digits yet
        arch_table[name].update(accuracies(generate(run.model, seen[0], CONFIG["guidance"], seed=1), *seen[1:]))
with torch.no_grad():
    seconds, _ = best_time(lambda: text_model(x_pass, t_pass, ids_pass, cond=no_still(len(x_pass))), repeats=3)
arch_table["DiT (from day 05)"] = dict(params=sum(p.numel() for p in text_model.parameters()), step_ms=1e3 * seconds,
                                       train_s=trained.run.seconds, val_loss=validation_loss(text_model))
print(f"{'model':<20} {'params':>8} {'ms/step':>8} {'train s':>8} {'val loss':>9}")
for name, row in arch_table.items():
    print(f"{name:<20} {row['params'] / 1e6:>7.2f}M {row['step_ms']:>8.0f} {row['train_s']:>8.0f} {row['val_loss']:>9.4f}"
          + (f"   digit {row['digit']:.1%}, direction {row['direction']:.1%}" if "digit" in row else ""))
print(f"(ms/step: one guided sampling step for {len(seen[0])} clips = a pass on {len(x_pass)} inputs; "
      f"{SCRATCH_STEPS} training steps for the two from scratch, {TEXT.train.steps} from day 05 for the last)")
viz.plot_loss({name: run.run.history for name, run in arch_runs.items()}, window=25,
              title=f"from scratch, the same {SCRATCH_STEPS} steps");

# %% [markdown]
# The validation loss is the training objective (mean squared error of the predicted
# clean clip) on 256 test clips, with the same timesteps and noise for every model, so
# the rows compare directly. From scratch at the same budget the U-Net is ahead.
# Convolutions *assume* what a DiT must learn: that nearby pixels belong together and
# that a pattern means the same thing anywhere in the frame. With few steps and little
# data, that built-in assumption (an **inductive bias**) wins. After only
# 150 steps neither draws digits yet (on a GPU this cell trains both for 1,500
# steps and adds their accuracy); measured at 1,500 steps on this 2-core CPU with the same
# recipes, the U-Net reaches 74 % digit / 59 % direction on seen pairs and the DiT from
# scratch 30 % / 24 %. The last row is the point of section 2: the DiT that *starts from
# day 05* is far ahead of both — pretraining beats architecture at this scale. A DiT's
# pass is also cheaper here: its tokens are 4×4 patches, while the U-Net convolves every
# pixel of every frame at full resolution.
#
# So why did the field move to DiTs (Sora, Movie Gen, CogVideoX, HunyuanVideo, Wan)?
# Because at scale the bias that helps here becomes a ceiling: transformers keep improving
# with parameters and data along predictable scaling laws; one sequence of spacetime
# patches takes any duration, resolution and aspect ratio; text and video tokens can share
# one attention (MM-DiT); and the whole stack is the same kernels the LLM world optimises.
# U-Nets still win where data or compute is small, at high resolution where attention over
# every token is too expensive (the U-Net only attends at its coarse levels), and as the
# backbone of pixel-space super-resolution stages.

# %%
# seeds 0-2: U-Net / DiT from scratch 0.81-0.85; the DiT from day 05 about 0.55 of the U-Net's
assert arch_table["3D U-Net"]["val_loss"] < 0.95 * arch_table["DiT (from scratch)"]["val_loss"], arch_table
assert arch_table["DiT (from day 05)"]["val_loss"] < arch_table["3D U-Net"]["val_loss"], arch_table

# %% [markdown]
# ## 4. Image-to-video: animate a still
#
# Stable Video Diffusion "takes a still image and animates it". Its conditioning is
# plain: the (latent of the) still is **concatenated to the input channels** of the
# noisy clip, so each frame's tokens see the noisy frame and the still side by side, and
# a little Gaussian noise is added to the still while training (**noise augmentation**),
# so the model learns to use it without copying it pixel for pixel and tolerates stills
# unlike its training frames. SVD repeats the still in every frame — the layout our
# caption model was trained with in half of its clips, so it can already animate a still.
# CogVideoX's image-to-video puts the still in frame 0 and zeros in the others
# (`layout="first"`), which also tells every token *which* frame is the given one.
#
# The `I2V` recipe fine-tunes the caption model to that second layout for a few hundred
# steps (`I2V.start_from`: every weight copied — the still's input channel too, which the
# caption model learned with SVD's layout — so it starts as the caption model), always
# with a still, as SVD itself was fine-tuned from a text-to-video model. The stills come
# from the **test split**: digits the model has never seen, drawn by other writers. The
# questions: is frame 0 the still (PSNR), is it *this* digit in every frame — not just *a*
# 3 (identity: the correlation of each frame's digit crop with the still's, frame by
# frame) — and does it move as commanded? The caption model without a still, which reads
# the same caption but must invent the digit, is the unconditioned reference.

# %%
i2v_trained = train_text_video_dit(I2V)
i2v_model = i2v_trained.model
print(f"image-to-video: fine-tuned {I2V.train.steps} steps from the caption model in {i2v_trained.run.seconds:.0f} s"
      f"{' (loaded)' if i2v_trained.run.cached else ''}; input channels {i2v_model.config.in_channels} + "
      f"{i2v_model.config.cond_channels} (the still)")
pick = torch.linspace(0, len(test_clips.captions) - 1, CONFIG["i2v_clips"]).long()
real = test_clips.videos[pick]
i2v_texts = [test_clips.captions[i] for i in pick.tolist()]
stills = real[:, :, 0]                                           # (N, 1, H, W)
i2v = {"caption only": generate(text_model, i2v_texts, CONFIG["guidance"], seed=5),
       "still in every frame": generate(text_model, i2v_texts, CONFIG["guidance"], seed=5,
                                        cond=first_frame_condition(real, layout="repeat")),
       "still in frame 0 (I2V)": generate(i2v_model, i2v_texts, CONFIG["guidance"], seed=5,
                                          cond=first_frame_condition(real, layout=I2V.still_layout)),
       "real clips": real}
i2v_table = {}
for name, videos in i2v.items():
    identity = vm.still_identity(videos, stills, per_frame=True).mean(0)       # (T,) mean over clips
    i2v_table[name] = dict(psnr=vm.frame_psnr(videos, stills).mean().item(), identity=identity,
                           **accuracies(videos, test_clips.labels[pick], test_clips.velocities[pick]))
print(f"{'':<24} {'frame-0 PSNR':>13} {'digit':>7} {'direction':>10}   identity, frames 0..{TEXT.data.frames - 1}")
for name, row in i2v_table.items():
    print(f"{name:<24} {row['psnr']:>10.1f} dB {row['digit']:>7.1%} {row['direction']:>10.1%}   "
          + " ".join(f"{v:.2f}" for v in row["identity"].tolist()))
show = [0, 1, 2, 3]
viz.show_images(torch.cat([torch.cat([stills[i:i + 1], i2v["still in frame 0 (I2V)"][i, 0][:, None]]) for i in show]),
                nrow=TEXT.data.frames + 1, scale=0.5,
                titles=[t for i in show for t in [f"still: {i2v_texts[i]}"] + [""] * TEXT.data.frames]);

# %% [markdown]
# PSNR is $10 \log_{10}(2^2 / \mathrm{MSE})$ on the $[-1, 1]$ scale (the real clips' is
# infinite: frame 0 *is* the still). Identity is 1.0 for the real clips; another writer's
# digit of the same class correlates with a still about 0.6–0.7, which is where a model
# that only knows the caption sits in every frame.
#
# Read the identity columns from left to right. Both ways of giving the still lift frame
# 0 — the frame-0 layout far more (its PSNR is several dB higher and its frame-0 identity
# about 0.85: it is the still, slightly blurred). But by frame 2 or 3 every model is back
# at the generic level: our small model animates *a* digit of the right class from the
# still's place, not *this* digit. That is image-to-video's best-known failure, **identity
# drift**, in its plainest form: nothing in the training loss rewards keeping the exact
# strokes once the first frame is matched, and a 0.6 M-parameter model with 4×4 patches
# on a 12×12 canvas, fine-tuned for a few hundred steps, does not find it. Production
# models fight drift with scale, with the still's embedding fed to every frame by
# cross-attention (SVD's CLIP image embedding), and with longer, identity-rich training
# clips; you can measure what more steps buy with `I2V.train.steps`.

# %%
caption_only, ours = i2v_table["caption only"], i2v_table["still in frame 0 (I2V)"]
# measured on seeds 0-2: +6.1 to +7.4 dB over the caption only, +3.9 to +4.6 dB over the
# still in every frame, frame-0 identity +0.20 to +0.26, direction 90-99 %
assert ours["psnr"] >= caption_only["psnr"] + 4.0, i2v_table
assert ours["psnr"] >= i2v_table["still in every frame"]["psnr"] + 2.5, i2v_table
assert ours["identity"][0] >= caption_only["identity"][0] + 0.12, i2v_table
assert ours["direction"] >= 0.8, i2v_table

# %% [markdown]
# ## 5. Editing a video: SDEdit
#
# The simplest video style transfer needs no new training. SDEdit (Meng et al. 2022)
# noises a real clip to an intermediate timestep $t_s = \mathrm{round}(s\,(T - 1))$ —
# strength $s$ — and runs the sampler from there with a *different* caption. What the
# noise at $t_s$ leaves standing (where the bright blob is in each frame: the motion)
# stays; what it erases (the digit's shape) follows the new caption. Too little noise
# and nothing changes; too much and the motion is lost as well. We turn 40 test clips of
# "a 3 moving …" into "an 8 moving …" (same direction), and measure both sides: the
# **trajectory error** (RMS distance in pixels between the edited and the source clip's
# tracked digit, frame by frame) and whether the judge reads an **8**.

# %%
threes = (test_clips.labels == 3).nonzero().flatten()[:CONFIG["edit_clips"]]
sources = test_clips.videos[threes]
eight_texts = [test_clips.captions[i].replace("a 3", "a 8") for i in threes.tolist()]
edit_ids = tokenize(eight_texts)[0]
edits, edit_table = {}, {}
for strength in CONFIG["edit_strengths"]:
    edits[strength] = edit_video(text_model, sources, edit_ids, schedule, strength=strength, steps=CONFIG["ddim_steps"],
                                 guidance=CONFIG["guidance"], kind=TEXT.base.prediction, cond=no_still(len(sources)),
                                 generator=torch.Generator().manual_seed(6)).clamp(-1, 1)
    scores = vm.caption_scores(edits[strength], torch.full((len(threes),), 8), test_clips.velocities[threes], judge)
    edit_table[strength] = dict(trajectory=vm.trajectory_error(edits[strength], sources).mean().item(),
                                eight=scores["digit"].float().mean().item())
for strength, row in edit_table.items():
    kind = "  (= a new clip from pure noise)" if strength == 1.0 else ""
    print(f"strength {strength:.1f} (t_s = {round(strength * (schedule.num_steps - 1)):>3}): "
          f"trajectory error {row['trajectory']:.2f} px, judge reads 8 in {row['eight']:.0%}{kind}")
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot([r["trajectory"] for r in edit_table.values()], [r["eight"] for r in edit_table.values()], "o-")
for strength, row in edit_table.items():
    ax.annotate(f"s={strength:g}", (row["trajectory"], row["eight"]), textcoords="offset points", xytext=(4, -10))
ax.set(xlabel="trajectory error vs the source (px)", ylabel="judge reads an 8", title="SDEdit: motion kept vs content changed")
plt.show()

# %% [markdown]
# The curve is the trade-off. At $s = 0.5$ the digit stays where it was (trajectory error
# about half a pixel) but remains mostly a 3: at $t_s = 500$ the noise has not erased the
# shape. Around $s = 0.8$ the judge reads an 8 in most clips while the digit still follows
# the source's path within a pixel. At $s = 1$ the clip is generated from pure noise — the
# caption's direction is respected, but the path is the model's own, and the trajectory
# error about doubles. (A trajectory error is averaged over 8 frames and 40 clips; a
# digit off by one pixel in every frame scores 1.0.) Slide the strength to see one clip
# change:

# %%
def show_edit(strength):
    rows = torch.cat([sources[:3, 0], edits[strength][:3, 0]], dim=1).flatten(0, 1)   # source frames, then edit
    viz.show_images(rows[:, None], nrow=TEXT.data.frames, scale=0.5,
                    titles=[f"source / edit at s = {strength:g}"] + [""] * (len(rows) - 1))


widgets.interact(show_edit, strength=widgets.SelectionSlider(options=list(CONFIG["edit_strengths"]), value=0.8));

# %%
# seeds 0-2 at s = 0.8: trajectory 0.40-0.51 of the regenerated clip's; an 8 in 73-80 % (s = 0.5: 17-35 %)
assert edit_table[0.8]["trajectory"] < 0.7 * edit_table[1.0]["trajectory"], edit_table
assert edit_table[0.8]["eight"] >= 0.5 and edit_table[0.8]["eight"] >= edit_table[0.5]["eight"] + 0.25, edit_table

# %% [markdown]
# ## In production
#
# - **Text encoders.** Production video models read prompts with large pretrained
#   encoders: [T5](https://arxiv.org/abs/1910.10683) (Imagen, SD3, CogVideoX), CLIP's text
#   tower ([Radford et al. 2021](https://arxiv.org/abs/2103.00020)) or a multimodal LLM
#   (HunyuanVideo). Captions enter by cross-attention ([PixArt-α](https://arxiv.org/abs/2310.00426),
#   as here) or by joint attention over text and video tokens
#   ([SD3's MM-DiT](https://arxiv.org/abs/2403.03206), CogVideoX).
# - **Recaptioning.** [Sora](https://openai.com/index/video-generation-models-as-world-simulators/)
#   and [DALL·E 3](https://cdn.openai.com/papers/dall-e-3.pdf) train on long, descriptive
#   captions written by a captioning model, and expand a user's short prompt into one at
#   sampling time: the model follows text as well as its training captions describe the
#   videos. Ours are exact by construction.
# - **Video U-Nets.** [Video Diffusion Models](https://arxiv.org/abs/2204.03458) (the
#   factorized 3D U-Net), [Make-A-Video](https://arxiv.org/abs/2209.14792) (an image model
#   extended with temporal layers, trained on unlabelled video),
#   [Imagen Video](https://arxiv.org/abs/2210.02303) (a cascade of U-Nets in space and time).
#   DiTs took over with Sora, [CogVideoX](https://arxiv.org/abs/2408.06072) and
#   [Movie Gen](https://arxiv.org/abs/2410.13720).
# - **Image-to-video.** [Stable Video Diffusion](https://arxiv.org/abs/2311.15127)
#   (the still concatenated to every frame, noise augmentation, as here; plus the still's
#   CLIP embedding by cross-attention); CogVideoX-I2V puts the still in frame 0 and zeros
#   elsewhere; [Runway Gen-3](https://runwayml.com/research/introducing-gen-3-alpha) and
#   [Pika](https://pika.art) animate a still with a prompt for the motion.
# - **Editing.** [SDEdit](https://arxiv.org/abs/2108.01073) is the baseline; video editors
#   add inversion (DDIM inversion instead of fresh noise) and attention sharing across
#   frames to keep the untouched parts exact ([Tune-A-Video](https://arxiv.org/abs/2212.11565),
#   [TokenFlow](https://arxiv.org/abs/2307.10373)).
# - **Failure modes.** *Attribute binding*: with two objects ("a red 3 and a blue 8"),
#   attributes swap between them. *Counting*: "three digits" gives two or four. *Direction
#   and order words*: our probe shows a bag-of-words reading; production models confuse
#   left and right, and "a dog chasing a cat" with "a cat chasing a dog". *Guidance too
#   high*: saturated, repetitive samples. Image-to-video *drifts*: the identity of the
#   still fades over long clips, which is why our identity score stays below the real
#   clips' 1.0.
#
# With [🤗 diffusers](https://huggingface.co/docs/diffusers/using-diffusers/text-img2vid),
# text-to-video and image-to-video look like this (not run here: they download several
# GB of weights):
#
# ```python
# import torch
# from diffusers import CogVideoXPipeline, StableVideoDiffusionPipeline
# from diffusers.utils import load_image
#
# t2v = CogVideoXPipeline.from_pretrained("THUDM/CogVideoX-2b", torch_dtype=torch.float16).to("cuda")
# frames = t2v("a hand-written digit three moving up and to the left", guidance_scale=6.0,
#              num_inference_steps=50).frames[0]
# i2v = StableVideoDiffusionPipeline.from_pretrained("stabilityai/stable-video-diffusion-img2vid-xt",
#                                                    torch_dtype=torch.float16).to("cuda")
# frames = i2v(load_image("still.png"), noise_aug_strength=0.02, decode_chunk_size=8).frames[0]
# ```
#
# ## Summary
#
# - A caption enters a video DiT twice: pooled, through adaLN like a class label, and
#   token by token, through cross-attention with a padding mask; both start at zero, so
#   the model starts as day 05's unconditional one.
# - Classifier-free guidance over captions (a null caption in training, two passes per
#   step) turns loose caption-following into reliable digits; held-out pairs show the
#   model composes words it never saw together.
# - The factorized 3D U-Net learns faster from scratch at this scale (its inductive
#   bias); DiTs win at scale, and fine-tuning from a pretrained model beats both here.
# - Image-to-video is one more input: the still on the channel axis, noise-augmented;
#   SDEdit edits a real clip by choosing how much of it the noise erases.
#
# **Exercises:** [`../exercises/day08_text_to_video.ipynb`](../exercises/day08_text_to_video.ipynb)
# — cross-attention with a padding mask, guidance over captions with a null caption, the
# first-frame condition's layout, SDEdit's start step, and an experiment on caption
# dropout. Then `course check day08`.

# %%
print(f"notebook {time.perf_counter() - notebook_start:.0f} s wall, {time.process_time() - cpu_start:.0f} s CPU")
