"""Day 17 figures: the SyncNet expert and the Wav2Lip-style generator, with the real
tensor shapes of course_lib.sync (cpu preset: SyncNet width 32, dim 64; generator width 12)."""

import torch

from course_lib.tools.diagrams import Diagram


def _face(opening: float, masked: bool = False, lower: bool = False):
    """A procedural 32x32 face (course_lib.data.faces) as grey levels in [0, 1]."""
    from course_lib.data import faces

    rgb = faces.render_face(torch.tensor([[opening, 0.5, 0.0]]), faces.FACE_STYLES[0])[0]
    grey = (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]).numpy()
    if masked:
        grey[16:] = 0.0
    return grey[16:] if lower else grey


def syncnet() -> Diagram:
    d = Diagram(960, 330, title="SyncNet expert: do these 5 frames of lips go with this 0.2 s of audio?")
    # face tower
    for i, opening in enumerate((0.1, 0.4, 0.8, 0.5, 0.2)):
        d.pixels(10 + 6 * i, 6 + 6 * i, _face(opening, lower=True), cell=2)
    d.text(55, 96, "lower halves of\nframes t … t+4", size=10)
    fin = d.box(125, 25, 120, 50, "(B, 15, 16, 32)\n5 frames × RGB", fill="data", size=11)
    face = d.box(290, 5, 235, 92, "face encoder\nconv 15→32 · 32→64 /2 · 64→64 /2\n· 64→128 /2  → (128, 2, 4)\n"
                 "Linear 1024→64, ReLU", fill="model", size=11)
    v = d.box(570, 30, 110, 40, "L2 norm → v\n(B, 64), v ≥ 0", fill="data", size=11)
    d.arrow((100, 50), fin.left)
    d.arrow(fin.right, face.left)
    d.arrow(face.right, v.left)
    # audio tower
    ain = d.box(125, 150, 120, 50, "mel window\n(B, 80, 16) = 0.2 s", fill="data", size=11)
    d.text(62, 175, "mel frames\nround(3.2 t)\n… +15", size=10)
    audio = d.box(290, 130, 235, 92, "audio encoder\n(mel + 5) / 3, conv1d 80→64\n· 64→64 /2 · 64→128 /2 → (128, 4)\n"
                  "Linear 512→64, ReLU", fill="model", size=11)
    a = d.box(570, 155, 110, 40, "L2 norm → a\n(B, 64), a ≥ 0", fill="data", size=11)
    d.arrow(ain.right, audio.left)
    d.arrow(audio.right, a.left)
    # similarity and loss
    cos = d.circle(722, 112, 16, "cos", size=11)
    d.arrow(v.right, (cos.left[0] + 3, cos.top[1] + 6), via=[(700, 50)])
    d.arrow(a.right, (cos.left[0] + 3, cos.bottom[1] - 6), via=[(700, 175)])
    loss = d.box(790, 82, 162, 60, "BCE(sim, y)\ny = 1: its own audio\ny = 0: 2–15 frames away", fill="loss", size=11)
    d.arrow(cos.right, loss.left)
    d.text(764, 140, "sim ∈ [0, 1]", size=11, italic=True)
    # offset search
    d.frame(10, 238, 940, 88, "at test time: offset search over a whole clip (T frames)")
    d.text(480, 270, "d(k) = mean_t ( 1 − cos(v_t, a_{t+k}) ) for k = −15 … 15 (k > 0: the sound is late)",
           size=12, mono=True)
    d.text(480, 300, "offset = argmin_k d(k) ;  LSE-D = min_k d(k) ;  LSE-C = median_k d(k) − min_k d(k)",
           size=12, mono=True)
    return d


def generator() -> Diagram:
    d = Diagram(960, 372, title="Wav2Lip-style generator: paint the masked mouth from the audio")
    ref = d.pixels(20, 12, _face(0.6), cell=2)
    d.text(52, 86, "reference\n(B, 3, 32, 32)", size=10)
    msk = d.pixels(20, 112, _face(0.2, masked=True), cell=2)
    d.text(52, 186, "masked target\n(B, 3, 32, 32)", size=10)
    mel = d.box(10, 226, 95, 56, "mel window\nframes t−2 … t+2\n(B, 80, 16)", fill="cond", size=10)
    cat = d.circle(130, 90, 12, "cat", size=9)
    d.arrow(ref.right, cat.left, via=[(100, 44), (100, 90)])
    d.arrow(msk.right, cat.left, via=[(100, 144), (100, 90)])
    enc = [d.box(160 + 20 * i, 10 + 62 * i, 140, 38, text, fill="model", size=11)
           for i, text in enumerate(["enc1  12 × 32 × 32", "enc2  24 × 16 × 16 (/2)",
                                     "enc3  48 × 8 × 8 (/2)", "enc4  48 × 4 × 4 (/2)"])]
    d.arrow(cat.right, enc[0].left, via=[(150, 90), (150, 29)])
    for a, b in zip(enc, enc[1:]):
        d.arrow(a.bottom, (b.top[0] - 10, b.top[1]))
    aenc = d.box(140, 262, 165, 44, "audio encoder: 3 conv1d\n+ Linear 256 → 64: a", fill="model", size=11)
    d.arrow(mel.right, (aenc.left[0], aenc.left[1] - 12))
    plus = d.circle(400, 205, 12, "cat", size=9)
    d.arrow(enc[3].right, plus.left)
    d.arrow(aenc.right, plus.bottom, via=[(400, 284)])
    d.text(408, 246, "a: 64 → 64 × 4 × 4 (broadcast)", size=9, anchor="start")
    mid = d.box(440, 186, 130, 38, "mid  112 → 48 × 4 × 4", fill="model", size=11)
    film = d.box(440, 280, 150, 40, "FiLM: h·(1 + γ(a)) + β(a)\non mid, dec3, dec2, dec1", fill="cond", size=10)
    d.arrow((aenc.right[0], aenc.right[1] + 12), film.left, via=[(420, 296), (420, 300)])
    for box in (mid,):
        d.arrow((film.top[0] + 40, film.top[1]), (box.bottom[0] + 40, box.bottom[1]), dashed=True, color="#b05a00")
    d.arrow(plus.right, mid.left)
    dec = [d.box(460 - 20 * i, 124 - 62 * i, 140, 38, text, fill="model", size=11)
           for i, text in enumerate(["dec3  24 × 8 × 8", "dec2  12 × 16 × 16", "dec1  12 × 32 × 32"])]
    d.arrow((mid.top[0] + 10, mid.top[1]), (dec[0].bottom[0] + 10, dec[0].bottom[1]))
    for a, b in zip(dec, dec[1:]):
        d.arrow((a.top[0] - 10, a.top[1]), b.bottom)
    d.text(600, 232, "decoder: up ×2, cat the skip\n(grey dashed), then FiLM", size=9, anchor="start")
    for e, dd in zip(enc[2::-1], dec):
        d.arrow(e.right, dd.left, dashed=True, color="#777777")
    out = d.box(620, 10, 120, 38, "1×1 conv, sigmoid\n→ G (B, 3, 32, 32)", fill="model", size=10)
    d.arrow(dec[2].right, out.left)
    g = d.box(780, 6, 150, 46, "P = paste(G, pose):\nrows ≥ 14 ramp into G", fill="data", size=10)
    d.arrow(out.right, g.left)
    # losses
    tgt = d.box(640, 110, 100, 40, "target x", fill="data", size=11)
    l1 = d.box(790, 110, 140, 40, "L1 = |P − x|₁,\nmouth box × 7", fill="loss", size=10)
    d.arrow(g.bottom, l1.top)
    d.arrow(tgt.right, l1.left)
    exp = d.box(790, 190, 140, 52, "frozen SyncNet\n5 pasted frames\n+ their mel", fill="frozen", size=10)
    d.arrow(g.right, exp.right, via=[(948, 29), (948, 216)])
    d.arrow(mel.bottom, exp.left, via=[(57, 326), (760, 326), (760, 216)])
    es = d.box(790, 270, 140, 38, "E_sync = −log sim", fill="loss", size=11)
    d.arrow(exp.bottom, es.top)
    d.text(480, 350, "L = (1 − w)·L1 + w·E_sync ;  w = 0.03 from the first step (Wav2Lip: 0 until the expert's "
           "loss falls below 0.75)", size=12)
    return d


FIGURES = {"day17_syncnet.svg": syncnet, "day17_lipsync_generator.svg": generator}
