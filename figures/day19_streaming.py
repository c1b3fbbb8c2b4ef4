"""Day 19 figure: streaming recognition as `course_lib.streaming.asr` does it — chunks into
a buffer, the whole buffer re-decoded by day 12's CTC head, LocalAgreement-2 between two
consecutive hypotheses, commits, and a cut in a pause after the committed words — and
streaming synthesis as `course_lib.streaming.tts` does it."""

from course_lib.tools.diagrams import Diagram


def streaming() -> Diagram:
    d = Diagram(900, 470, title="Live speech in and out: re-decode, agree, commit, trim; vocode chunk by chunk")

    # ---------------------------------------------------------------- recognition (left)
    x, w = 20, 420
    d.text(x + w / 2, 40, "streaming recognition (LocalAgreement-2)", size=12.5, italic=True, color="#555555")
    chunk = d.box(x, 54, 130, 44, "audio chunk\n0.5 / 1 / 2 s", fill="data", size=11)
    buffer = d.box(x + 170, 54, 250, 44, "buffer: audio since the last cut\n(stream time offset … now)",
                   fill="data", size=11)
    d.arrow(chunk.right, buffer.left, "append")
    decode = d.box(x + 170, 124, 250, 52, "day 12's encoder + CTC head, best path\n"
                   "+ CTC forced alignment (word times)", fill="model", size=11)
    d.arrow(buffer.bottom, decode.top)
    hyp = d.box(x + 170, 202, 250, 44, "hypothesis n: five three zero two nine", fill="data", size=11)
    d.arrow(decode.bottom, hyp.top)
    prev = d.box(x, 202, 150, 44, "hypothesis n − 1:\nfive three zero tw…", fill="data", size=11)
    agree = d.box(x, 272, w, 52, "commit the longest common prefix not yet committed:\n"
                  "\"five three zero\" — a word is out once a second look kept it", fill="loss", size=11)
    d.arrow(prev.bottom, (prev.bottom[0], 272))
    d.arrow(hyp.bottom, (hyp.bottom[0], 272))
    trim = d.box(x, 350, w, 52, "buffer longer than 3 s? cut in the middle of the last pause (energy)\n"
                 "that ends before the first uncommitted word", fill="model", size=11)
    d.arrow(agree.bottom, trim.top)
    d.arrow(trim.right, buffer.right, via=[(x + w + 14, trim.right[1]), (x + w + 14, buffer.right[1])])
    d.text(x + w / 2, 428, "emitted at: chunk arrival (its last sample spoken) + queue + compute",
           size=11, italic=True, color="#555555")

    # ---------------------------------------------------------------- synthesis (right)
    x2, w2 = 490, 390
    d.text(x2 + w2 / 2, 40, "streaming synthesis (exact chunks)", size=12.5, italic=True, color="#555555")
    text = d.box(x2, 54, w2, 44, "text → day 11's FastSpeech: the whole mel at once\n(n_mels, M), milliseconds",
                 fill="cond", size=11)
    mel = d.box(x2, 124, w2, 52, "frames [a, b) of one chunk, with c frames of context each side:\n"
                "c = ⌈n_fft / 2 hop⌉ + (kernel // 2)(depth + 1)", fill="data", size=11)
    d.arrow(text.bottom, mel.top)
    voc = d.box(x2, 202, w2, 52, "Vocos-style vocoder on frames [a − c, b + c)\nconvolutions + inverse STFT",
                fill="model", size=11)
    d.arrow(mel.bottom, voc.top)
    crop = d.box(x2, 272, w2, 52, "keep samples [a·hop, b·hop): equal to the whole\nutterance's (float rounding)",
                 fill="loss", size=11)
    d.arrow(voc.bottom, crop.top)
    http = d.box(x2, 350, w2, 52, "POST /v1/text-to-speech/{voice}/stream\n16-bit PCM, Transfer-Encoding: chunked",
                 fill="model", size=11)
    d.arrow(crop.bottom, http.top)
    d.text(x2 + w2 / 2, 428, "time to first audio: the mel + one chunk, not the whole wave", size=11,
           italic=True, color="#555555")
    return d


FIGURES = {"day19_streaming.svg": streaming}
