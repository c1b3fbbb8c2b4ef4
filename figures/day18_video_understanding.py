"""Day 18 figure: the video–text model of `course_lib.video.retrieval` (CPU preset: dim 64,
a temporal transformer of 2 blocks) and the Q-Former of `course_lib.video.qformer` (4
queries, dim 96) that reads its frozen frame encoder."""

from course_lib.tools.diagrams import Diagram

D = 64           # RetrievalConfig.dim (cpu)
Q = 96           # VideoQAConfig.dim (cpu)


def video_understanding() -> Diagram:
    d = Diagram(900, 560, title="Two towers for retrieval, and a Q-Former that lets a language model see the clip")

    # ---------------------------------------------------------------- video tower
    x, w = 20, 270
    frames = d.box(x, 10, w, 44, "k sampled frames (B, k, 1, 16, 16)\nat clip positions i₁ < … < i_k",
                   fill="data", size=11)
    cnn = d.box(x, 84, w, 52, f"FrameEncoder (per frame)\n3 convolutions 3×3 + Linear → {D}", fill="model", size=11)
    d.arrow(frames.bottom, cnn.top)
    d.frame(x - 8, 166, w + 16, 132, "temporal head: one of")
    mean = d.box(x + 8, 186, w - 16, 36, "mean over frames (order-blind)", fill="model", size=11)
    seq = d.box(x + 8, 234, w - 16, 52, "+ position embedding P[i_t]\n2 EncoderBlocks, then mean",
                fill="model", size=11)
    d.arrow(cnn.bottom, mean.top, f"(B, k, {D})")
    video = d.box(x, 326, w, 36, "Linear, L2-normalise → v̂ (B, 64)", fill="data", size=11)
    d.arrow((x + w / 2, 298), video.top)

    # ---------------------------------------------------------------- text tower
    x2 = 330
    caption = d.box(x2, 166, 230, 44, "caption words\n\"a 3 moving up-left\"", fill="cond", size=11)
    text_enc = d.box(x2, 240, 230, 52, "TextEncoder (day 08)\n2 blocks, mean over words", fill="model", size=11)
    d.arrow(caption.bottom, text_enc.top)
    text = d.box(x2, 326, 230, 36, "Linear, L2-normalise → t̂ (B, 64)", fill="data", size=11)
    d.arrow(text_enc.bottom, text.top)

    loss = d.box(x, 400, x2 + 230 - x, 52, "symmetric InfoNCE:  ℓᵢⱼ = s · v̂ᵢ·t̂ⱼ,  s = e^λ learned\n"
                 "½ [CE over captions for each clip + CE over clips for each caption]", fill="loss", size=11)
    d.arrow(video.bottom, (video.bottom[0], 400))
    d.arrow(text.bottom, (text.bottom[0], 400))
    d.text(x + (x2 + 230 - x) / 2, 478, "retrieval: rank clips by v̂·t̂ (and captions for a clip)", size=11,
           italic=True, color="#555555")

    # ---------------------------------------------------------------- Q-Former (right)
    x3, w3 = 600, 280
    d.text(x2 + 115, 96, "frozen frame features (B, 8, 64)", size=11, italic=True, color="#1f5fa8")
    queries = d.box(x3, 40, w3, 36, f"4 learned queries (4, {Q})", fill="cond", size=11)
    d.frame(x3 - 8, 92, w3 + 16, 124, "× 2 Q-Former blocks")
    qsa = d.box(x3 + 8, 104, w3 - 16, 30, "self-attention among the queries", fill="model", size=10.5)
    qca = d.box(x3 + 8, 140, w3 - 16, 30, "cross-attention to the frames (+ positions)", fill="model", size=10.5)
    qmlp = d.box(x3 + 8, 176, w3 - 16, 30, "MLP", fill="model", size=10.5)
    d.arrow(queries.bottom, qsa.top)
    d.arrow(qsa.bottom, qca.top)
    d.arrow(qca.bottom, qmlp.top)
    d.arrow(cnn.right, qca.left, via=[(x3 - 24, cnn.right[1]), (x3 - 24, qca.left[1])])
    seq_box = d.box(x3, 246, w3, 52, "[q₁ q₂ q₃ q₄] which way does it move ?\n<bos> up left <eos>",
                    fill="data", size=11)
    d.arrow((x3 + w3 / 2, 216), seq_box.top, "4 video tokens")
    lm = d.box(x3, 326, w3, 52, "causal transformer, 2 blocks\n(KV cache when answering)", fill="model", size=11)
    d.arrow(seq_box.bottom, lm.top)
    ce = d.box(x3, 400, w3, 52, "cross-entropy on the answer and <eos>;\n"
               "tasks: describe, digit, direction, wall", fill="loss", size=11)
    d.arrow(lm.bottom, ce.top)
    return d


FIGURES = {"day18_video_understanding.svg": video_understanding}
