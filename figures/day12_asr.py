"""Day 12 figure: the Whisper-style encoder-decoder of `course_lib.speech.asr` (CPU preset:
dim 96, 4 heads, 2 encoder and 2 decoder blocks, 123 tokens), with its task prompt."""

from course_lib.tools.diagrams import Diagram

V = 123          # tokenizer_for(PRESETS["cpu"].data): 8 special tokens + 115 words
D = 96           # AsrConfig.dim of the "cpu" preset


def whisper_asr() -> Diagram:
    d = Diagram(910, 540, title="WhisperASR: audio encoder, text decoder, task tokens (CPU preset sizes)")

    # ---------------------------------------------------------------- encoder (left)
    x, w = 20, 300
    mel = d.box(x, 10, w, 40, "log-mel features (B, 80, T)\n100 frames per second", fill="data", size=12)
    stem = d.box(x, 80, w, 58,
                 "encoder.stem (ConvStem)\nConv1d 80→96, k 3 + GELU\nConv1d 96→96, k 3, stride 2 + GELU",
                 fill="model", size=11)
    d.arrow(mel.bottom, stem.top)
    plus = d.circle(x + w / 2, 178)
    d.arrow(stem.bottom, plus.top, f"(B, S = ⌈T/2⌉, {D})")
    pos = d.box(x, 163, 88, 30, "sin-cos\npositions", fill="frozen", size=10)
    d.arrow(pos.right, plus.left)
    d.frame(x - 8, 212, w + 16, 128, "× 2 EncoderBlock")
    sa = d.box(x + 10, 232, w - 20, 40, "LN → self-attention, 4 heads\n(padding frames masked from the keys)",
               fill="model", size=11)
    mlp = d.box(x + 10, 286, w - 20, 40, f"LN → MLP {D}→192→{D}\n(each with a residual +)", fill="model", size=11)
    d.arrow(plus.bottom, sa.top)
    d.arrow(sa.bottom, mlp.top)
    audio = d.box(x, 370, w, 40, f"encoder.ln_post → audio (B, S, {D})", fill="data", size=12)
    d.arrow(mlp.bottom, audio.top)
    ctc = d.box(x, 440, w, 34, f"ctc: Linear {D}→{V + 1} (words + blank)", fill="model", size=11)
    d.arrow(audio.bottom, ctc.top)
    ctc_loss = d.box(x, 500, w, 30, "CTC loss, weight 0.3 (training only)", fill="loss", size=11)
    d.arrow(ctc.bottom, ctc_loss.top)

    # ---------------------------------------------------------------- decoder (right)
    x0 = 400
    tokens = [("<|startoftranscript|>", "cond", 142), ("<|en|>", "cond", 56), ("<|transcribe|>", "cond", 104),
              ("five", "data", 60), ("three", "data", 96)]
    targets = [("<|en|>", "loss"), ("(task: not scored)", "none"), ("five", "loss"), ("three", "loss"),
               ("<|endoftext|>", "loss")]
    boxes, cx = [], x0
    for text, fill, width in tokens:
        boxes.append(d.box(cx, 10, width, 30, text, fill=fill, size=10.5))
        cx += width + 8
    right = cx - 8
    d.text(x0 + 150, 56, "prompt: start, language, task", size=10, italic=True, color="#2e7d32")
    d.text(right - 60, 56, "transcript words", size=10, italic=True, color="#1f5fa8")
    dw = right - x0
    embed = d.box(x0, 78, dw, 40, f"decoder.embed (token → {D}) + decoder.positions (learned, 64 × {D})",
                  fill="model", size=11)
    for b in boxes:
        d.arrow(b.bottom, (b.bottom[0], 78))
    d.frame(x0 - 8, 142, dw + 16, 198, "× 2 DecoderBlock (decoder.blocks)")
    self_attn = d.box(x0 + 10, 162, dw - 20, 40, "LN → causal self-attention, 4 heads\n"
                      "KVCache: append the new token's k, v", fill="model", size=11)
    cross = d.box(x0 + 10, 218, dw - 20, 48,
                  "LN → cross-attention: queries from the text,\nkeys and values from the audio "
                  "(KVCache: projected once)", fill="model", size=11)
    dmlp = d.box(x0 + 10, 282, dw - 20, 40, f"LN → MLP {D}→192→{D}   (each sub-layer adds a residual)",
                 fill="model", size=11)
    d.arrow(embed.bottom, self_attn.top)
    d.arrow(self_attn.bottom, cross.top)
    d.arrow(cross.bottom, dmlp.top)
    d.arrow(audio.right, cross.left, "k, v", via=[(360, audio.right[1]), (360, cross.left[1])], label_at=0.8)
    logits = d.box(x0, 370, dw, 40, f"decoder.ln → logits = x Eᵀ (tied to decoder.embed): (B, N, {V})",
                   fill="model", size=11)
    d.arrow(dmlp.bottom, logits.top)
    cx = x0
    for (text, fill), b in zip(targets, boxes):
        if fill == "none":
            d.text(b.center[0], 457, "(task token:\nnot scored)", size=9.5, italic=True, color="#777777")
        else:
            d.box(b.x, 440, b.w, 34, text, fill=fill, size=10.5 if len(text) < 12 else 9.5)
        d.arrow((b.center[0], 410), (b.center[0], 440))
    d.text(x0 + dw / 2, 500, "cross-entropy: each position predicts the next token;", size=11, color="#c0392b")
    d.text(x0 + dw / 2, 518, "the prediction after <|startoftranscript|> is the language ID", size=11,
           color="#c0392b")
    return d


FIGURES = {"day12_whisper_asr.svg": whisper_asr}
