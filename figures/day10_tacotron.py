"""Day 10 figures: Tacotron 2 as `course_lib.speech.tacotron.Tacotron` builds it (CPU sizes of
`TacotronConfig`: embed 64, BiLSTM 2 x 32, attention 64, 32 location filters of width 31,
prenet 64, LSTMs 128, reduction r = 4, postnet 5 convolutions of 64 channels)."""

from course_lib.tools.diagrams import Diagram


def tacotron2() -> Diagram:
    d = Diagram(980, 470, title="Tacotron 2 (course_lib.speech.tacotron): one decoder step i, r = 4 frames per step")
    # ---------------------------------------------------------------- encoder (left column)
    d.frame(10, 8, 220, 400, "Encoder  (once per utterance)")
    ids = d.box(30, 36, 180, 40, "phoneme ids  (B, N)\nPAD 0, EOS 1", fill="data", size=12)
    emb = d.box(30, 106, 180, 36, "embedding → 64", size=12)
    conv = d.box(30, 172, 180, 50, "3 × Conv1d (k 5)\n+ BatchNorm, ReLU, dropout", size=12)
    lstm = d.box(30, 252, 180, 40, "BiLSTM  2 × 32", size=12)
    mem = d.box(30, 328, 180, 50, "memory h_j  (B, N, 64)\nV h_j computed once", fill="data", size=12)
    for a, b in ((ids, emb), (emb, conv), (conv, lstm), (lstm, mem)):
        d.arrow(a.bottom, b.top)

    # ---------------------------------------------------------------- attention (middle)
    d.frame(260, 8, 330, 400, "Location-sensitive attention")
    prev = d.box(275, 36, 140, 40, "previous α_{i−1}\n(B, N)", fill="data", size=11)
    cum = d.box(430, 36, 145, 40, "cumulative Σ_{k<i} α_k\n(B, N)", fill="data", size=11)
    loc = d.box(300, 106, 250, 40, "F: Conv1d 2 → 32, k 31;  U: 32 → 64\nf_ij = location features (B, N, 32)", size=11)
    d.arrow(prev.bottom, (prev.bottom[0], loc.top[1]))
    d.arrow(cum.bottom, (cum.bottom[0], loc.top[1]))
    energy = d.box(280, 180, 290, 44, "e_ij = vᵀ tanh(W s_i + V h_j + U f_ij + b)\n(B, N)", size=12)
    d.arrow(loc.bottom, (loc.bottom[0], energy.top[1]))
    soft = d.box(330, 254, 190, 36, "masked softmax over j", fill="op", size=12)
    d.arrow(energy.bottom, soft.top)
    alpha = d.box(300, 318, 120, 44, "α_i  (B, N)\n0 on padding", fill="data", size=11)
    ctx = d.box(440, 318, 135, 44, "c_i = Σ_j α_ij h_j\n(B, 64)", fill="data", size=11)
    d.arrow((soft.bottom[0] - 40, soft.bottom[1]), (alpha.top[0], alpha.top[1]))
    d.arrow((soft.bottom[0] + 40, soft.bottom[1]), (ctx.top[0], ctx.top[1]))
    d.arrow(mem.right, (ctx.left[0] + 20, ctx.bottom[1]), via=[(250, mem.right[1]), (250, 395), (ctx.left[0] + 20, 395)],
            label="memory h", label_at=0.3)
    d.arrow(mem.right, energy.left, via=[(250, mem.right[1]), (250, energy.left[1])])
    d.arrow(alpha.bottom, (prev.left[0], 60), via=[(alpha.bottom[0], 380), (268, 380), (268, 60)],
            dashed=True, head=True)
    d.text(283, 375, "next step", size=10, italic=True, anchor="start", color="#555555")

    # ---------------------------------------------------------------- decoder (right column)
    d.frame(620, 8, 350, 400, "Autoregressive decoder  (step i)")
    last = d.box(640, 36, 140, 40, "last frame of step i−1\n(B, 80); step 0: zeros", fill="data", size=10)
    pre = d.box(640, 100, 140, 44, "Prenet 2 × (Linear 64,\nReLU, dropout 0.5 always)", size=10)
    d.arrow(last.bottom, pre.top)
    att_rnn = d.box(640, 170, 140, 44, "attention LSTMCell 128\n[prenet; c_{i−1}] → s_i", size=10)
    d.arrow(pre.bottom, att_rnn.top)
    d.arrow(att_rnn.left, energy.right, via=[(605, att_rnn.left[1]), (605, energy.right[1])])
    d.text(588, 190, "s_i", size=11, italic=True)
    dec_rnn = d.box(640, 252, 140, 44, "decoder LSTMCell 128\n[s_i; c_i] → h_i", size=10)
    d.arrow(att_rnn.bottom, dec_rnn.top)
    d.arrow(ctx.right, dec_rnn.left, via=[(605, ctx.right[1]), (605, dec_rnn.left[1])], label="c_i", label_at=0.6)
    stop = d.box(800, 176, 155, 40, "Linear → stop logit\nend when σ > 0.5", fill="loss", size=10)
    frames = d.box(800, 240, 155, 44, "Linear [h_i; c_i] → 4 × 80\nr = 4 frames", size=10)
    d.arrow(dec_rnn.right, frames.left)
    d.arrow(dec_rnn.right, stop.left)
    d.arrow(frames.right, last.right, via=[(963, frames.right[1]), (963, last.right[1])], dashed=True)
    d.text(955, 120, "last frame fed back\n(inference; training:\nthe true frame)", size=10, italic=True, anchor="end")
    mel = d.box(800, 314, 155, 44, "mel (B, 80, T)\nall steps stacked", fill="data", size=11)
    d.arrow(frames.bottom, mel.top)
    post = d.box(640, 318, 140, 50, "Postnet: 5 × Conv1d\nk 5, 64 ch → residual", size=10)
    d.arrow(mel.left, (post.right[0], mel.left[1]))
    # ---------------------------------------------------------------- outputs and losses
    out = d.box(720, 424, 170, 38, "mel + postnet(mel)", fill="data", size=11)
    d.arrow(post.bottom, (out.left[0] + 25, out.top[1]), via=[(post.bottom[0], 400), (out.left[0] + 25, 400)])
    d.arrow(mel.bottom, (out.right[0] - 25, out.top[1]), via=[(mel.bottom[0], 400), (out.right[0] - 25, 400)])
    d.box(380, 424, 315, 38, "loss: MSE(mel) + MSE(mel+postnet) + BCE(stop)\n+ guided attention  mean(α ⊙ W)",
          fill="loss", size=10)
    d.box(30, 424, 330, 38, "training: step i is fed the true frame\n(teacher forcing); inference: its own",
          fill="note", size=10)
    return d


FIGURES = {"day10_tacotron2.svg": tacotron2}
