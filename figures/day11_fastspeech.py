"""Day 11 figures: FastSpeech 2 with its variance adaptor, and the speaker encoder, as
`course_lib.speech.fastspeech.FastSpeech` and `course_lib.speech.speaker.SpeakerEncoder`
build them (CPU sizes: dim 64, 2 + 2 FFT blocks, predictors of 64 channels, d-vector 64)."""

from course_lib.tools.diagrams import Diagram


def fastspeech2() -> Diagram:
    d = Diagram(1000, 430, title="FastSpeech 2 (course_lib.speech.fastspeech): text to mel in one parallel pass")
    ids = d.box(10, 40, 130, 44, "phoneme ids\n(B, N)", fill="data", size=12)
    enc = d.box(10, 120, 130, 64, "embedding 64\n+ sin-cos positions\n→ 2 × FFT block", size=11)
    d.arrow(ids.bottom, enc.top)
    d.text(75, 202, "FFT block = self-attention\n+ Conv1d MLP (k 3)", size=10, italic=True, color="#555555")
    spk = d.box(10, 250, 130, 50, "d-vector (B, 64)\nspeaker encoder", fill="cond", size=11)
    lin = d.box(10, 330, 130, 36, "Linear 64 → 64", fill="cond", size=11)
    d.arrow(spk.bottom, lin.top)
    plus = d.circle(185, 152, text="+")
    d.arrow(enc.right, plus.left)
    d.arrow(lin.right, plus.bottom, via=[(185, lin.right[1])])
    h = d.box(215, 130, 90, 44, "h  (B, N, 64)", fill="data", size=11)
    d.arrow(plus.right, h.left)

    # ------------------------------------------------------------ variance adaptor
    d.frame(330, 10, 440, 350, "Variance adaptor")
    rows = [(40, "duration predictor", "log(d+1)  (B, N)"),
            (150, "pitch predictor", "log-F0, normalised"),
            (260, "energy predictor", "energy, normalised")]
    preds = []
    for y, name, value in rows:
        p = d.box(350, y, 140, 44, name + "\n2 × Conv1d k3 + LN", size=10)
        d.text(420, y + 56, value, size=10, italic=True, color="#555555")
        d.arrow((h.right[0], h.right[1]), p.left, via=[(320, h.right[1]), (320, p.left[1])])
        preds.append(p)
    dur, pitch, energy = preds
    dcalc = d.box(515, 40, 120, 44, "d = round((e^ℓ − 1)\n / speed)", fill="op", size=10)
    d.arrow(dur.right, dcalc.left)
    pshift = d.circle(530, 172, text="+")
    d.arrow(pitch.right, pshift.left)
    d.text(530, 204, "+ pitch shift\n(s · ln2/12)", size=10, color="#2e7d32")
    pemb = d.box(560, 150, 90, 44, "Conv1d 1→64\nembed", size=10)
    d.arrow(pshift.right, pemb.left)
    eshift = d.circle(530, 282, text="+")
    d.arrow(energy.right, eshift.left)
    d.text(530, 312, "+ energy shift", size=10, color="#2e7d32")
    eemb = d.box(560, 260, 90, 44, "Conv1d 1→64\nembed", size=10)
    d.arrow(eshift.right, eemb.left)
    add = d.circle(690, 222, text="+")
    d.arrow(pemb.right, add.top, via=[(690, pemb.right[1])])
    d.arrow(eemb.right, add.bottom, via=[(690, eemb.right[1])])
    d.arrow((h.bottom[0], h.bottom[1]), add.left, via=[(h.bottom[0], 372), (650, 372), (650, 222)])
    lr = d.box(660, 40, 100, 64, "length\nregulator\nrepeat h_i d_i ×", fill="op", size=10)
    d.arrow(dcalc.right, (lr.left[0], dcalc.right[1]))
    d.arrow(add.right, (740, lr.bottom[1]), via=[(740, add.right[1])])
    d.text(550, 340, "training: the true d, pitch and energy are used; inference: the predictions",
           size=10, italic=True, color="#555555")

    # ------------------------------------------------------------ decoder
    frames = d.box(800, 40, 180, 44, "frames (B, T, 64)\nT = Σ_i d_i", fill="data", size=11)
    d.arrow(lr.right, frames.left, via=[(780, lr.right[1]), (780, frames.left[1])])
    dec = d.box(800, 110, 180, 50, "+ sin-cos positions\n→ 2 × FFT block", size=11)
    d.arrow(frames.bottom, dec.top)
    out = d.box(800, 186, 180, 44, "Linear 64 → 80\n+ mel_norm.inverse", size=11)
    d.arrow(dec.bottom, out.top)
    mel = d.box(800, 256, 180, 40, "log-mel (B, 80, T)", fill="data", size=11)
    d.arrow(out.bottom, mel.top)
    voc = d.box(800, 322, 180, 40, "vocoder → wave 16 kHz", fill="frozen", size=11)
    d.arrow(mel.bottom, voc.top)

    loss = d.box(10, 392, 330, 34, "loss: L1(mel) + MSE(log d) + MSE(pitch) + MSE(energy)", fill="loss", size=10)
    tgt = d.box(560, 392, 430, 34, "targets: d from eSpeak events, pitch by YIN, energy log ‖mel frame‖", fill="loss", size=10)
    return d


def speaker_encoder() -> Diagram:
    d = Diagram(900, 150, title="Speaker encoder (course_lib.speech.speaker): a clip → a unit d-vector")
    ref = d.box(10, 30, 120, 50, "reference\nlog-mel (B, 80, T)", fill="data", size=11)
    norm = d.box(160, 30, 90, 50, "mel_norm\nper band", fill="frozen", size=11)
    convs = d.box(280, 20, 170, 70, "3 × Conv1d k 5, ReLU\ndilation 1, 2, 4\n80 → 64 → 64 → 64", size=11)
    pool = d.box(480, 30, 130, 50, "mean and std\nover real frames", fill="op", size=11)
    proj = d.box(640, 30, 100, 50, "Linear\n128 → 64", size=11)
    unit = d.box(770, 30, 120, 50, "‖·‖ = 1\nd-vector (B, 64)", fill="cond", size=11)
    for a, b in ((ref, norm), (norm, convs), (convs, pool), (pool, proj), (proj, unit)):
        d.arrow(a.right, b.left)
    d.text(365, 110, "receptive field 1 + 4·(1+2+4)\n= 29 frames ≈ 0.36 s", size=10, italic=True, color="#555555")
    d.text(545, 112, "(B, 128): independent\nof length and words", size=10, italic=True, color="#555555")
    d.box(640, 112, 250, 34, "training: cosine classifier, 27 voices", fill="loss", size=10)
    return d


FIGURES = {"day11_fastspeech2.svg": fastspeech2, "day11_speaker_encoder.svg": speaker_encoder}
