# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Day 19 — Real time: streaming recognition, streaming speech, streaming analysis
#
# Every model so far took its whole input and then answered. A voice agent, live
# captions or a video call cannot wait: audio arrives 20 ms at a time and the answer is
# due while the speaker is still talking. Today we turn day 12's recogniser, day 11's
# synthesiser and day 18's frame classifier into **streaming** systems, and measure what
# that costs in accuracy and what it buys in latency — every latency on this page is
# measured, none assumed.
#
# **What you will build** (in `course_lib.streaming`: `latency`, `asr`, `tts`, `analysis`;
# the streaming endpoint in `course_lib.speech.service`)
# - the vocabulary: time to first output, per-item latency, real-time factor, throughput;
# - **streaming ASR**: a buffer re-decoded chunk by chunk, the **LocalAgreement-2**
#   policy of Whisper-Streaming, cuts in pauses before uncommitted words; WER against
#   offline decoding, first-word and per-word latency, for chunks of 0.5, 1 and 2 s;
# - **streaming TTS**: day 11's vocoder run chunk by chunk with exactly the context its
#   receptive field needs (chunks equal the whole wave), and an HTTP endpoint that sends
#   audio with chunked transfer as it is made;
# - **streaming analysis**: frames through day 18's CLIP-style classifier as they come.
#
# **Prerequisites:** day 12 (the recogniser, its CTC head), day 18 (CTC forced
# alignment, the frame classifier), day 11 (FastSpeech, the vocoder, the service).
#
# **Run time:** about 15 s on an idle 2-core CPU with the models in `artifacts/`
# (`make test` trains day 12's recogniser first, about 3 minutes, and day 18's frame
# classifier; day 11's lesson trains the TTS). From nothing, add what is missing.

# %%
import statistics
import threading
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display

from course_lib.data.multilingual import digit_sentences
from course_lib.data.speech import SAMPLE_RATE, speak_stream, speak_timed, split_of
from course_lib.metrics import word_error_rate
from course_lib.runtime import get_device, seed_everything
from course_lib.speech import service
from course_lib.speech.asr_train import PRESETS as ASR_PRESETS
from course_lib.speech.asr_train import train_asr
from course_lib.speech.ctc_align import calibrate_spike_lag
from course_lib.speech.fastspeech_train import PRESETS as TTS_PRESETS
from course_lib.speech.fastspeech_train import train_fastspeech
from course_lib.speech.vocoder_train import PRESETS as VOCODER_PRESETS
from course_lib.speech.vocoder_train import train_vocoder
from course_lib.streaming.analysis import StreamAnalyser
from course_lib.streaming.asr import common_prefix, run_stream
from course_lib.streaming.latency import emission_latencies, matched_words, real_time_factor
from course_lib.streaming.tts import context_frames, stream_speech, stream_vocode
from course_lib.train import preset
from course_lib.video.retrieval_train import RETRIEVAL_PRESETS, UNDERSTANDING_CLIPS, clip_frames, train_retrieval
from course_lib.viz import play_audio

notebook_start = time.perf_counter()
plt.rcParams["figure.dpi"] = 72
torch.set_num_threads(1)           # one stream, small tensors: one thread is fastest and leaves a core free

# %% [markdown]
# One config cell.

# %%
DEVICE = get_device()
ASR = preset(ASR_PRESETS, DEVICE)            # day 12's recogniser, trained on clips and their concatenations
CHUNKS = (0.5, 1.0, 2.0)                     # seconds of audio per chunk
N_STREAMS, PER_STREAM = 5, 6                 # 5 streams of 6 held-out digit strings each
seed_everything(19)
print("device:", DEVICE)

# %% [markdown]
# ![Streaming recognition: an audio chunk is appended to a buffer; day 12's encoder and CTC head decode the whole buffer and CTC forced alignment times its words; the hypothesis is compared with the previous one and their common prefix, beyond what is already committed, is committed; a buffer longer than 3 s is cut in the last pause before the first uncommitted word. Streaming synthesis: FastSpeech makes the whole mel; each chunk of frames is vocoded with c frames of context each side and cropped, equal to the whole wave; an HTTP endpoint sends the chunks with chunked transfer](figures/day19_streaming.svg)
#
# ## 1. The vocabulary of latency
#
# - **Time to first output** (TTFO): from the request, or the first sound, to the first
#   word, sample or frame out. It is what a user feels as "it responds".
# - **Per-item latency**: for each word, from when it was *said* (its end in the audio) to
#   when it was emitted. A live caption lags the speaker by this much.
# - **Real-time factor** (RTF): compute seconds per second of media. Below 1 the system
#   keeps up; above 1 it falls further behind with every second.
# - **Throughput**: media seconds (or requests) per wall-clock second, what a server
#   is sized by. Batching raises it and usually raises latency too.
#
# A streaming recogniser seldom emits a word before the chunk holding its end has
# arrived, so with chunks of $c$ seconds the latency of a word is about its distance to
# the next chunk boundary, $c/2$ on average, plus the compute; an agreement policy that
# waits for a second look adds one more chunk: about $1.5c$ in all, a little less when
# the model names a word before its last sound (section 2 measures 1.2-1.5 $c$).
#
# ## 2. Streaming recognition
#
# A buffer holds more audio than one digit string. Day 12's recipe therefore also trains
# on **concatenations** of up to 3 clips of one voice (`asr_train.long_examples`), and day
# 12 measures what that buys on strings of 2 to 10 words: its attention decoder still
# drops words as strings grow, while the **CTC head** on its encoder, which labels each
# 20 ms frame on its own, hears long strings about as well as short ones. A streaming
# recogniser re-decodes its buffer every chunk, so it wants the head that is fast (one
# encoder pass, no decoder loop), monotonic, and whose word times come from the same
# pass (day 18's CTC forced alignment): the CTC head. WeNet streams the same way (CTC
# first pass, attention rescoring at the end).
#
# The test audio: 5 streams, each 6 held-out digit strings spoken one after another with
# pauses of 0.3-0.8 s (`data.speech.speak_stream`, which keeps eSpeak NG's word times).

# %%
asr = train_asr(ASR, device=DEVICE)
asr.model.to("cpu")
english = [e for e, _ in digit_sentences("en", 400)]
seen = [s for s in english if split_of(s) == "train"][:20]
unseen = [s for s in english if split_of(s) != "train"]
lag = calibrate_spike_lag(asr.model, asr.tokenizer, [(w, s, t) for s in seen for w, t in [speak_timed(s)]])
streams = [speak_stream(unseen[k * PER_STREAM:(k + 1) * PER_STREAM], seed=k) for k in range(N_STREAMS)]
references = [" ".join(w for w, _, _ in words) for _, words in streams]
audio_seconds = sum(len(wave) for wave, _ in streams) / SAMPLE_RATE
print(f"{N_STREAMS} streams, {audio_seconds:.0f} s of speech, {sum(len(r.split()) for r in references)} words; "
      f"CTC spike lag {1000 * lag:.0f} ms (day 18)")

# %% [markdown]
# ### LocalAgreement-2
#
# After each chunk the whole buffer is decoded again, and the new hypothesis is compared
# with the previous one. Words at the end of the buffer are unreliable — a word cut in
# half by the chunk boundary is often misheard — so a word is **committed** only when two
# consecutive hypotheses agree on it and on everything before it: their longest common
# prefix, minus what is already out. Committed words are never taken back. The rule,
# written out and checked against `streaming.asr.common_prefix`, which
# `StreamingRecognizer` uses:

# %%
def to_commit(previous, current, already):
    """Words to commit now: the common prefix of two hypotheses beyond the `already` committed."""
    agreed = 0
    while agreed < min(len(previous), len(current)) and previous[agreed] == current[agreed]:
        agreed += 1
    return current[already:agreed]


cases = [("five three zero tw".split(), "five three zero two nine".split(), 1),
         ("one two".split(), "one too three".split(), 0), ([], "one".split(), 0)]
for previous, current, already in cases:
    assert to_commit(previous, current, already) == current[already:max(already, common_prefix(previous, current))]
    print(f"{' '.join(previous):20} | {' '.join(current):26} | {already} out -> commit {to_commit(previous, current, already)}")

# %% [markdown]
# Each stream is fed chunk by chunk. The clock is simulated but the compute is real: a
# chunk arrives when its last sample has been spoken, waits if the previous chunk is
# still being processed, and its words are emitted when its processing ends. Offline,
# the same model hears the same audio cut in the middle of every pause (an oracle: a
# live system does not know where the pauses will be), each piece whole — and, for
# contrast, each 9 s stream in one pass.

# %%
def pause_cuts(wave, words, texts):
    """Sample indices that cut a stream in the middle of the pause after each utterance."""
    ends = np.cumsum([len(t.split()) for t in texts])[:-1]
    middles = [round((words[e - 1][2] + words[e][1]) / 2 * SAMPLE_RATE) for e in ends]
    return [0, *middles, len(wave)]


segmented, one_pass = [], []
for k, (wave, words) in enumerate(streams):
    cuts = pause_cuts(wave, words, unseen[k * PER_STREAM:(k + 1) * PER_STREAM])
    pieces = [wave[a:b] for a, b in zip(cuts, cuts[1:])]
    segmented.append(" ".join(asr.transcribe(pieces, decode="ctc")))
    one_pass.append(asr.transcribe([wave], decode="ctc")[0])
offline = word_error_rate(references, segmented)
results, runs = {}, {}
for chunk_seconds in CHUNKS:
    hypotheses, latencies, first_word, compute = [], [], [], 0.0
    for k, (wave, words) in enumerate(streams):
        runs[chunk_seconds, k] = stream = run_stream(asr, lag, wave, chunk_seconds)   # feed chunks, finish
        hypotheses.append(stream.text)
        latencies += emission_latencies(stream.committed, words)
        first_word.append(stream.committed[0].emitted - words[0][2])
        compute += sum(stream.compute_seconds)
    results[chunk_seconds] = dict(wer=word_error_rate(references, hypotheses), first=statistics.median(first_word),
                                  latency=statistics.median(latencies), rtf=real_time_factor(compute, audio_seconds))
print(f"offline, cut at the pauses: WER {100 * offline:.1f} %;  each stream in one pass: "
      f"{100 * word_error_rate(references, one_pass):.1f} %")
print(f"{'chunk':>6} {'WER':>6} {'first word':>11} {'median word latency':>20} {'RTF':>6}")
for c, r in results.items():
    print(f"{c:5.1f}s {100 * r['wer']:5.1f}% {r['first']:10.2f}s {r['latency']:19.2f}s {r['rtf']:6.3f}")
assert results[1.0]["wer"] <= offline + 0.05, "streaming at 1 s chunks should be within 5 points of offline"
assert all(r["rtf"] < 1 for r in results.values())

# %% [markdown]
# The timeline of the first stream at 1 s chunks: the speech with eSpeak's words, the
# chunk boundaries (dotted), and for each committed word an arrow from the end of the
# word as spoken to the moment it was emitted.

# %%
wave, words = streams[0]
stream = runs[1.0, 0]
shown = [w for w in words if w[2] < 6.0]                                   # the first 6 seconds
fig, ax = plt.subplots(figsize=(11, 4.2))
t = np.arange(len(wave)) / SAMPLE_RATE
ax.plot(t, 0.5 * wave.numpy() / wave.abs().max().item() + 1.6, color="0.6", lw=0.4)
for w, s, e in shown:
    ax.axvspan(s, e, ymin=0.62, ymax=0.93, color="tab:blue", alpha=0.12)
    ax.text((s + e) / 2, 2.2, w, ha="center", fontsize=7.5)
for boundary in np.arange(1.0, 7.0, 1.0):
    ax.axvline(boundary, color="0.3", ls=":", lw=0.8)
hits = dict(matched_words([w.text for w in stream.committed], [w for w, _, _ in words]))   # committed -> spoken
stack = {}
for h, word in enumerate(stream.committed):
    if word.emitted > 7.0:
        break
    row = stack[word.emitted] = stack.get(word.emitted, -1) + 1           # words emitted together, stacked
    y = 0.85 - 0.17 * row
    colour = "tab:green" if h in hits else "tab:red"
    spoken_end = words[hits[h]][2] if h in hits else word.end
    ax.annotate("", xy=(word.emitted, y + 0.05), xytext=(spoken_end, 1.05),
                arrowprops=dict(arrowstyle="->", color=colour, lw=0.7, alpha=0.7))
    ax.text(word.emitted + 0.04, y, word.text, fontsize=7.5, color=colour, va="center")
ax.set(xlim=(0, 7.2), ylim=(0.2, 2.35), yticks=[], xlabel="stream time (s)",
       title="spoken (top, eSpeak's words) and committed (below, at emission time): 1 s chunks, LocalAgreement-2")
plt.show()

# %% [markdown]
# Reading the table. **Accuracy**: in our runs streaming landed within a word or two of
# the oracle-cut offline decoding (103 words: one word is one point). The buffer is cut
# in pauses, so the model hears each utterance from its start as offline does, and a
# word is committed only once two looks agree on it. One pass over a whole 9 s stream
# is worse than both: longer than anything the model trained on — the reason for a
# buffer that is trimmed. **Latency** is where the chunk shows: the first word comes out
# about two chunks after it was spoken (LocalAgreement waits for a second hypothesis
# that agrees) and the median word about 1.2-1.5 chunks later, so halving the chunk
# halves the latency. **Compute**: smaller chunks re-decode the same buffer more often,
# so the RTF grows as the chunk shrinks, yet it stays near 0.01 — a hundred times
# faster than real time on one thread. A large Whisper on a GPU runs much closer to 1,
# which is why Whisper-Streaming's authors use 1 s chunks and report about 3 s latency.
#
# ## 3. Streaming speech synthesis
#
# Day 11's FastSpeech makes the whole mel in one pass; the vocoder turns frames into
# samples. A chunk of frames $[a, b)$ vocoded alone is exact if it brings $c$ frames of
# context on each side: the convolutions reach $(k/2)(d+1)$ frames (kernel $k$, $d$
# ConvNeXt blocks after the input convolution) and the inverse STFT's samples in
# $[a \cdot hop, b \cdot hop)$ sum the windows of $\lceil n_{fft}/(2\,hop)\rceil$ more
# frames on each side. Written out, and checked against the whole wave:

# %%
tts = train_fastspeech(preset(TTS_PRESETS, DEVICE))                 # day 11's model (loaded once day 11 has run)
tts.neural_vocoder = train_vocoder(preset(VOCODER_PRESETS, DEVICE)).model.to("cpu").eval()
vocoder = tts.neural_vocoder
cfg = vocoder.config
context = -(-cfg.n_fft // (2 * cfg.hop_length)) + (cfg.kernel // 2) * (cfg.depth + 1)
assert context == context_frames(vocoder)


@torch.no_grad()
def our_chunks(mel, chunk_frames, context):
    """Vocode frames [a, b) with `context` frames each side and keep samples [a·hop, b·hop)."""
    hop, frames, total = cfg.hop_length, mel.shape[1], (mel.shape[1] - 1) * cfg.hop_length
    for a in range(0, frames, chunk_frames):
        b = min(frames, a + chunk_frames)
        lo, hi = max(0, a - context), min(frames, b + context)
        piece = torch.nn.functional.pad(vocoder(mel[None, :, lo:hi])[0], (0, hop))
        yield piece[(a - lo) * hop:(b - lo) * hop][:max(0, total - a * hop)]


long_text = " ".join(unseen[40:50])
mel = tts.mel(long_text, "en-us")                                    # (80, frames)
with torch.no_grad():
    whole_wave = vocoder(mel[None])[0]
ours = torch.cat(list(our_chunks(mel, 25, context)))
library = torch.cat(list(stream_vocode(vocoder, mel, 25)))
seams = torch.cat(list(our_chunks(mel, 25, 0)))
assert torch.allclose(ours.clamp(-1, 1), library) and whole_wave.abs().max() < 1
print(f"{len(long_text.split())} words, {mel.shape[1]} frames, context c = {context} frames each side")
print(f"max |chunked - whole|: {(ours - whole_wave).abs().max():.1e} with context, "
      f"{(seams - whole_wave).abs().max():.2f} without (peak {whole_wave.abs().max():.2f})")
assert (ours - whole_wave).abs().max() < 1e-4

# %% [markdown]
# Without context each chunk's edges are wrong (zero padding where the neighbours
# should be), an audible click every 0.25 s; with $c$ frames they match to float
# rounding. Streamed chunks are clipped to ±1 where `vocode` would rescale the finished
# wave to a peak of 0.9 — a rescale needs the whole wave; these voices never get there.
#
# **Time to first audio.** Whole synthesis waits for the whole mel and the whole wave.
# Streaming the vocoder alone still waits for the whole mel — FastSpeech's decoder
# attends over all frames at once. Cutting the *text* into phrases of 4 words, as
# ElevenLabs' websocket API buffers text into chunks, lets the first audio wait for one
# phrase. Best of 5 runs each, on one thread:

# %%
def best_of(run, repeats=5):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


t_whole = best_of(lambda: tts.synthesize(long_text, "en-us"))
t_first = best_of(lambda: next(stream_speech(tts, long_text, "en-us", 25)))
t_first_phrase = best_of(lambda: next(stream_speech(tts, long_text, "en-us", 25, words_per_phrase=4)))
phrased = torch.cat(list(stream_speech(tts, long_text, "en-us", 25, words_per_phrase=4)))
print(f"{len(whole_wave) / SAMPLE_RATE:.1f} s of speech")
print(f"whole synthesis (mel + vocoder):           {1000 * t_whole:6.1f} ms")
print(f"first chunk, whole mel + vocoder chunks:   {1000 * t_first:6.1f} ms")
print(f"first chunk, phrases of 4 words:           {1000 * t_first_phrase:6.1f} ms  "
      f"({t_whole / t_first_phrase:.1f}x sooner; {len(phrased) / SAMPLE_RATE:.1f} s in all)")
assert t_whole >= 3 * t_first_phrase
display(play_audio(torch.cat([whole_wave, torch.zeros(SAMPLE_RATE // 2), phrased]), SAMPLE_RATE))

# %% [markdown]
# First the whole text, then the phrases: each phrase is spoken as a sentence of its
# own, with its own falling pitch and a pause at its end — the price of streaming text
# that the model has not seen in full. Production systems pick phrase breaks at
# punctuation and let the client flush early when it needs speed.
#
# **Over HTTP.** The local ElevenLabs-shaped service (day 11) now also answers
# `POST /v1/text-to-speech/{voice_id}/stream`: 16-bit PCM at 16 kHz sent with chunked
# transfer encoding as each piece is made, which `service.stream_text_to_speech` reads
# piece by piece. Against the plain endpoint, which answers with the finished WAV file,
# on loopback (best of 3):

# %%
KEY = "day19-key"
with service.serve(service.fastspeech_synthesizer(tts), ["en-us"], KEY,
                   streamer=service.fastspeech_streamer(tts, words_per_phrase=4)) as server:
    def timed_stream():
        """(seconds to the first piece, seconds to the last, the PCM bytes) of one request."""
        start, pieces = time.perf_counter(), []
        for piece in service.stream_text_to_speech(long_text, "en-us", KEY, base_url=server.url):
            pieces.append((time.perf_counter() - start, piece))
        return pieces[0][0], pieces[-1][0], b"".join(p for _, p in pieces)

    t_plain = best_of(lambda: service.text_to_speech(long_text, "en-us", KEY, base_url=server.url), 3)
    timed = [timed_stream() for _ in range(3)]
    t_first_byte, t_stream_all = min(t[0] for t in timed), min(t[1] for t in timed)
    streamed_pcm = timed[0][2]
print(f"plain endpoint, whole WAV received:    {1000 * t_plain:6.1f} ms")
print(f"stream endpoint, first bytes received: {1000 * t_first_byte:6.1f} ms "
      f"(all {len(streamed_pcm) // 2 / SAMPLE_RATE:.1f} s of audio after {1000 * t_stream_all:.1f} ms)")
assert t_first_byte < t_plain

# %% [markdown]
# Streamed, the first audio arrives while the rest is still being made; the plain
# endpoint's client hears nothing until the whole file is done. The whole stream takes
# several times as long as the plain answer: every chunk vocodes 2 × 17 frames of
# context besides its own 25, every phrase runs FastSpeech again, and every piece is
# its own write to the socket. Streaming trades throughput for latency; larger chunks
# and phrases narrow the gap and delay the first audio.
#
# ## 4. Streaming analysis
#
# Day 18's CLIP-style model names the digit of a single frame zero-shot. Live, frames
# arrive one by one: a stream of 50 held-out clips back to back (8 frames each, the digit
# changes every 8 frames), analysed every frame or every 2nd or 4th, with the scores of
# the last `window` analysed frames averaged (`streaming.analysis.StreamAnalyser`).
# Accuracy is over the frames analysed; "switch" is how many frames after a change of
# digit the analyser first names the new one (when it does within the clip).

# %%
retrieval = train_retrieval(preset(RETRIEVAL_PRESETS, DEVICE)).model.to("cpu").eval()   # day 18's
test_clips = UNDERSTANDING_CLIPS.load("test")
video = clip_frames(test_clips)[:50]                                       # (50, 8, 1, 16, 16)
labels = test_clips.labels[:50].repeat_interleave(8)                       # the digit of every frame
stream_frames = video.flatten(0, 1)                                        # (400, 1, 16, 16)
print(f"{'every':>5} {'window':>6} {'accuracy':>9} {'switch (frames)':>16} {'latency/frame':>14}")
for every, window in ((1, 1), (1, 4), (2, 1), (4, 1)):
    analyser = StreamAnalyser(retrieval, every=every, window=window)
    found = [analyser.push(f) for f in stream_frames]
    done = [r for r in found if r is not None]
    accuracy = np.mean([r.digit == labels[r.index] for r in done])
    switches = []
    for clip in range(1, 50):
        if labels[8 * clip] != labels[8 * clip - 1]:
            hits = [r.index - 8 * clip for r in done if 8 * clip <= r.index < 8 * clip + 8 and r.digit == labels[8 * clip]]
            if hits:
                switches.append(hits[0])
    print(f"{every:5d} {window:6d} {accuracy:9.1%} {np.mean(switches):16.1f} "
          f"{statistics.median(r.latency_ms for r in done):11.2f} ms")

# %% [markdown]
# One frame at a time, the analyser names the digit about three times in four and
# follows a change of clip at once (under one frame later, on average). Averaging a
# window of 4 *lowers* the accuracy here: the digit changes every 8 frames, and for the
# first 3 frames after each change the window still holds the old clip, so it reacts
# about 2 frames late. A window pays when a scene lasts much longer than the window, as
# a real camera's does; these clips do not. Analysing only every 2nd or 4th frame keeps
# the accuracy at a half or a quarter of the compute, and reacts only at analysed
# frames. At under a millisecond per frame on one thread this analyser would keep up
# with a thousand frames a second: the budget a real system spends on a far larger
# image encoder.
#
# ## In production
#
# - **Streaming recognition**: [Whisper-Streaming](https://arxiv.org/abs/2307.14743)
#   (Macháček, Dabre & Bojar, 2023: LocalAgreement-n over a re-decoded buffer, trimmed
#   at segment ends; about 3.3 s latency on long-form speech); WeNet's
#   [U2](https://arxiv.org/abs/2012.05481) (a CTC first pass that streams, attention
#   rescoring when a phrase ends); RNN-T recognisers on phones, which are streaming by
#   construction.
# - **Streaming synthesis**: ElevenLabs'
#   [streaming](https://elevenlabs.io/docs/api-reference/text-to-speech/stream) and
#   [websocket](https://elevenlabs.io/docs/api-reference/text-to-speech/v-1-text-to-speech-voice-id-stream-input)
#   endpoints (PCM or MP3 chunks; the websocket buffers incoming text into chunks, as our
#   phrases); vocoders such as [Vocos](https://arxiv.org/abs/2306.00814) stream frame by
#   frame as here.
# - **Voice agents**: recognise → language model → synthesise, each stage streaming,
#   with voice-activity detection deciding when the user has finished; latency budgets
#   of a few hundred milliseconds end to end.
# - **Video**: frame-by-frame analysis with CLIP-like encoders in stream processors;
#   streaming video *generation* (StreamDiffusion, CausVid, Diffusion Forcing) is the
#   next part of this day.
#
# **Failure modes to expect**: a policy that commits too early (one hypothesis) emits
# words it later has to retract; one that never trims re-decodes an ever longer buffer
# until it falls behind real time (RTF above 1, latency growing without bound); trimming
# in the middle of a word loses or doubles it; text streamed to a synthesiser in small
# pieces sounds choppy; and every "real-time" claim that measures the model but not the
# queue in front of it is optimistic.

# %%
print(f"notebook ran in {time.perf_counter() - notebook_start:.0f} s")
