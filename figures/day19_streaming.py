"""Day 19 figure: streaming recognition as `course_lib.streaming.asr` does it — chunks into
a buffer, the whole buffer re-decoded by day 12's CTC head, LocalAgreement-2 between two
consecutive hypotheses, commits, and a cut in a pause after the committed words — and
streaming synthesis as `course_lib.streaming.tts` does it."""

import torch

from course_lib.data.digits import load_digits
from course_lib.data.steered_digits import action_id, render, steer
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


def streaming_video() -> Diagram:
    """One chunk of `streaming.video.rollout` with a buffer of C = 2 frames: the window of T = 8
    frames, the condition channels, day 05's DiT, and the slide to the next chunk."""
    d = Diagram(900, 290, title="Streaming video: generate the next frames from a buffer of the last ones, slide, repeat")
    images, _ = load_digits()
    right, down = action_id("right"), action_id("down")
    actions = torch.tensor([[right] * 3 + [down] * 9])
    frames = render(images[3:4], steer(torch.tensor([[0, 0]]), actions, 4), 12)[0, 0]    # (12, 12, 12)
    g = torch.Generator().manual_seed(0)
    cell, gap, x0, y0 = 3.5, 12, 40, 66
    size = 12 * cell
    d.text(x0 + size + gap / 2, 50, "buffer: C = 2 frames", size=11, italic=True, color="#555555")
    d.text(x0 + 2 * (size + gap) + 3 * (size + gap), 50, "T − C = 6 frames to generate (noise → frames)", size=11,
           italic=True, color="#555555")
    for k in range(8):
        x = x0 + k * (size + gap)
        image = frames[k] if k < 2 else (frames[k] * 0.6 + torch.randn(12, 12, generator=g) * 0.5).clamp(-1, 1)
        d.pixels(x, y0, (image + 1) / 2, cell=cell)
        d.text(x + size / 2, y0 + size + 10, f"{k}", size=10, color="#555555")
    window_right = x0 + 8 * (size + gap) - gap
    cond = d.box(x0, 150, window_right - x0, 66, "4 condition channels, concatenated to the noisy frames:\n"
                 "the buffer frames (+ noise in training) · a mask (1 on the buffer)\n"
                 "the move (Δrow, Δcol) of every new frame, from the player's action",
                 fill="cond", size=11)
    d.arrow((x0 + size + gap / 2, y0 + size + 20), (x0 + size + gap / 2, 150))
    dit = d.box(window_right + 40, 66, 200, 80, "day 05's video DiT\n(factorized attention)\n+ digit label (guided)",
                fill="model", size=11)
    d.arrow((window_right, y0 + size / 2), dit.left, "x_t")
    d.arrow(cond.right, (dit.left[0] + 30, dit.bottom[1]), via=[(dit.left[0] + 30, cond.right[1])])
    out = d.box(window_right + 40, 190, 200, 60, "frames C…T − 1 after 5 DDIM steps\n= the next chunk", fill="data",
                size=11)
    d.arrow(dit.bottom, out.top)
    d.arrow(out.left, (x0 + 6.5 * (size + gap), 216), via=[(x0 + 6.5 * (size + gap), out.left[1])], dashed=True)
    d.text(x0 + 3.2 * (size + gap), 240, "slide: frames 6 and 7 become the next chunk's buffer;",
           size=11, italic=True, color="#555555")
    d.text(x0 + 3.2 * (size + gap), 256, "the player's controls are read when a chunk starts",
           size=11, italic=True, color="#555555")
    return d


FIGURES = {"day19_streaming.svg": streaming, "day19_streaming_video.svg": streaming_video}
