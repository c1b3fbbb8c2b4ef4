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
# # Day 09: Speech data and text
#
# A text-to-speech (TTS) model learns from pairs: a sentence, and a recording of someone
# saying it. Real corpora (LJSpeech: 24 hours of one reader; LibriTTS: 585 hours of
# audiobooks) take months to record and clean. Today you build a small one in seconds,
# offline, with a *teacher*: the eSpeak NG formant synthesiser, which also tells us when
# each phoneme starts. Days 10 and 11 train TTS models on it; day 12 trains a recogniser.
#
# **What you will build**
# - text normalisation: "7:45" -> "seven forty five", "3rd" -> "third", "40%" -> "forty percent";
# - symbol tables for characters and phonemes, with an exact encode/decode round trip;
# - the corpus: sentences from four generators (digit strings, clock times, smart-speaker
#   commands, everyday sentences), three voices, 16 kHz audio, 80-band log-mels, and the
#   **duration of every phoneme in frames**, the alignment a TTS model must discover;
# - a padded batch with masks, ready for a model.
#
# **Prerequisites:** day 01 (STFT, mel spectrogram, resampling), day 02 (masks).
#
# **Run time:** about 40 s on a 2-core CPU, most of it building the corpus the first
# time (later runs load it from `artifacts/` in a second).

# %%
import inspect
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display

from course_lib.data import speech
from course_lib.data.speech import collate, durations_to_frames, load_corpus, make_utterance
from course_lib.runtime import get_device, seed_everything
from course_lib.speech import espeak, text
from course_lib.speech.text import CHARACTERS, SymbolTable, normalize, phoneme_tokens
from course_lib.viz import play_audio, plot_spectrogram

DEVICE = get_device()
seed_everything(9)
plt.rcParams["figure.dpi"] = 72
print("device:", DEVICE)

# %% [markdown]
# The corpus settings live in `course_lib.data.speech` as named constants (the same on
# CPU and GPU: the data does not depend on the device). Derived numbers are computed
# from them.

# %%
print(f"sample rate {speech.SAMPLE_RATE} Hz, n_fft {speech.N_FFT} "
      f"({1000 * speech.N_FFT / speech.SAMPLE_RATE:.0f} ms), hop {speech.HOP_LENGTH} "
      f"({1000 * speech.HOP_LENGTH / speech.SAMPLE_RATE:.1f} ms = "
      f"{speech.SAMPLE_RATE // speech.HOP_LENGTH} frames/s), {speech.N_MELS} mel bands up to "
      f"{speech.F_MAX:.0f} Hz")
print("domains:", speech.DOMAINS, " voices:", speech.VOICES)

# %% [markdown]
# ## 1. How TTS data is made
#
# Every TTS corpus goes through the same four steps, whoever records it:
#
# 1. **text**: the script, as people write it ("Wake me up at 7:45.");
# 2. **normalisation**: into the words a speaker says ("wake me up at seven forty five.");
#    a model cannot guess how to pronounce "7:45" from its characters;
# 3. **phonemes**: the sounds of those words, from a pronunciation dictionary or a
#    grapheme-to-phoneme (G2P) model ("w ˈeɪ k  m i ..."), because English spelling is a
#    poor guide to sound ("though", "through", "tough");
# 4. **audio and alignment**: the recording, and which stretch of it belongs to which
#    phoneme. Human corpora get alignments from a *forced aligner* (e.g. the Montreal
#    Forced Aligner); our teacher simply reports them.
#
# ![The data pipeline of one utterance: "Wake me up at 7:45." is normalised to words,
# eSpeak NG turns the words into phoneme tokens (then ids) and into a 22,050 Hz wave with
# phoneme events; the wave is resampled to 16 kHz and becomes an 80-band log-mel; the
# events' durations become frames per phoneme, drawn as red lines on the real
# log-mel](figures/day09_data_pipeline.svg)
#
# The figure follows one real sentence of our corpus through the four steps. The top
# row is text: normalisation, then eSpeak's grapheme-to-phoneme rules give the tokens
# (␣ marks a word boundary), which a symbol table turns into ids. The middle row is
# audio: eSpeak speaks the words and reports, for each phoneme, the sample where it
# starts; the wave is resampled and turned into a log-mel. The bottom is the result a
# TTS model learns from: the log-mel (dark = loud, low frequencies at the bottom) cut
# into phonemes by the red lines. Sections 2 to 5 build each arrow.
#
# ## 2. Normalisation
#
# Numbers are the hard part: "2048" is "two thousand forty eight", "1st" is "first",
# "7:05" is "seven oh five", "0815" is a code read digit by digit. Here is the core of
# `number_to_words`: it is recursive, splitting off the largest scale.

# %%
print(inspect.getsource(text.number_to_words))

# %%
examples = ["Wake me up at 7:45.", "Meet me on the 22nd at 11:05 pm.", "About 40% of 1,200 tickets.",
            "Pi is 3.14, the code is 0815.", "Rock & roll (live) in the mp3!"]
for example in examples:
    print(f"{example!r:38} -> {normalize(example)!r}")
assert normalize("Wake me up at 7:45.") == "wake me up at seven forty five."
assert text.number_to_words(2048) == "two thousand forty eight"
assert text.ordinal_to_words(22) == "twenty second"

# %% [markdown]
# Normalisation is lossy and language specific: "1/2" can be "one half" or "January
# second", "Dr." is "doctor" or "drive". Production systems use weighted finite-state
# grammars with hundreds of rules per language (NVIDIA NeMo's text processing, Google's
# Kestrel); ours covers what our sentence generators write.
#
# ## 3. Symbols: characters or phonemes
#
# A model reads integer ids. A `SymbolTable` maps symbols to ids with two reserved ones:
# id 0 is **padding** (so a batch can be zero-padded) and id 1 marks the **end of the
# sentence** (EOS), so the attention of day 10 has a definite last position to reach.

# %%
sentence = normalize("Set a timer for 5 minutes.")
ids = CHARACTERS.encode(sentence)
print(f"{len(CHARACTERS)} character symbols: {CHARACTERS.all_symbols}")
print(sentence, "->", ids)
print("decoded:", repr(CHARACTERS.decode(ids)))
assert CHARACTERS.decode(ids) == sentence and ids[-1] == CHARACTERS.eos_id

# %% [markdown]
# Phonemes make the model's job easier: one symbol per sound. We take them from eSpeak's
# grapheme-to-phoneme rules in IPA, one token per phoneme with its stress mark (ˈ primary,
# ˌ secondary) and a word-boundary token `" "`. A phoneme table is built from the tokens
# seen in a corpus.

# %%
tokens = phoneme_tokens(sentence)
print(espeak.phonemize(sentence))
print(tokens)
table = SymbolTable.from_tokens(tokens, joiner="|")
print(f"{len(table)} ids:", table.encode(tokens))
assert table.decode(table.encode(tokens)) == "|".join(tokens)
for word in ["though", "through", "tough"]:
    print(f"{word:8} -> {espeak.phonemize(word)}")

# %% [markdown]
# ## 4. The teacher: eSpeak NG with phoneme timings
#
# `espeak.synthesize` returns the wave (22,050 Hz) and a list of phoneme events: symbol
# and first sample. eSpeak is a *formant* synthesiser (rules, no neural network): it
# sounds robotic, but it is fast, deterministic and fully offline, and its timings are
# exact. `_` marks a pause.

# %%
syn = espeak.synthesize(sentence)
print(f"{len(syn.wave)} samples = {len(syn.wave) / syn.sample_rate:.2f} s at {syn.sample_rate} Hz")
print([(e.symbol, e.start) for e in syn.events[:8]], "...")
durations = syn.durations                                  # samples per phoneme
print("durations (samples):", durations[:8], "... sum", sum(durations))
assert sum(durations) == len(syn.wave)
play_audio(syn.wave, syn.sample_rate)

# %% [markdown]
# ## 5. From samples to frames
#
# Speech models in this course work at 16 kHz, so the wave is resampled (band-limited,
# day 01). The features are Tacotron 2's: the natural log of the mel *magnitude*,
# floored at $10^{-5}$, with 50 ms windows every 12.5 ms (80 frames per second).
#
# The durations must follow: a phoneme lasting $d$ samples at 22,050 Hz lasts
# $d \cdot 16000 / 22050 / 200$ frames, a fraction. Rounding each duration separately
# would let the errors add up (30 phonemes of 0.4 frames would round to 0 frames in
# total). `durations_to_frames` rounds the **boundaries** instead: frame $m$ is centred
# on time $m \cdot$ hop, and belongs to the phoneme sounding at that instant. So the
# number of frames before a boundary at sample $b$ (at 22,050 Hz) is
# $\lceil b \cdot 16000 / 22050 / 200 \rceil$, the last boundary is the spectrogram's
# last frame, and each phoneme gets the difference of its two boundaries. Here it is in
# five lines, checked against the library on the durations of the sentence above:

# %%
def our_durations_to_frames(durations, sample_rate, n_frames, hop=speech.HOP_LENGTH,
                            target_rate=speech.SAMPLE_RATE):
    """Samples per phoneme (at sample_rate) -> frames per phoneme, summing to n_frames."""
    ends = np.cumsum(durations)                                        # boundaries, in samples
    scale = target_rate / (sample_rate * hop)                          # frames per sample
    bounds = [min(n_frames, int(np.ceil(b * scale - 1e-9))) for b in ends[:-1]] + [n_frames]
    return np.diff([0, *bounds]).tolist()                              # frames between boundaries


n_frames = 1 + int(np.ceil(len(syn.wave) * speech.SAMPLE_RATE / syn.sample_rate)) // speech.HOP_LENGTH
ours = our_durations_to_frames(syn.durations, syn.sample_rate, n_frames)
print("ours     :", ours)
print("course_lib:", durations_to_frames(syn.durations, syn.sample_rate, n_frames))
assert ours == durations_to_frames(syn.durations, syn.sample_rate, n_frames) and sum(ours) == n_frames

# %%
utt = make_utterance("Set a timer, then call Emma at 7:45.", voice="en-us", domain="commands")
print(utt.text, "|", tuple(utt.mel.shape), "|", len(utt.events), "events")
print("frames per event:", list(zip(utt.events, utt.durations))[:10], "...")
assert sum(utt.durations) == utt.n_frames
syn = espeak.synthesize(utt.text)
naive = [round(d * speech.SAMPLE_RATE / syn.sample_rate / speech.HOP_LENGTH) for d in syn.durations]
drift = np.abs(np.cumsum(naive) - np.cumsum(utt.durations)).max()
print(f"frames: {utt.n_frames}; rounding each duration instead: {sum(naive)}, "
      f"boundaries off by up to {drift} frames")
fast = espeak.synthesize(utt.text, rate=400)       # fast speech: many sub-frame phonemes
fast_frames = 1 + int(np.ceil(len(fast.wave) * 16000 / 22050)) // speech.HOP_LENGTH
fast_naive = sum(round(d * 16000 / 22050 / 200) for d in fast.durations)
print(f"at 400 words/min: {sum(durations_to_frames(fast.durations, 22050, fast_frames))} frames "
      f"by boundaries, {fast_naive} by rounding each duration ({fast_frames} in the spectrogram)")

# %% [markdown]
# The picture the rest of the course lives by: the log-mel spectrogram with each
# phoneme's frames marked. Vowels (stressed ones carry ˈ) are the loud, harmonic
# stretches; fricatives (s, f) are noise high up; pauses are dark.

# %%
def plot_durations(utt, ax=None):
    """Log-mel of an utterance with its phoneme boundaries and labels."""
    ax = plot_spectrogram(utt.mel, ax=ax, ylabel="mel band", title=utt.text)
    edges = np.cumsum([0, *utt.durations])
    for symbol, start, end in zip(utt.events, edges, edges[1:]):
        ax.axvline(start - 0.5, color="white", lw=0.6, alpha=0.7)
        if end > start:
            ax.text((start + end) / 2 - 0.5, speech.N_MELS - 6, symbol, color="white",
                    ha="center", fontsize=8)
    return ax


fig, ax = plt.subplots(figsize=(11, 3))
plot_durations(utt, ax=ax)
plt.show()
play_audio(utt.wave(), speech.SAMPLE_RATE)

# %% [markdown]
# A number to back the picture: if the boundaries are right, the frames assigned to
# stressed vowels are far louder than those assigned to pauses.

# %%
energy = utt.mel.exp().sum(0)                                 # (frames,) mel magnitude
edges = np.cumsum([0, *utt.durations])
spans = [(e, energy[a:b]) for e, a, b in zip(utt.events, edges, edges[1:]) if b > a]
vowel_energy = torch.cat([x for e, x in spans if "ˈ" in e]).mean().item()
pause_energy = torch.cat([x for e, x in spans if e == "_"]).mean().item()
print(f"mean energy: stressed vowels {vowel_energy:.1f}, pauses {pause_energy:.3f}")
assert vowel_energy > 20 * pause_energy

# %% [markdown]
# ## 6. The corpus
#
# `load_corpus` runs the steps above for every sentence of every domain and voice and
# caches the result per (voice, domain) under `artifacts/speech/`. The generators are
# seeded, so every run builds the same corpus. The first call takes about 20 s; later
# ones load it.

# %%
for domain in speech.DOMAINS:
    print(f"{domain:9}", [w for w, _ in speech.sentences(domain, 3)])

# %%
corpus = load_corpus()
print(f"{len(corpus)} utterances, {corpus.hours() * 60:.1f} minutes, "
      f"{len(corpus.phoneme_table)} phoneme ids")
counts = Counter((u.domain, u.split) for u in corpus.utterances)
for domain in speech.DOMAINS:
    print(f"{domain:9}", {s: counts[domain, s] for s in speech.SPLITS})

# %% [markdown]
# The split goes by **text**: a hash of the normalised sentence picks train, valid or
# test. So the three voices of one sentence all land in the same split, and a test
# sentence was never heard in training, in any voice. Splitting by utterance instead
# would leak the test sentences into training.

# %%
split_of_text = {}
for u in corpus.utterances:
    split_of_text.setdefault(u.text, set()).add(u.split)
assert all(len(s) == 1 for s in split_of_text.values()), "a text appears in two splits"
assert all(sum(u.durations) == u.n_frames for u in corpus.utterances)
print(f"{len(split_of_text)} distinct sentences, each in one split; durations sum to the frames everywhere")

lengths = {d: [u.n_frames / 80 for u in corpus.utterances if u.domain == d] for d in speech.DOMAINS}
fig, ax = plt.subplots(figsize=(6, 2.3))
ax.hist(list(lengths.values()), bins=30, stacked=True, label=list(lengths))
ax.set_xlabel("seconds")
ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# ## 7. Voices
#
# One sentence, three voices: American male (`en-us`), American female (`en-us+f3`,
# higher pitch and formants) and British received pronunciation (`en-gb-x-rp`, a
# different accent, so even the phonemes differ). Listen, and compare where the
# harmonics and formants sit.

# %%
same_text = [u for u in corpus.utterances if u.text == normalize(speech.GENERAL[0])]
fig, axes = plt.subplots(1, len(same_text), figsize=(12, 2.4))
for ax, u in zip(axes, same_text):
    plot_spectrogram(u.mel, ax=ax, title=u.voice, ylabel="mel band")
fig.tight_layout()
plt.show()
for u in same_text:
    print(u.voice, "|", " ".join(u.phonemes))
    display(play_audio(u.wave(), speech.SAMPLE_RATE))
assert same_text[0].phonemes != same_text[2].phonemes, "the British voice has its own phonemes"

# %% [markdown]
# ## 8. A padded batch
#
# A batch stacks utterances of different lengths. `collate` pads token ids with 0 (the
# PAD id) and mels with zeros, and returns **masks**: True where the data is real. Day
# 10's attention uses the token mask (no attention on padding), its losses use the frame
# mask (no loss on padding).

# %%
batch_utts = corpus.split("train")[:4]
batch = collate([(corpus.phoneme_table.encode(u.phonemes), u.mel) for u in batch_utts])
for key, value in batch.items():
    print(f"{key:14} {tuple(value.shape)} {value.dtype}")
print("token_mask of item 0:", batch["token_mask"][0].int().tolist())
assert (batch["tokens"][~batch["token_mask"]] == 0).all()
assert batch["mel_mask"].sum(1).tolist() == [u.n_frames for u in batch_utts]

# %% [markdown]
# ## In production
#
# - **Corpora.** [LJSpeech](https://keithito.com/LJ-Speech-Dataset/) (one speaker, 13,100
#   clips), VCTK (110 speakers), [LibriTTS-R](https://arxiv.org/abs/2305.18802) (2,456
#   speakers), and for modern zero-shot TTS hundreds of thousands of hours of
#   automatically transcribed speech (Libri-Light, Emilia). Quality beats quantity for
#   single-speaker TTS: a consistent mic, room and reading style.
# - **Normalisation** is a product in itself:
#   [NeMo text processing](https://github.com/NVIDIA/NeMo-text-processing) and Google's
#   Kestrel use weighted finite-state transducers; errors here become mispronunciations
#   ("Dr." read as "drive"). Large TTS models increasingly read raw text and learn it,
#   and still fail on rare number formats.
# - **Phonemes.** [eSpeak NG](https://github.com/espeak-ng/espeak-ng), our teacher, is
#   also the G2P behind many open TTS systems, usually called through the
#   [phonemizer](https://github.com/bootphon/phonemizer) package.
# - **Alignment.** Human corpora are aligned by forced alignment
#   ([Montreal Forced Aligner](https://montreal-forced-aligner.readthedocs.io/), or CTC
#   alignments from an ASR model); alignment errors teach a duration model wrong timings.
#   Attention-based models (day 10) learn alignment themselves.
# - **Synthetic data** like ours is used for real: to bootstrap low-resource languages,
#   to augment ASR training, and (with care: see day 20) to clone voices.
#
# The same pipeline with production tools, for a recorded clip and its transcript (not
# run here: NeMo's normaliser and MFA are large installs, and MFA downloads its models):
#
# ```python
# import torch
# import torchaudio
# from nemo_text_processing.text_normalization.normalize import Normalizer
# from phonemizer import phonemize
#
# words = Normalizer(input_case="cased", lang="en").normalize("Wake me up at 7:45.")
# phonemes = phonemize(words, language="en-us", backend="espeak", with_stress=True)
#
# wave, sr = torchaudio.load("clip.wav")                       # (channels, samples)
# wave = torchaudio.functional.resample(wave.mean(0), sr, 16_000)
# mel = torchaudio.transforms.MelSpectrogram(
#     16_000, n_fft=800, hop_length=200, n_mels=80, f_max=8000.0,
#     power=1.0, norm="slaney", mel_scale="slaney")(wave)     # magnitude mel, as ours
# log_mel = torch.log(mel.clamp_min(1e-5))                    # (80, frames)
#
# # durations: forced alignment of a folder of clips and .lab transcripts, on the shell:
# #   mfa model download acoustic english_us_arpa
# #   mfa model download dictionary english_us_arpa
# #   mfa align corpus/ english_us_arpa english_us_arpa aligned/   # -> TextGrid per clip
# ```
#
# ## Summary
#
# - Normalisation turns writing into words; phonemes turn words into sounds; symbol
#   tables turn either into ids with PAD = 0 and EOS = 1, with an exact round trip.
# - The corpus: four domains, three voices, 16 kHz log-mels at 80 frames/s, split by
#   text; every phoneme's duration in frames, rounded at the boundaries so that they
#   sum to the number of frames.
# - `course_lib.data.speech.load_corpus` builds it once and caches it; days 10-12 load it.
#
# **Exercises:** [../exercises/day09_speech_data.ipynb](../exercises/day09_speech_data.ipynb):
# number normalisation, phoneme durations to frame counts, a padded batch with masks, and
# an experiment: how many phonemes of fast speech get no frame at all, for three hops.
