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
# # Day 18 — Understanding video: retrieval, captions, questions and timed words
#
# Until now the course *made* video and sound. Today it reads them. A video model that
# understands has to choose which frames to look at, turn them into a few vectors, and
# line those vectors up with words — to find the clip a sentence describes (CLIP4Clip),
# to write a caption or answer a question (BLIP-2, VideoLLaMA), and to say *when* each
# spoken word is heard (Whisper's word timestamps). At the end one pipeline does all of
# it to a clip and hands back a subtitled MP4 with a summary.
#
# **What you will build** (in `course_lib.video`: `frame_sampling`, `retrieval`,
# `qformer`, `subtitles`, `subtitle_video`, `pipeline`; `course_lib.speech.word_timestamps`)
# - frame samplers (uniform, random, TSN segments, keyframes) and what each costs;
# - a **video–text model**: a frame encoder, mean pooling or a temporal transformer, day
#   08's caption encoder, symmetric InfoNCE; retrieval both ways, and the
#   **time-reversal probe** that mean pooling cannot pass;
# - a **Q-Former** that turns frames into four tokens for a small language model that
#   captions clips and answers "which digit?", "which way does it move?", "does it hit a
#   wall?";
# - **word timestamps** for day 12's ASR from its cross-attention and dynamic time
#   warping, checked against eSpeak NG's own word times;
# - subtitles (WebVTT, SRT) muxed or burned into an MP4 with ffmpeg, and the
#   **multimodal pipeline**.
#
# **Prerequisites:** day 05 (moving digits), day 08 (the caption encoder), day 12 (the
# Whisper-style ASR), day 02 (attention).
#
# **Run time:** about a minute on an idle 2-core CPU with the models in `artifacts/`
# (`make test` trains them first: the two retrieval models, ~25 s each, the Q-Former,
# ~35 s, and day 12's ASR, ~60 s with its clips; days 11 and 17 train the TTS and the
# lip-sync generator of section 5). From nothing, add what is missing.

# %%
import statistics
import time
from collections import Counter
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import display

from course_lib.data import faces
from course_lib.data.captions import tokenize
from course_lib.data.digits import caption
from course_lib.data.multilingual import digit_sentences, translate_digits
from course_lib.data.speech import speak, speak_timed, split_of
from course_lib.metrics import word_error_rate
from course_lib.runtime import get_device, seed_everything
from course_lib.speech.asr_train import PRESETS as ASR_PRESETS
from course_lib.speech.asr_train import train_asr
from course_lib.speech.fastspeech_train import PRESETS as TTS_PRESETS
from course_lib.speech.fastspeech_train import train_fastspeech
from course_lib.speech.vocoder_train import PRESETS as VOCODER_PRESETS
from course_lib.speech.vocoder_train import train_vocoder
from course_lib.sync.lipsync import dub
from course_lib.sync.lipsync_train import PRESETS as LIPSYNC_PRESETS
from course_lib.sync.lipsync_train import train_lipsync
from course_lib.speech.ctc_align import (calibrate_spike_lag, ctc_align_words, ctc_log_probs, ctc_viterbi,
                                         label_spans)
from course_lib.speech.word_timestamps import (ENCODER_FRAME_SECONDS, align_words, alignment_matrix,
                                               choose_alignment_heads, cross_attention, dtw_path, start_errors)
from course_lib.train import describe, preset
from course_lib.video import frame_sampling as fs
from course_lib.video.pipeline import MultimodalPipeline, side_by_side
from course_lib.video.qa_train import VIDEO_QA_PRESETS, clip_answers, train_video_qa
from course_lib.video.qformer import QUESTIONS, answer
from course_lib.video.retrieval import retrieval_scores, symmetric_info_nce
from course_lib.video.retrieval_train import (ALL_CAPTIONS, RETRIEVAL_PRESETS, UNDERSTANDING_CLIPS, caption_index,
                                              clip_frames, train_retrieval)
from course_lib.video.subtitle_video import burn_subtitles
from course_lib.viz import play_audio, show_mp4, show_video

notebook_start = time.perf_counter()
plt.rcParams["figure.dpi"] = 72

# %% [markdown]
# One config cell: the recipes are presets in `course_lib` (a GPU gets larger ones).

# %%
DEVICE = get_device()
SEED = 0
RETRIEVAL = preset(RETRIEVAL_PRESETS, DEVICE)      # temporal transformer; 300 steps of 64 clips on a CPU
QA = preset(VIDEO_QA_PRESETS, DEVICE)              # Q-Former + language model; 600 steps of 64
ASR = preset(ASR_PRESETS, DEVICE)                  # day 12's Whisper-style model
GALLERY = 400                                      # held-out clips to retrieve from
seed_everything(SEED)
print("device:", DEVICE)
print(describe(RETRIEVAL))

# %% [markdown]
# ## 1. Which frames to look at
#
# The clips: a digit starting at the wall behind its motion, 8 frames of 16 × 16, moving
# 1 or 2 pixels a frame in one of 8 directions. At 2 pixels a frame it reaches the far
# wall halfway and bounces back; at 1 it never gets there. The caption names the digit
# and the direction: "a 3 moving up-left".
#
# A video model cannot afford every frame: a ViT turns one 224² frame into 256 patch
# tokens, so a minute at 25 frames a second would be 384,000 tokens. It samples $k$
# frames (`video.frame_sampling`): **uniform** (the centre of $k$ equal segments),
# **random**, **TSN segments** (one random frame per segment, for training — every part
# of the clip is always seen, [Wang et al. 2016](https://arxiv.org/abs/1608.00859)) and
# **keyframes** (the frames that change most). Here is what each keeps of one clip:

# %%
test = UNDERSTANDING_CLIPS.load("test")
frames = clip_frames(test)                                   # (N, 8, 1, 16, 16) in [-1, 1]
clip = frames[3]
g = torch.Generator().manual_seed(SEED)
picks = {"uniform k=4": fs.uniform_indices(8, 4), "random k=4": fs.random_indices(8, 4, g),
         "TSN k=4": fs.segment_indices(8, 4, g), "keyframes k=4": fs.keyframe_indices(clip, 4)}
fig, axes = plt.subplots(len(picks), 8, figsize=(8, 4.4))
for row, (name, idx) in enumerate(picks.items()):
    for t in range(8):
        ax = axes[row, t]
        ax.imshow(clip[t, 0], cmap="gray", vmin=-1, vmax=1, alpha=1.0 if t in idx.tolist() else 0.25)
        ax.set_xticks([]), ax.set_yticks([])
        if t in idx.tolist():
            for spine in ax.spines.values():
                spine.set(color="tab:orange", linewidth=2.5)
        if row == 0:
            ax.set_title(f"t={t}", fontsize=8)
    axes[row, 0].set_ylabel(name, fontsize=8, rotation=0, ha="right", va="center")
fig.suptitle(f"'{test.captions[3]}': the frames each sampler keeps (framed)", fontsize=10)
plt.tight_layout()
plt.show()
for k, per_frame in ((8, 256), (8, 32), (32, 32)):
    print(f"{k:2d} frames x {per_frame:3d} tokens per frame = {fs.token_cost(k, per_frame):5d} tokens of context")

# %% [markdown]
# The uniform and TSN samplers cover the clip's whole length; random may bunch up; the
# keyframe sampler takes the first frame and the frames after the largest changes.
# The token counts are why video LLMs compress each frame: 8 frames of 256 patches
# already fill 2,048 positions, while a Q-Former (section 3) gives 32 — or, here, 4 —
# tokens per clip.
#
# One frame shows where the digit is, not where it is going: a clip and the same clip
# played backwards contain exactly the same frames. Any model that pools frames without
# their order is blind to direction. Section 2 measures that.
#
# ## 2. Video–text retrieval, CLIP4Clip-style
#
# Two towers map a clip and a caption to unit vectors in one space
# ([CLIP4Clip](https://arxiv.org/abs/2104.08860), built on [CLIP](https://arxiv.org/abs/2103.00020)):
# a small CNN encodes each frame, a **temporal head** pools the frames — either the mean
# ("meanP") or a transformer over the frames with each frame's position added
# ("seqTransf") — and day 08's caption encoder reads the words (left and middle below;
# section 3 builds the right-hand side). For a batch of $B$ pairs,
# with $s = e^{\lambda}$ a learned scale (CLIP starts it at $1/0.07$):
#
# ![The model. Left, the video tower: k sampled frames at their clip positions go through a per-frame CNN to 64-dimensional features, then through a temporal head, either the mean over frames (order-blind) or position embeddings and two transformer blocks, then a linear layer and L2 normalisation give v-hat. Middle, the text tower: caption words through day 08's text encoder, a linear layer and normalisation give t-hat. Bottom, the symmetric InfoNCE loss on s times v-hat dot t-hat. Right, the Q-Former: the frozen frame features feed the cross-attention of two blocks over four learned queries; the four video tokens, a question and the answer go through a small causal transformer trained by cross-entropy on the answer](figures/day18_video_understanding.svg)
#
# $$\ell_{ij} = s\, \hat v_i \cdot \hat t_j,\qquad
#   \mathcal{L} = \tfrac12\Big[\underbrace{-\tfrac1B\sum_i \log\frac{e^{\ell_{ii}}}{\sum_j e^{\ell_{ij}}}}_{\text{clip}\to\text{caption}}
#   \;\underbrace{-\;\tfrac1B\sum_j \log\frac{e^{\ell_{jj}}}{\sum_i e^{\ell_{ij}}}}_{\text{caption}\to\text{clip}}\Big].$$
#
# Our captions repeat (80 distinct ones), so a batch can hold one caption twice. The
# target of a row can be spread over all its matches (`same`); for *identical* captions
# that gives exactly the diagonal loss — the two text vectors are equal, so are their
# columns — and both share a floor of $\log m$ for a caption $m$ times in the batch. It
# matters when matching captions are worded differently, as in real data. Written out,
# checked against `course_lib`:

# %%
def our_info_nce(video, text, scale, same):
    """video, text (B, E) unit vectors; same (B, B) bool: clip i matches caption j."""
    logits = scale * video @ text.T                                   # (B, B)
    target = same.float() / same.float().sum(1, keepdim=True)         # rows: clips
    target_t = same.T.float() / same.T.float().sum(1, keepdim=True)   # rows: captions
    clip_to_text = -(target * logits.log_softmax(dim=1)).sum(1).mean()
    text_to_clip = -(target_t * logits.T.log_softmax(dim=1)).sum(1).mean()
    return (clip_to_text + text_to_clip) / 2


v = F.normalize(torch.randn(6, 16, generator=g), dim=1)
t = F.normalize(torch.randn(6, 16, generator=g), dim=1)
shared = torch.tensor([0, 1, 1, 2, 3, 3])                                  # captions of the 6 clips
same = shared[:, None] == shared[None]
ours, library = our_info_nce(v, t, 14.3, same), symmetric_info_nce(v, t, 14.3, same)
print(f"ours {ours:.6f}, course_lib {library:.6f}")
assert torch.allclose(ours, library)

# %% [markdown]
# Both heads train on the same clips (2,700 training clips without day 08's held-out
# digit–direction pairs), each batch seeing 1, 2, 4 or 8 frames picked by the TSN
# sampler, so one model serves any number of frames. Then every held-out clip of a
# gallery of 400 is scored against all 80 captions.

# %%
models = {}
for head in ("transformer", "mean"):
    trained = train_retrieval(replace(RETRIEVAL, model=replace(RETRIEVAL.model, head=head)), device=DEVICE)
    models[head] = trained.model.to("cpu").eval()
    print(f"{head:11s}: {sum(p.numel() for p in trained.model.parameters()):,} parameters, "
          f"{trained.run.seconds:.0f} s" + (" (loaded from artifacts/)" if trained.run.cached else ""))

gallery, gallery_captions = frames[:GALLERY], caption_index(test.captions[:GALLERY])
caption_ids, caption_pad = tokenize(list(ALL_CAPTIONS))
scores = {}
with torch.no_grad():
    for head, model in models.items():
        similarity = model.encode_video(gallery) @ model.encode_text(caption_ids, caption_pad).T   # (400, 80)
        scores[head] = retrieval_scores(similarity, gallery_captions)
print(f"{'head':12s} {'text→video R@1':>15s} {'R@5':>5s} {'med. rank':>9s} {'video→text R@1':>15s} {'R@5':>5s}")
for head, s in scores.items():
    tv, vt = s["text→video"], s["video→text"]
    print(f"{head:12s} {tv['R@1']:15.0%} {tv['R@5']:5.0%} {tv['median rank']:9.0f} {vt['R@1']:15.0%} {vt['R@5']:5.0%}")
chance = scores["mean"]["chance R@1"]
print(f"chance R@1: text→video {chance['text→video']:.1%}, video→text {chance['video→text']:.1%}")
assert scores["transformer"]["text→video"]["R@1"] >= 0.6
assert scores["transformer"]["text→video"]["R@1"] > scores["mean"]["text→video"]["R@1"] + 0.2

# %% [markdown]
# Text→video asks, for each of the captions present in the gallery, whether the best
# clip has that caption (chance: the share of clips that do, about 1 in 80);
# video→text asks each clip which of the 80 captions is its own. The temporal head
# finds nearly every caption's clips first. Mean pooling cannot know the *sign* of the
# motion — up or down, left or right — so between a caption and its opposite it can
# only guess, which keeps its R@1 under one half; its much higher R@5 says it does know
# the digit and the axis of motion.
#
# ### The time-reversal probe
#
# For each clip that does not bounce (speed 1), compare its caption with the same
# caption in the opposite direction — once for the clip, once for the clip played
# backwards, whose true caption *is* the opposite one. A model that sees order gets both
# right; mean pooling gives the clip and its reverse the same vector, so exactly one of
# the two answers can be right. Then the same probe and retrieval with fewer frames.

# %%
def reversal_probe(model, clips, labels, velocities, index):
    """Share right of (caption vs its opposite direction) for the clips and their reverses."""
    slow = velocities.abs().amax(1) == 1
    clips, labels, velocities = clips[slow][:, index], labels[slow], velocities[slow]
    with torch.no_grad():
        text = model.encode_text(caption_ids, caption_pad)
        pairs = list(zip(labels.tolist(), velocities.tolist()))
        ahead = torch.tensor([ALL_CAPTIONS.index(caption(y, tuple(v))) for y, v in pairs])
        behind = torch.tensor([ALL_CAPTIONS.index(caption(y, tuple(-x for x in v))) for y, v in pairs])
        rows = torch.arange(len(clips))
        forward = model.encode_video(clips, index) @ text.T
        backward = model.encode_video(clips.flip(1), index) @ text.T
    right = torch.cat([forward[rows, ahead] > forward[rows, behind], backward[rows, behind] > backward[rows, ahead]])
    return right.float().mean().item()


table = {}
for head, model in models.items():
    for k in (1, 2, 4, 8):
        index = fs.uniform_indices(8, k)
        with torch.no_grad():
            similarity = model.encode_video(gallery[:, index], index) @ model.encode_text(caption_ids, caption_pad).T
        table[head, k] = (retrieval_scores(similarity, gallery_captions)["text→video"]["R@1"],
                          reversal_probe(model, gallery, test.labels[:GALLERY], test.velocities[:GALLERY], index))
fig, axes = plt.subplots(1, 2, figsize=(9, 2.8))
for head, marker in (("transformer", "o"), ("mean", "x")):
    axes[0].plot([1, 2, 4, 8], [table[head, k][0] for k in (1, 2, 4, 8)], marker=marker, label=head)
    axes[1].plot([1, 2, 4, 8], [table[head, k][1] for k in (1, 2, 4, 8)], marker=marker, label=head)
axes[0].set(xlabel="frames seen", ylabel="text→video R@1", xticks=[1, 2, 4, 8], ylim=(0, 1.05))
axes[1].set(xlabel="frames seen", ylabel="reversal probe", xticks=[1, 2, 4, 8], ylim=(0.3, 1.05))
axes[1].axhline(0.5, color="gray", lw=0.8, ls="--")
axes[0].legend(fontsize=8)
plt.tight_layout()
plt.show()
for head in models:
    print(f"{head:11s} " + "  ".join(f"{k} frames: R@1 {table[head, k][0]:4.0%}, reversal {table[head, k][1]:4.0%}"
                                     for k in (1, 2, 4, 8)))
assert table["transformer", 8][1] >= 0.9 and abs(table["mean", 8][1] - 0.5) <= 0.02

# %% [markdown]
# - **Mean pooling sits at exactly 50 %** on the reversal probe with any number of
#   frames: the mean of a set does not know its order.
# - **The temporal head passes it** from two frames on, and its retrieval climbs with
#   the frames it sees. With one frame it is at 50 % too: a clip and its reverse then
#   differ only by which frame sits at the sampled position.
# - **One frame still retrieves** for the temporal head (R@1 well above mean pooling's):
#   it is told *which* frame it sees (its position embedding), and every clip starts at
#   the wall behind its motion, so "the digit near the left edge in the middle of the
#   clip" suggests "moving left". A real video has no such giveaway; the lesson's clips
#   do, and the model found it. Mean pooling with one frame has no position, and guesses.
#
# ## 3. Captions and questions: a Q-Former and a small language model
#
# [BLIP-2](https://arxiv.org/abs/2301.12597) connects a frozen image encoder to a
# language model with a **Q-Former**: a few learned query vectors that cross-attend to
# the image features and come out as the language model's first tokens;
# [VideoLLaMA](https://arxiv.org/abs/2306.02858) adds the frames' positions and a
# video Q-Former over them. Ours (`video.qformer`): the retrieval model's frame encoder,
# frozen; 4 queries through 2 blocks of self-attention, cross-attention to the 8 frames
# (with their positions) and an MLP; then a causal transformer reads
#
# $$[\,q_1\ q_2\ q_3\ q_4\,]\ \text{which way does it move ?}\ \langle bos\rangle\ \text{up left}\ \langle eos\rangle$$
#
# and is trained by cross-entropy on the answer only. Four tasks share it: "describe"
# (the caption) and three questions. Answers are decoded greedily, one token at a time,
# with a KV cache.

# %%
qa = train_video_qa(QA, device=DEVICE)
qa.model.to("cpu")
print(f"Q-Former + language model: {sum(p.numel() for p in qa.model.parameters()):,} parameters, "
      f"{qa.run.seconds:.0f} s" + (" (loaded from artifacts/)" if qa.run.cached else ""))
N_QA = 300
features = qa.frame_features(frames[:N_QA])                                  # (300, 8, 64), frozen
truth = clip_answers(test, UNDERSTANDING_CLIPS.canvas)
replies, accuracy = {}, {}
for task, question in QUESTIONS.items():
    replies[task] = answer(qa.model, features, torch.arange(8), [question] * N_QA)
    accuracy[task] = np.mean([r == a.replace("-", " ") for r, a in zip(replies[task], truth[task][:N_QA])])
    print(f"{question:26s} exact match {accuracy[task]:5.1%}   e.g. '{replies[task][0]}' (truth '{truth[task][0]}')")
print(f"chance: digit 10 %, direction 12.5 %, wall {max(np.mean([a == 'yes' for a in truth['wall'][:N_QA]]), 0.5):.0%}"
      " (the commoner answer)")
assert accuracy["caption"] >= 0.7 and accuracy["direction"] >= 0.8

# %% [markdown]
# A caption is exact when both the digit and the direction are right, so its accuracy
# is about the digit's: direction and the wall are (nearly) always right — they need
# the frames' order and speed, which the Q-Former's queries read from the frame
# positions — while a digit must be recognised from 8 × 8 pixels by a frame encoder that
# was only trained to match captions. The clips as the model describes them:

# %%
for i in range(4):
    print(f"clip {i}: '{replies['caption'][i]}'; hits a wall: {replies['wall'][i]}   (truth '{test.captions[i]}')")
display(show_video(torch.cat([frames[i, :, 0] for i in range(4)], dim=2), fps=4, scale=8))

# %% [markdown]
# ### Zero-shot frame classification, as a streaming analyser would do it
#
# A CLIP-style model also classifies without any classifier: score a frame against the
# text "a *d* moving …" for every digit (averaging over the 8 directions) and take the
# best. A stream analyser does this frame by frame as frames arrive; here, each of the 8
# frames of 400 held-out clips alone, with the per-frame latency.

# %%
model = models["transformer"]
with torch.no_grad():
    text = model.encode_text(caption_ids, caption_pad).view(10, 8, -1)      # (digit, direction, E)
    prompts = F.normalize(text.mean(1), dim=-1)                             # one vector per digit
    accuracy_by_frame = []
    for t in range(8):
        picked = model.encode_video(gallery[:, t:t + 1], torch.tensor([t])) @ prompts.T   # (400, 10)
        accuracy_by_frame.append((picked.argmax(1) == test.labels[:GALLERY]).float().mean().item())
    one = gallery[:1, 4:5]
    start = time.perf_counter()
    for _ in range(50):
        model.encode_video(one, torch.tensor([4])) @ prompts.T
    latency_ms = (time.perf_counter() - start) / 50 * 1000
print("digit accuracy of single frames, t = 0..7: " + " ".join(f"{a:.0%}" for a in accuracy_by_frame)
      + "  (chance 10 %)")
print(f"latency per frame (encode + compare with 10 prompts): {latency_ms:.1f} ms on the CPU")

# %% [markdown]
# Single frames name the digit far above chance with no training for the task — the
# caption encoder's digit words carry it. The latency is the number a streaming system
# budgets for (day 19 streams frames through it).
#
# ## 4. When is each word spoken? Whisper's word timestamps
#
# Day 12's ASR writes text, not times. Whisper gets times from its decoder's
# **cross-attention**: while it predicts a word, some heads look at the audio frames
# where that word is spoken. Take those heads' weights for the transcript (teacher
# forcing: the rows of the positions that *predict* each word, and the end-of-text),
# standardise each frame's column over the words, median-filter along time, average the
# heads: a matrix $A$ (words × 20 ms frames). **Dynamic time warping** then finds the
# monotonic path through $-A$ of least total cost,
#
# $$D_{i,j} = -A_{i,j} + \min(D_{i-1,j-1},\ D_{i-1,j},\ D_{i,j-1}),$$
#
# and each word starts where the path enters its row. Which heads? Whisper's authors
# picked each model's alignment heads by checking them against labelled audio; we do the
# same on 20 *training* digit strings, with eSpeak NG's own word events as the truth
# (`data.speech.speak_timed`). First, DTW written out, checked against `course_lib` on a
# real matrix:

# %%
asr = train_asr(ASR, device=DEVICE)
asr.model.to("cpu")
english = [e for e, _ in digit_sentences("en", 400)]
seen = [s for s in english if split_of(s) == "train"][:20]
unseen = [s for s in english if split_of(s) != "train"][:40]


def our_dtw(cost):
    """Least-cost monotonic path through cost (N, M) from (0, 0) to (N-1, M-1)."""
    n, m = cost.shape
    total = torch.full((n + 1, m + 1), float("inf"), dtype=torch.float64)
    total[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            total[i, j] = cost[i - 1, j - 1] + min(total[i - 1, j - 1], total[i - 1, j], total[i, j - 1])
    path, i, j = [], n, m
    while (i, j) != (0, 0):
        path.append((i - 1, j - 1))
        steps = {(i - 1, j - 1): total[i - 1, j - 1], (i - 1, j): total[i - 1, j], (i, j - 1): total[i, j - 1]}
        i, j = min(steps, key=lambda s: steps[s])                           # dicts keep order: diagonal first on ties
    return torch.tensor(path[::-1])


timed_seen = [(wave, s, times) for s, (wave, times) in zip(seen, map(speak_timed, seen))]   # (wave, text, word times)
heads = choose_alignment_heads(asr.model, asr.tokenizer, timed_seen, k=2)
wave, truth_times = speak_timed(unseen[0])
weights = cross_attention(asr.model, asr.tokenizer, wave, unseen[0])       # (blocks, heads, words + 1, frames)
matrix = alignment_matrix(weights, heads)
assert torch.equal(our_dtw(-matrix.double()), dtw_path(-matrix))
print(f"alignment heads (block, head), best first: {heads}; our DTW path equals course_lib's "
      f"({len(dtw_path(-matrix))} steps through a {tuple(matrix.shape)} matrix)")

# %% [markdown]
# Now every word of 40 held-out strings, against eSpeak's times; beside it, the
# simplest guess (the words spread evenly over the speech), and the alignment with all
# 8 heads instead of the chosen 2:

# %%
errors = {"2 chosen heads": [], "all 8 heads": [], "evenly spread": []}
end_errors = []
all_heads = [(b, h) for b in range(weights.shape[0]) for h in range(weights.shape[1])]
for sentence in unseen:
    wave, truth_times = speak_timed(sentence)
    weights = cross_attention(asr.model, asr.tokenizer, wave, sentence)
    predicted = align_words(asr.model, asr.tokenizer, wave, sentence, heads, weights=weights)
    errors["2 chosen heads"] += start_errors(predicted, truth_times)
    errors["all 8 heads"] += start_errors(align_words(None, None, None, "", all_heads, weights=weights), truth_times)
    end_errors += [abs(p[1] - q[1]) for p, q in zip(predicted, truth_times)]
    first, last = truth_times[0][0], truth_times[-1][1]
    step = (last - first) / len(truth_times)
    errors["evenly spread"] += start_errors([(first + k * step, 0.0) for k in range(len(truth_times))], truth_times)
for name, e in errors.items():
    print(f"{name:15s} word starts: median error {1000 * statistics.median(e):4.0f} ms, "
          f"90th percentile {1000 * np.percentile(e, 90):4.0f} ms   ({len(e)} words)")
print(f"word ends (2 heads): median error {1000 * statistics.median(end_errors):.0f} ms")
# Measured in three training runs of day 12's recipes: 20, 48 and 46 ms (evenly spread: 41 ms).
assert statistics.median(errors["2 chosen heads"]) <= 0.06

# %% [markdown]
# One encoder frame is 20 ms, the finest this model resolves. How close we land
# depends on the training run: three runs of day 12's recipes with the same seed
# (training on a CPU is not bit-for-bit repeatable across runs and machines) gave
# medians of 20, 48 and 46 ms. The "evenly spread" row is an *oracle-assisted* guess — it is told
# where the first word starts and the last one ends — and on eSpeak's regular rhythm it
# is hard to beat (it could not follow a pause, though). A model this small attends to
# the right word only loosely, which heads do so varies from run to run, and the tail
# (the 90th percentile) shows words where the chosen heads look at a neighbour's
# frames. Ends are worse than starts: a word "ends" where the next one's row begins,
# and the end-of-text row has the least training signal. Whisper's alignment heads are
# sharper because the model is; WhisperX replaces attention by a phoneme CTC aligner for
# exactly this reason. The matrix and the path for the first held-out string:

# %%
wave, truth_times = speak_timed(unseen[0])
weights = cross_attention(asr.model, asr.tokenizer, wave, unseen[0])
matrix = alignment_matrix(weights, heads)
path = dtw_path(-matrix)
fig, ax = plt.subplots(figsize=(9, 2.8))
ax.imshow(matrix, aspect="auto", origin="upper", cmap="viridis",
          extent=(0, matrix.shape[1] * ENCODER_FRAME_SECONDS, matrix.shape[0] - 0.5, -0.5))
ax.plot((path[:, 1].double() + 0.5) * ENCODER_FRAME_SECONDS, path[:, 0], color="white", lw=1.5, label="DTW path")
for row, (start, _) in enumerate(truth_times):
    ax.plot([start, start], [row - 0.5, row + 0.5], color="tab:red", lw=2.5, label="eSpeak start" if row == 0 else None)
ax.set(yticks=range(matrix.shape[0]), yticklabels=unseen[0].split() + ["<eot>"], xlabel="seconds",
       title="standardised cross-attention of the 2 alignment heads")
ax.legend(loc="lower right", fontsize=8)
plt.show()

# %% [markdown]
# ### WhisperX's way: forced alignment on a CTC head
#
# Day 12's model has something Whisper lacks: a **CTC head** on its encoder, trained to
# say which word each 20 ms frame holds (or *blank*). When the transcript is known, the
# best frame labelling that collapses to it is found by the Viterbi recursion over the
# CTC trellis $z = (\varnothing, w_1, \varnothing, w_2, \dots, w_L, \varnothing)$:
#
# $$\delta_t(s) = \log p_t(z_s) + \max\big(\delta_{t-1}(s),\ \delta_{t-1}(s-1),\
#   \delta_{t-1}(s-2)\big),$$
#
# the last term allowed only when $z_s$ is a word different from $z_{s-2}$ (a blank
# must separate two equal words). It is `F.ctc_loss` with the sum over paths replaced by
# a max — what WhisperX does with a phoneme CTC model (wav2vec 2.0) after Whisper has
# transcribed. Written out, checked against `speech.ctc_align` on a real clip:

# %%
def our_viterbi(log_probs, labels):
    """The best path's state per frame, states z = (blank, l1, blank, ..., lL, blank)."""
    z = [0] + [x for label in labels for x in (label, 0)]
    best = [[float("-inf")] * len(z) for _ in log_probs]
    came_from = [[0] * len(z) for _ in log_probs]
    best[0][0], best[0][1] = log_probs[0][0], log_probs[0][z[1]]
    for t in range(1, len(log_probs)):
        for s in range(len(z)):
            options = [s, s - 1] + ([s - 2] if s >= 2 and z[s] != 0 and z[s] != z[s - 2] else [])
            previous = max((p for p in options if p >= 0), key=lambda p: best[t - 1][p])
            best[t][s], came_from[t][s] = best[t - 1][previous] + log_probs[t][z[s]], previous
    s = len(z) - 1 if best[-1][-1] >= best[-1][-2] else len(z) - 2
    path = [s]
    for t in range(len(log_probs) - 1, 0, -1):
        s = came_from[t][s]
        path.append(s)
    return torch.tensor(path[::-1])


wave, truth_times = speak_timed(unseen[0])
log_probs = ctc_log_probs(asr.model, wave)                                     # (frames, vocabulary + blank)
labels = [i + 1 for i in asr.tokenizer.encode(unseen[0])]                      # class 0 is the blank
assert torch.equal(our_viterbi(log_probs.tolist(), labels), ctc_viterbi(log_probs, labels))
spans = label_spans(ctc_viterbi(log_probs, labels), len(labels))
print(f"{unseen[0]!r}: each word's frames on the path {spans.tolist()}, "
      f"eSpeak's starts in frames {[round(s / ENCODER_FRAME_SECONDS) for s, _ in truth_times]}")

# %% [markdown]
# Each word occupies one or two frames — a CTC model **spikes** and fills the rest with
# blanks — and the spike comes late, inside the word, after the model has heard enough
# of it. How late is a property of the model, so we measure it on the 20 training
# strings (`calibrate_spike_lag`: the median of spike − true start) and move every start
# back by it; a word ends where the next begins. Then the same 40 held-out strings:

# %%
lag = calibrate_spike_lag(asr.model, asr.tokenizer, timed_seen)
ctc_errors = {"CTC spikes as they are": [], f"CTC, {1000 * lag:.0f} ms earlier": []}
ctc_end_errors = []
for sentence in unseen:
    wave, truth_times = speak_timed(sentence)
    log_probs = ctc_log_probs(asr.model, wave)
    for (name, found), spike_lag in zip(ctc_errors.items(), (0.0, lag)):
        predicted = ctc_align_words(asr.model, asr.tokenizer, wave, sentence, spike_lag, log_probs=log_probs)
        found += start_errors(predicted, truth_times)
    ctc_end_errors += [abs(p[1] - q[1]) for p, q in zip(predicted, truth_times)]
for name, e in {"attention, 2 heads": errors["2 chosen heads"], **ctc_errors}.items():
    print(f"{name:24s} word starts: median error {1000 * statistics.median(e):4.0f} ms, "
          f"90th percentile {1000 * np.percentile(e, 90):4.0f} ms")
print(f"word ends (CTC, shifted): median error {1000 * statistics.median(ctc_end_errors):.0f} ms")
# Measured with three training runs of day 12's recipes: 30, 24 and 24 ms (lags 115, 108 and 104 ms).
assert statistics.median(ctc_errors[f"CTC, {1000 * lag:.0f} ms earlier"]) <= 0.06

# %% [markdown]
# Raw spikes miss by about the lag itself (~110 ms); shifted by the one number measured
# on training clips, the CTC aligner lands within a frame or two of eSpeak, and — unlike
# attention — by about as much from one training run to the next (30, 24 and 24 ms in
# three runs, where attention gave 20, 48 and 46 ms), because the CTC head was *trained* to put
# words on frames while attention only learned it on the way. Its tail is the spike
# timing itself: a word the model recognises early or late is shifted by the same lag
# as every other. WhisperX aligns characters or phonemes rather than words for this
# reason: many small spikes pin a word's start and end far better than one.

# %% [markdown]
# ## 5. The multimodal pipeline
#
# `video.pipeline.MultimodalPipeline` strings it together for one clip and its speech:
# **listen** (language, transcript, an English translation when the speech is not
# English — day 12's tasks), **time the words** (section 4) and cut them into subtitle
# cues (at most 42 characters, shown at least 0.7 s, `video.subtitles`) written as
# WebVTT, **look** (section 3's answers), **summarise** (a template: our models are too
# small to write prose), and **render** an MP4 with the speech and a soft subtitle
# track.
#
# The input is a talking-face clip beside a moving digit: the speaker's face is made by
# **day 17's lip-sync generator**, which takes a face saying something else and moves
# its mouth to the new speech (`sync.lipsync.dub`), and `video.pipeline.side_by_side`
# puts it next to the digit clip at the face's 25 frames per second. The Q-Former looks
# at the digit; the viewer sees both. Played here with the subtitles burned in (libass
# through ffmpeg), since a browser does not show an MP4's own text track.

# %%
lipsync = train_lipsync(preset(LIPSYNC_PRESETS, DEVICE))      # day 17's generator (loaded once day 17 has run)
lipsync.model.to("cpu")
pipeline = MultimodalPipeline(asr, heads, qa)
results = {}
examples = (("en", "seven two nine", 5, 2), ("de", translate_digits("four one eight", "de"), 6, 5))
for language, sentence, clip_index, face_style in examples:
    speech = speak(sentence, "en-us" if language == "en" else language)
    digit_clip = frames[clip_index]                                        # (T, 1, 16, 16) at 4 fps
    seconds = len(digit_clip) / 4
    padded = F.pad(speech, (0, max(0, round(seconds * 16_000) - len(speech))))    # silence to the clip's end
    other_words = faces.make_clip("good morning to you all", style=face_style).video()
    talking = dub(lipsync.model, other_words, padded)                      # (T', 3, 32, 32) at 25 fps
    picture = side_by_side(digit_clip, 4, talking, faces.FPS)              # (T', 3, 32, 64)
    results[language] = result = pipeline.run(digit_clip, speech, fps=faces.FPS, picture=picture, scale=4)
    print(result.summary)
    print(f"  words: {[(w, round(s, 2), round(e, 2)) for w, s, e in result.words]}")
    print("  " + " | ".join(f"{k} {v * 1000:.0f} ms" for k, v in result.seconds.items()))
print(results["en"].webvtt)
display(show_mp4(burn_subtitles(results["en"].mp4, results["en"].cues, font_size=24)))
for result in results.values():
    assert " ".join(c.text for c in result.cues).split() == result.transcript.split()     # every word, in order

# %% [markdown]
# The German clip is transcribed in German and translated — day 12 learned both tasks
# from the same audio; compare the translation with the transcript word by word, as
# day 12's decoder sometimes drops a word (nothing in the pipeline would notice). Its word times are rougher: the alignment heads were chosen on
# English, and a word can come out with no length at all (DTW may step down a row
# without moving in time), which a subtitle survives but a karaoke display would not.
# Everything the summary says was measured by a model of this course; where a model is
# wrong (a misheard digit, a misread one), the summary is too, with nothing to flag it:
# a production pipeline would carry each model's confidence along.
#
# Why is the speaker eSpeak NG and not **day 11's own voice**? Because day 12's ASR has
# only ever heard eSpeak. The same 10 held-out strings, read by eSpeak and by day 11's
# FastSpeech with its neural vocoder (the same "en-us" voice it imitates):

# %%
tts = train_fastspeech(preset(TTS_PRESETS, DEVICE))              # day 11's TTS (loaded once day 11 has run)
tts.neural_vocoder = train_vocoder(preset(VOCODER_PRESETS, DEVICE)).model
strings = unseen[:10]
voices = {"eSpeak NG": [speak(s) for s in strings],
          "day 11's TTS": [tts.synthesize(s, "en-us") for s in strings]}
asr.model.to("cpu")
heard_wer = {}
for name, waves in voices.items():
    languages = asr.detect_language(waves)
    heard = asr.transcribe(waves, language="en")
    heard_wer[name] = word_error_rate(strings, heard)
    print(f"{name:13s} WER {100 * heard_wer[name]:3.0f} %, languages detected {dict(Counter(languages))};  "
          f"e.g. {strings[0]!r} -> {heard[0]!r}")
display(play_audio(torch.cat([voices["eSpeak NG"][0], voices["day 11's TTS"][0]]), 16_000))

# %% [markdown]
# Day 11's voice is intelligible to a person (PocketSphinx heard it with a WER near 10 %
# in day 11), yet day 12's model mishears it, and may not even name its language right:
# the vocoder's texture and FastSpeech's smoothed prosody are a **domain shift** for a
# recogniser trained on one synthesiser. Whisper avoids this by training on 680,000
# hours of varied audio; ours would need day 11's speech in its training mix. A pipeline is only as good as
# the weakest model's fit to the data the others feed it.
#
# ## In production
#
# - **Retrieval**: [CLIP4Clip](https://arxiv.org/abs/2104.08860) (meanP, seqLSTM,
#   seqTransf and tightTransf heads on CLIP), [X-CLIP](https://arxiv.org/abs/2207.07285)
#   (cross-grained contrast between frames and words); at scale, InternVideo and
#   VideoCLIP train the video tower end to end on millions of clip–text pairs.
# - **Video LLMs**: [BLIP-2](https://arxiv.org/abs/2301.12597)'s Q-Former;
#   [VideoLLaMA](https://arxiv.org/abs/2306.02858) and
#   [VideoLLaMA 2](https://arxiv.org/abs/2406.07476) (a spatial-temporal convolution
#   connector instead of the Q-Former, and an audio branch); LLaVA-style models that feed
#   pooled patch tokens straight into the LLM; all sample 8–32 frames, and long-video
#   models add memory or keyframe selection.
# - **Word timestamps**: [Whisper](https://arxiv.org/abs/2212.04356)'s
#   `word_timestamps=True` (alignment heads + DTW, as here);
#   [whisper-timestamped](https://github.com/linto-ai/whisper-timestamped) and
#   [WhisperX](https://arxiv.org/abs/2303.00747) refine it with voice activity detection
#   and a phoneme-level CTC aligner (wav2vec 2.0), which is sharper than attention.
# - **Subtitles**: WebVTT ([W3C](https://www.w3.org/TR/webvtt1/)) for the web, SRT for
#   players, `mov_text` inside MP4, burned-in text for social video.
#
# **Failure modes to expect**, each visible in miniature today: order-blind pooling
# (mean pooling's 50 %); shortcuts in the data (a single frame "knowing" the direction
# because every clip starts at a wall); a frozen encoder caps what the language model
# can say (the digit errors of section 3); attention is not alignment (the end times);
# and pipelines pass errors on silently.

# %%
print(f"notebook ran in {time.perf_counter() - notebook_start:.0f} s")
