"""Day 16 figures: the beat tracker and the audio-visual offset search the lesson builds."""

from course_lib.tools.diagrams import Diagram


def beat_tracker() -> Diagram:
    d = Diagram(1005, 330, title="Day 16: beats by dynamic programming, AV offset by cross-correlation")
    # --- row 1: beat tracking (22,050 Hz, hop 512 = 23 ms frames)
    d.text(10, 14, "Beat tracking (librosa's algorithm, rebuilt)", size=12, anchor="start", bold=True)
    wave = d.box(10, 40, 95, 50, "wave\n(N,) 22 050 Hz", fill="data", size=11)
    mel = d.box(175, 40, 110, 50, "log-mel S\n(128, M) dB", fill="data", size=11)
    onset = d.box(345, 40, 125, 50, "onset strength\no[m]  (M,)", fill="data", size=11)
    tempo = d.box(530, 8, 175, 50, "tempo: autocorrelation\nof o × prior → argmax", fill="op", size=11)
    prior = d.box(545, 80, 145, 32, "log-normal prior, 120 BPM", fill="cond", size=10)
    dp = d.box(775, 40, 120, 50, "DP: cumulative\nscore C[i]", fill="op", size=11)
    out = d.box(925, 40, 72, 50, "beat\nframes", fill="data", size=11)
    d.arrow(wave.right, mel.left, "STFT + mel")
    d.arrow(mel.right, onset.left, "flux")
    d.arrow((onset.right[0], onset.right[1] - 10), tempo.left)
    d.arrow(prior.top, tempo.bottom)
    d.arrow(tempo.right, (dp.left[0], dp.left[1] - 10))
    d.text(712, 16, "P frames/beat", size=11, italic=True, anchor="start")
    d.arrow((onset.right[0], onset.right[1] + 12), (dp.left[0], dp.left[1] + 12),
            via=[(495, 77), (495, 132), (750, 132), (750, 77)])
    d.text(622, 144, "õ = smoothed o (the local score)", size=11, italic=True)
    d.arrow(dp.right, out.left)
    d.text(910, 104, "backtrack", size=11, italic=True)
    d.text(260, 110, "o[m] = mean_f max(0, S[f,m] − S[f,m−1])", size=10, mono=True)
    d.text(560, 172, "C[i] = õ[i] + max_p ( C[p] − 100·(log((i−p)/P))² ),  p ∈ [i − 2P, i − P/2]",
           size=11, mono=True)
    # --- row 2: AV offset
    d.text(10, 200, "AV offset (a sound k frames late: a_{t+k} matches v_t)", size=12, anchor="start", bold=True)
    aw = d.box(10, 215, 92, 46, "wave\n(N,) 16 kHz", fill="data", size=11)
    ae = d.box(140, 215, 150, 46, "onset strength,\nmax-pooled per frame", fill="op", size=11)
    a = d.box(325, 215, 90, 46, "a_t  (T,)", fill="data", size=11)
    vf = d.box(10, 275, 92, 46, "frames\n(T, 1, H, W)", fill="data", size=11)
    ve = d.box(140, 275, 150, 46, "motion energy\nmean |x_t − x_{t−1}|", fill="op", size=11)
    v = d.box(325, 275, 90, 46, "v_t  (T,)", fill="data", size=11)
    corr = d.box(470, 240, 215, 56, "ρ(k) = corr_t(v_t, a_{t+k})\nk = −15 … 15", fill="op", size=11)
    res = d.box(730, 240, 160, 56, "k̂ = argmax_k ρ(k)\n(frames; 40 ms each)", fill="data", size=11)
    d.arrow(aw.right, ae.left)
    d.arrow(ae.right, a.left)
    d.arrow(vf.right, ve.left)
    d.arrow(ve.right, v.left)
    d.arrow(a.right, (corr.left[0], corr.left[1] - 10))
    d.arrow(v.right, (corr.left[0], corr.left[1] + 10))
    d.arrow(corr.right, res.left)
    return d


FIGURES = {"day16_beat_tracker_av_offset.svg": beat_tracker}
