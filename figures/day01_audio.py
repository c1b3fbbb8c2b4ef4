"""Day 01 figures: from a waveform to a (log-)mel spectrogram, with the lesson's shapes.

The pictures inside the figure are computed, not drawn by hand: a sound built like the
lesson's section 2 (vowel, glide, hiss; 1.6 s at 16 kHz), its power spectrogram, the
Slaney mel filterbank and the log-mel, all from `course_lib.audio.dsp` at the lesson's
settings (n_fft 512, hop 128, 80 mels).
"""

import math

import numpy as np

from course_lib.tools.diagrams import STROKE, Diagram, _n

SAMPLE_RATE, N_FFT, HOP, N_MELS = 16_000, 512, 128, 80


class HeatDiagram(Diagram):
    """A Diagram that can also draw a small heat map (a spectrogram) and a curve."""

    def heatmap(self, x, y, values, cell_w, cell_h, levels=12):
        """values (rows, cols) in [0, 1], row 0 drawn at the BOTTOM (low frequencies
        low, as in a spectrogram). Magma colours in `levels` steps; equal neighbours in
        a row are merged into one rectangle to keep the SVG small."""
        from matplotlib import colormaps

        cmap = colormaps["magma"]
        q = np.clip(np.round(np.asarray(values) * (levels - 1)), 0, levels - 1).astype(int)
        colours = ["#%02x%02x%02x" % tuple(round(255 * c) for c in cmap(i / (levels - 1))[:3])
                   for i in range(levels)]
        rows, cols = q.shape
        for r in range(rows):
            top = y + self.top + (rows - 1 - r) * cell_h
            c = 0
            while c < cols:
                end = c
                while end + 1 < cols and q[r, end + 1] == q[r, c]:
                    end += 1
                self._items.append(f'<rect x="{_n(x + c * cell_w)}" y="{_n(top)}" '
                                   f'width="{_n((end - c + 1) * cell_w)}" height="{_n(cell_h)}" '
                                   f'fill="{colours[q[r, c]]}" shape-rendering="crispEdges"/>')
                c = end + 1
        self._items.append(f'<rect x="{_n(x)}" y="{_n(y + self.top)}" width="{_n(cols * cell_w)}" '
                           f'height="{_n(rows * cell_h)}" fill="none" stroke="{STROKE}" stroke-width="0.8"/>')

    def curve(self, x, y, w, h, values, color=STROKE, lo=None, hi=None):
        """A polyline of `values` drawn in the w × h rectangle at (x, y)."""
        values = np.asarray(values, dtype=float)
        lo = values.min() if lo is None else lo
        hi = values.max() if hi is None else hi
        xs = x + np.linspace(0, w, len(values))
        ys = y + h - (values - lo) / (hi - lo) * h
        points = list(zip(xs.tolist(), ys.tolist()))
        self.arrow(points[0], points[-1], via=points[1:-1], head=False, color=color)


def _speech_like():
    """A sound built like the lesson's `speech_like` (vowel, glide, hiss with pauses),
    in numpy: (25600,) at 16 kHz."""
    sr = SAMPLE_RATE

    def fade(n, seconds=0.01):
        ramp = np.linspace(0, 1, int(seconds * sr))
        env = np.ones(n)
        env[:len(ramp)], env[n - len(ramp):] = ramp, ramp[::-1]
        return env

    t = np.arange(int(0.8 * sr)) / sr
    f0 = 120 + 30 * t + 4 * np.sin(2 * math.pi * 5.5 * t)
    phase = 2 * math.pi * np.cumsum(f0) / sr
    vowel = np.zeros_like(t)
    for k in range(1, 66):
        f = k * f0
        gain = 0.01 + sum(g * np.exp(-0.5 * ((f - fc) / bw) ** 2)
                          for fc, bw, g in [(730, 90, 1.0), (1090, 110, 0.5), (2440, 160, 0.25)])
        vowel += gain * np.sin(k * phase) * (f < sr / 2)
    vowel = vowel / np.abs(vowel).max() * fade(len(t), 0.03)
    t = np.arange(int(0.35 * sr)) / sr
    glide = np.sin(2 * math.pi * (400 * t + 0.5 * (3200 / 0.35) * t ** 2)) * fade(len(t))
    noise = np.diff(np.random.default_rng(1).standard_normal(int(0.25 * sr) + 1))
    hiss = noise / np.abs(noise).max() * fade(len(noise))
    pause = np.zeros(int(0.05 * sr))
    return np.concatenate([pause, vowel, pause, 0.4 * glide, pause, 0.3 * hiss, pause])   # float64:
    # the colours are rounded to 12 levels; in double precision two CPUs' FFTs differ by
    # ~1e-15, so a value landing on another level (a changed SVG) is vanishingly unlikely


def _pool(a, rows, cols):
    """Average-pool a (R, C) array to (rows, cols) (blocks of nearly equal size)."""
    a = np.stack([part.mean(axis=0) for part in np.array_split(a, rows, axis=0)])
    return np.stack([part.mean(axis=1) for part in np.array_split(a, cols, axis=1)], axis=1)


def _to_unit_db(power, top_db=60.0):
    db = 10 * np.log10(np.maximum(power, 1e-12))
    db = np.maximum(db, db.max() - top_db)
    return (db - db.min()) / (db.max() - db.min())


def stft_to_logmel() -> Diagram:
    import torch

    from course_lib.audio import dsp

    wave = _speech_like()
    spec = dsp.stft(torch.from_numpy(wave), N_FFT, HOP)                 # (257, 201) complex128
    power = (spec.abs() ** 2).double().numpy()
    bank = dsp.mel_filterbank(SAMPLE_RATE, N_FFT, N_MELS).double().numpy()   # (80, 257)
    mel = bank @ power                                                  # (80, 201)
    n_frames = 1 + len(wave) // HOP
    assert spec.shape == (N_FFT // 2 + 1, n_frames) and mel.shape == (N_MELS, n_frames)

    d = HeatDiagram(980, 370, title="From a waveform to a log-mel spectrogram "
                                     "(the lesson's settings: 16 kHz, n_fft 512, hop 128, 80 mels)")
    bw, bh, y, gap = 126, 46, 12, 80
    xs = [10 + i * (bw + gap) for i in range(5)]
    wave_box = d.box(xs[0], y, bw, bh, f"waveform x\n({len(wave)},)", fill="data")
    frames_box = d.box(xs[1], y, bw, bh, f"frames × Hann\n({n_frames}, {N_FFT})", fill="data")
    power_box = d.box(xs[2], y, bw, bh, f"power |X|²\n({spec.shape[0]}, {n_frames})", fill="data")
    mel_box = d.box(xs[3], y, bw, bh, f"mel M = W|X|²\n({N_MELS}, {n_frames})", fill="data")
    log_box = d.box(xs[4], y, bw, bh, f"log-mel (dB)\n({N_MELS}, {n_frames})", fill="data")
    steps = [("pad, frame", "hop 128"), ("rfft → X,", "then |X|²"), ("W @ |X|²", ""), ("10 log₁₀", "top 60 dB")]
    for (a, b), (above, below) in zip(zip([wave_box, frames_box, power_box, mel_box],
                                          [frames_box, power_box, mel_box, log_box]), steps):
        d.arrow(a.right, b.left, above, label_offset=-10)
        if below:
            d.text((a.right[0] + b.left[0]) / 2, y + bh / 2 + 12, below, size=11, italic=True)

    # Under each stage, what it holds.
    py, ph = 80, 120
    d.curve(xs[0], py + 10, bw, ph - 20, wave[::40], color="#1f5f99", lo=-1, hi=1)
    d.text(xs[0] + bw / 2, py + ph + 12, "1.6 s: vowel, glide, hiss", size=11)
    frame = wave[int(0.4 * SAMPLE_RATE):int(0.4 * SAMPLE_RATE) + N_FFT]
    hann = 0.5 - 0.5 * np.cos(2 * math.pi * np.arange(N_FFT) / N_FFT)
    d.curve(xs[1], py + 10, bw, ph - 20, frame[::4], color="#aaaaaa", lo=-1, hi=1)
    d.curve(xs[1], py + 10, bw, ph - 20, (frame * hann)[::4], color="#1f5f99", lo=-1, hi=1)
    d.text(xs[1] + bw / 2, py + ph + 12, "one 32 ms frame (grey)", size=11)
    d.text(xs[1] + bw / 2, py + ph + 26, "× Hann (blue)", size=11)
    d.heatmap(xs[2], py, _pool(_to_unit_db(power[:256]), 32, 42), bw / 42, ph / 32)
    d.text(xs[2] + bw / 2, py + ph + 12, "257 bins, 0–8 kHz", size=11)
    d.text(xs[2] + bw / 2, py + ph + 26, "(shown in dB)", size=11)
    d.heatmap(xs[3], py, _pool(mel / mel.max(), 40, 40), bw / 40, ph / 40)
    d.text(xs[3] + bw / 2, py + ph + 12, "linear power: only", size=11)
    d.text(xs[3] + bw / 2, py + ph + 26, "the loudest shows", size=11)
    d.heatmap(xs[4], py, _pool(_to_unit_db(mel), 40, 42), bw / 42, ph / 40)
    d.text(xs[4] + bw / 2, py + ph + 12, "80 bands, equal in mel", size=11)
    d.text(xs[4] + bw / 2, py + ph + 26, "(low = 0 Hz)", size=11)

    # The filterbank: a fixed (grey) matrix, every 6th triangle drawn on the bin axis.
    into = (power_box.right[0] + mel_box.left[0]) / 2
    fb = d.box(into - 170, 262, 340, 92, fill="frozen")
    d.text(fb.x + 8, fb.y + 12, f"mel filterbank W ({N_MELS}, {N_FFT // 2 + 1}): fixed, not learned",
           size=11, anchor="start")
    for row in bank[::6]:
        d.curve(fb.x + 10, fb.y + 28, fb.w - 20, fb.h - 40, row, color="#555555", lo=0, hi=bank.max())
    d.text(fb.x + 10, fb.y + fb.h - 6, "0 Hz", size=10, anchor="start")
    d.text(fb.x + fb.w - 10, fb.y + fb.h - 6, "8 kHz", size=10, anchor="end")
    d.text(fb.x + fb.w / 2, fb.y + fb.h - 6, "every 6th row over the 257 bins", size=10, italic=True)
    d.arrow((into, fb.y), (into, power_box.right[1] + 3), dashed=True)

    # Whisper's variant of the same chain (section 5).
    d.box(10, 262, 380, 92, fill="note", rounded=4)
    d.text(20, 274, "Whisper (section 5), per second of audio:", size=11, anchor="start", bold=True)
    d.text(20, 294, "n_fft 400, hop 160 → X (201, 101), drop last frame", size=11, anchor="start")
    d.text(20, 312, "→ W (80, 201) @ |X|² → log₁₀, clamp 1e-10,", size=11, anchor="start")
    d.text(20, 330, "floor at max − 8, (x + 4)/4 → (80, 100)", size=11, anchor="start")
    d.text(20, 346, "30 s → (80, 3000)", size=11, anchor="start")
    return d


FIGURES = {"day01_stft_to_logmel.svg": stft_to_logmel}
