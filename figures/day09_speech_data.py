"""Day 09 figures: how one corpus utterance is made (`course_lib.data.speech.make_utterance`),
drawn with the real log-mel and phoneme frames of one sentence."""

import numpy as np

from course_lib.tools.diagrams import Diagram

SENTENCE = "Wake me up at 7:45."


def _utterance():
    from course_lib.data.speech import make_utterance

    return make_utterance(SENTENCE, voice="en-us", domain="commands")


def data_pipeline() -> Diagram:
    from course_lib.data import speech

    utt = _utterance()
    d = Diagram(980, 390, title="Day 09: one sentence → phoneme ids, 16 kHz audio, log-mel and frames per phoneme")
    # ------------------------------------------------------------ text row
    raw = d.box(10, 20, 150, 44, f'"{SENTENCE}"', fill="data", size=12)
    norm = d.box(200, 20, 120, 44, "normalize()\nnumbers → words", fill="op", size=11)
    words = d.box(360, 20, 220, 44, f'"{utt.text}"', fill="data", size=11)
    g2p = d.box(620, 20, 130, 44, "eSpeak NG G2P\nphoneme_tokens()", fill="frozen", size=11)
    table = d.box(790, 20, 180, 44, "SymbolTable → ids\nPAD 0, EOS 1 at the end", fill="op", size=11)
    for a, b in ((raw, norm), (norm, words), (words, g2p), (g2p, table)):
        d.arrow(a.right, b.left)
    d.text(490, 84, "tokens: " + " ".join("␣" if t == " " else t for t in utt.phonemes), size=11, mono=True)
    # ------------------------------------------------------------ audio row
    syn = d.box(10, 110, 170, 54, "eSpeak NG synthesize()\nformant synthesiser", fill="frozen", size=11)
    d.arrow(words.bottom, syn.top, via=[(words.bottom[0], 94), (95, 94)])
    wave = d.box(220, 110, 150, 54, "wave at 22,050 Hz\n+ phoneme events\n(symbol, start sample)", fill="data", size=10)
    res = d.box(410, 110, 120, 54, "resample\n→ 16 kHz", fill="op", size=11)
    mel = d.box(570, 110, 190, 54, f"log-mel: {speech.N_FFT}-sample (50 ms)\nwindows, hop {speech.HOP_LENGTH} "
                                   f"(12.5 ms)\n{speech.N_MELS} bands → ({speech.N_MELS}, {utt.n_frames})",
                fill="op", size=10)
    for a, b in ((syn, wave), (wave, res), (res, mel)):
        d.arrow(a.right, b.left)
    frames = d.box(800, 110, 170, 54, "durations_to_frames()\nround the boundaries\nΣ frames = n_frames", fill="op", size=10)
    d.arrow((wave.bottom[0], wave.bottom[1]), frames.bottom, via=[(wave.bottom[0], 184), (frames.bottom[0], 184)],
            label="durations in samples (at 22,050 Hz)", label_at=0.5)
    # ------------------------------------------------------------ the real alignment
    cell_w = 4.6
    m = utt.mel.numpy()                                                # (80, frames), natural log
    m = m.reshape(20, 4, -1).mean(1)                                   # 20 rows of 4 mel bands
    lo, hi = np.percentile(m, 2), m.max()
    img = 1 - np.clip((m - lo) / (hi - lo), 0, 1)                      # loud = dark
    x0, y0 = 110, 230
    d.pixels(x0, y0, img[::-1], cell=cell_w)                           # low bands at the bottom
    width, height = cell_w * img.shape[1], cell_w * img.shape[0]
    edges = np.cumsum([0, *utt.durations])
    for k, (sym, a, b) in enumerate(zip(utt.events, edges, edges[1:])):
        if b <= a:
            continue
        d.arrow((x0 + a * cell_w, y0), (x0 + a * cell_w, y0 + height + 6), head=False, color="#c0392b")
        d.text(x0 + (a + b) / 2 * cell_w, y0 + height + 16 + 12 * (k % 2), sym, size=10)
    d.arrow((x0 + width, y0), (x0 + width, y0 + height + 6), head=False, color="#c0392b")
    d.text(x0 - 8, y0 + height / 2, f"{speech.N_MELS} mel\nbands\n(low at\nbottom)", size=10, anchor="end")
    d.text(x0 + width / 2, y0 + height + 52,
           f"{utt.n_frames} frames at 80 per second = {utt.n_frames / 80:.2f} s; (frames per event: {', '.join(str(x) for x in utt.durations[:6])}, ...); _ = pause",
           size=11)
    d.arrow(mel.bottom, (mel.bottom[0], y0 - 4), label="log-mel", label_at=0.5)
    d.text(x0 + width + 10, y0 + height / 2, "red lines:\nframes per\nphoneme from\ndurations_to_frames()",
           size=10, anchor="start", color="#c0392b")
    return d


FIGURES = {"day09_data_pipeline.svg": data_pipeline}
