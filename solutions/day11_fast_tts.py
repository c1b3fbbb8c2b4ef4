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
# # Day 11 exercises: fast TTS and a TTS client
#
# Three pieces from the lesson
# ([../notebooks/day11_fast_tts.ipynb](../notebooks/day11_fast_tts.ipynb)), written by you:
#
# 1. FastSpeech's **length regulator**, `length_regulate`;
# 2. the **duration loss** and its inverse, turning predictions back into frames;
# 3. a **client** for the local TTS service that handles its errors and timeouts;
# 4. an experiment: train the duration predictor on $\log(d + 1)$ and on $d$, and compare.
#
# Replace each `# YOUR CODE HERE` / `raise NotImplementedError()` with your code, then run
# the check cell below it. Checks compare with `course_lib.speech.fastspeech` or run your
# client against a real server (with a stand-in synthesiser, no model training).
# `course check day11` runs all checks.
#
# **Run time:** about 10 s on a 2-core CPU (most of it the experiment of exercise 4).

# %%
import time
from pathlib import Path

import numpy as np
import requests
import torch

from course_lib.runtime import seed_everything
from course_lib.speech import fastspeech, service

seed_everything(0)

# %% [markdown]
# ## Exercise 1: the length regulator
#
# Given encoder outputs `x` `(B, N, D)` and integer durations `(B, N)` (frames per
# token, zeros allowed), return
#
# - `frames` `(B, T, D)`: row `b` is `x[b, 0]` repeated `durations[b, 0]` times, then
#   `x[b, 1]` repeated `durations[b, 1]` times, ..., **zero-padded** at the end to
#   `T = max_b sum_i durations[b, i]`;
# - `lengths` `(B,)`: `sum_i durations[b, i]`.
#
# Hint: `torch.repeat_interleave(x[b], durations[b], dim=0)`.

# %%
def length_regulate(x: torch.Tensor, durations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, N, D) and (B, N) long -> frames (B, T, D) zero-padded, lengths (B,)."""
    ### BEGIN SOLUTION
    lengths = durations.sum(1)
    out = x.new_zeros(x.shape[0], int(lengths.max()), x.shape[2])
    for b in range(x.shape[0]):
        frames = torch.repeat_interleave(x[b], durations[b], dim=0)
        out[b, :len(frames)] = frames
    return out, lengths
    ### END SOLUTION


# %% tags=["check"]
# Check: length_regulate repeats each token by its duration, in order, zero-padded
torch.manual_seed(1)
x = torch.randn(3, 5, 4)
durations = torch.tensor([[2, 0, 3, 1, 1], [1, 1, 1, 0, 0], [0, 4, 0, 0, 2]])
got = length_regulate(x, durations)
assert isinstance(got, tuple) and len(got) == 2, "return (frames, lengths)"
frames, lengths = got
expected, expected_lengths = fastspeech.length_regulate(x, durations)
assert torch.equal(torch.as_tensor(lengths), expected_lengths), \
    f"lengths must be the sum of each row's durations {expected_lengths.tolist()}; got {lengths}"
assert tuple(frames.shape) == (3, 7, 4), \
    f"frames must be (B, max total duration, D) = (3, 7, 4); got {tuple(frames.shape)}"
assert not torch.allclose(frames[0, :2], torch.stack([x[0, 0], x[0, 1]])), \
    "frames 0 and 1 are token 0 twice: repeat each token in place (repeat_interleave), not the sequence"
assert torch.allclose(frames[0, 2], x[0, 2]), "token 1 has duration 0: it must not appear at all"
assert (frames[1, 3:] == 0).all(), "pad the shorter rows with zeros after their last frame"
assert torch.allclose(frames, expected), "differs from course_lib's length_regulate"
print("length_regulate: correct")

# %% [markdown]
# ## Exercise 2: the duration loss and its inverse
#
# **(a)** The duration predictor outputs $\hat\ell_i$ for each token. Train it with the
# mean squared error against $\log(d_i + 1)$ over the **real** tokens only (`mask` True):
#
# $$\mathcal L = \frac{\sum_i m_i (\hat\ell_i - \log(d_i + 1))^2}{\sum_i m_i}$$
#
# **(b)** At inference, invert it with a speed factor:
# $d_i = \max(0, \mathrm{round}((e^{\hat\ell_i} - 1) / \text{speed}))$, as a long tensor.

# %%
def duration_loss(log_pred: torch.Tensor, durations: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """MSE of log_pred (B, N) against log(durations + 1) over mask (B, N) bool; a scalar."""
    ### BEGIN SOLUTION
    target = torch.log(durations.float() + 1)
    return ((log_pred - target) ** 2 * mask).sum() / mask.sum()
    ### END SOLUTION


def predicted_durations(log_pred: torch.Tensor, speed: float = 1.0) -> torch.Tensor:
    """Frames per token (B, N) long from log-durations: round((exp - 1) / speed), >= 0."""
    ### BEGIN SOLUTION
    return torch.round((log_pred.exp() - 1) / speed).clamp_min(0).long()
    ### END SOLUTION


# %% tags=["check"]
# Check: duration_loss is MSE on log(d + 1) over the real tokens
torch.manual_seed(2)
durations = torch.tensor([[0, 3, 12, 5, 0], [7, 0, 2, 0, 0]])
mask = torch.tensor([[True, True, True, True, True], [True, True, True, False, False]])
log_pred = torch.randn(2, 5) + 1.5
got = duration_loss(log_pred, durations, mask)
assert isinstance(got, torch.Tensor) and got.ndim == 0, "return a scalar tensor"
assert torch.isfinite(got), "the loss is not finite: log(0) = -inf; the target is log(d + 1)"
linear = ((log_pred - durations.float()) ** 2 * mask).sum() / mask.sum()
assert not torch.isclose(got, linear), "the target is log(d + 1), not the duration d itself"
no_one = ((log_pred - torch.log(durations.float().clamp_min(1))) ** 2 * mask).sum() / mask.sum()
assert not torch.isclose(got, no_one), "the target is log(d + 1): the +1 is missing"
unmasked = ((log_pred - torch.log(durations.float() + 1)) ** 2).mean()
assert not torch.isclose(got, unmasked), "average over the real tokens only (mask True), not the padding"
assert torch.isclose(got, fastspeech.duration_loss(log_pred, durations, mask)), \
    "differs from course_lib's duration_loss"
perfect = duration_loss(torch.log(durations.float() + 1), durations, mask)
assert float(perfect) == 0.0, "a perfect prediction must give loss 0"
print("duration_loss: correct")

# %% tags=["check"]
# Check: predicted_durations inverts log(d + 1) and divides by the speed
d = torch.tensor([[0, 1, 3, 12, 40]])
log_d = torch.log(d.float() + 1)
got = predicted_durations(log_d)
assert got.dtype == torch.long, f"durations are integer frames (long); got {got.dtype}"
assert torch.equal(got, d), f"exp(log(d + 1)) - 1 must give back d = {d.tolist()}; got {got.tolist()}"
fast = predicted_durations(log_d, speed=2.0)
assert torch.equal(fast, torch.round(d / 2.0).long()), \
    f"speed 2 halves the durations: expected {torch.round(d / 2.0).long().tolist()}; got {fast.tolist()}"
assert int(predicted_durations(torch.tensor([[-3.0]]))[0, 0]) == 0, "negative durations are clamped at 0"
print("predicted_durations: correct")

# %% [markdown]
# ## Exercise 3: a client for the TTS service
#
# Write `synthesize_to_file`: send `text` to the local service with the ElevenLabs
# pattern and write the WAV bytes to `path`.
#
# - `POST {base_url}/v1/text-to-speech/{voice_id}` with header `xi-api-key: api_key`
#   and JSON body `{"text": text, "model_id": "course_fastspeech2"}`;
# - always pass `timeout=timeout` to requests (a server that hangs must not hang you);
# - on status 200: write `response.content` to `path`, return `Path(path)`;
# - on any other status: raise `TTSRequestError(status, message)` with the server's
#   message, which is in the JSON body as `{"detail": {"status": ..., "message": ...}}`
#   (write nothing);
# - on `requests.Timeout`: raise `TTSRequestError(None, "timed out ...")`.

# %%
class TTSRequestError(Exception):
    """The service refused (status = HTTP status) or did not answer in time (status None)."""

    def __init__(self, status, message: str):
        super().__init__(f"{status}: {message}")
        self.status, self.message = status, message


def synthesize_to_file(base_url: str, api_key: str, voice_id: str, text: str, path,
                       timeout: float = 10.0) -> Path:
    """Request speech for `text`; write the WAV to `path`; raise TTSRequestError on failure."""
    ### BEGIN SOLUTION
    try:
        response = requests.post(f"{base_url}/v1/text-to-speech/{voice_id}",
                                 headers={"xi-api-key": api_key},
                                 json={"text": text, "model_id": "course_fastspeech2"}, timeout=timeout)
    except requests.Timeout:
        raise TTSRequestError(None, f"timed out after {timeout} s") from None
    if response.status_code != 200:
        raise TTSRequestError(response.status_code, response.json()["detail"]["message"])
    Path(path).write_bytes(response.content)
    return Path(path)
    ### END SOLUTION


# %% tags=["check"]
# Check: synthesize_to_file writes the audio, raises the server's errors, and times out
import tempfile


def tone(text, voice_id, settings):
    """A stand-in synthesiser: 0.1 s of a tone per word."""
    n = 1600 * len(text.split())
    return 0.3 * np.sin(2 * np.pi * 220 * np.arange(n) / 16_000)


def hanging(text, voice_id, settings):
    time.sleep(3.0)
    return np.zeros(160)


folder = Path(tempfile.mkdtemp())
with service.serve(tone, ["en-us", "en-us+f3"], api_key="k3y") as server:
    out = synthesize_to_file(server.url, "k3y", "en-us+f3", "one two three", folder / "a.wav")
    assert Path(out) == folder / "a.wav" and Path(out).exists(), "write the audio to `path` and return it"
    data = Path(out).read_bytes()
    assert data[:4] == b"RIFF" and len(data) == 44 + 2 * 4800, \
        f"the file must hold the response's WAV bytes (44-byte header + 3 x 0.1 s); got {len(data)} bytes"
    cases = [("wrong", "en-us", "one", 401, "not a valid key"),
             ("k3y", "nobody", "one", 404, "unknown voice_id"),
             ("k3y", "en-us", "   ", 422, "empty"),
             ("k3y", "en-us", "x" * 600, 422, "limit")]
    for key, voice, text, status, words in cases:
        target = folder / f"err{status}.wav"
        try:
            synthesize_to_file(server.url, key, voice, text, target)
        except TTSRequestError as err:
            assert err.status == status, f"expected status {status} for {voice!r}/{key!r}; got {err.status}"
            assert words in err.message, \
                f"pass on the server's message (detail.message); expected it to mention {words!r}: {err.message!r}"
        else:
            raise AssertionError(f"a {status} answer must raise TTSRequestError, not return")
        assert not target.exists(), f"nothing must be written on a {status} error"
with service.serve(hanging, ["en-us"], api_key="k3y") as slow_server:
    t0 = time.perf_counter()
    try:
        synthesize_to_file(slow_server.url, "k3y", "en-us", "one", folder / "slow.wav", timeout=0.3)
    except TTSRequestError as err:
        assert err.status is None, f"a timeout has no HTTP status: use None; got {err.status}"
    except requests.Timeout:
        raise AssertionError("catch requests.Timeout and raise TTSRequestError(None, ...) instead") from None
    else:
        raise AssertionError("the server hangs for 3 s: with timeout=0.3 the call must fail")
    waited = time.perf_counter() - t0
    assert waited < 2.0, f"waited {waited:.1f} s: pass timeout=timeout to requests.post"
print("synthesize_to_file: writes the audio, raises the server's errors, times out")

# %% [markdown]
# ## Exercise 4 (experiment): does the log target help?
#
# The lesson trains the duration predictor on $\log(d + 1)$ rather than on $d$. Test that
# choice: train the same small predictor (a token embedding and FastSpeech 2's
# `VariancePredictor`, no encoder) both ways on the digit strings of day 09's corpus,
# and compare on the held-out sentences.
#
# Write `duration_experiment(target, seed)`: with `torch.manual_seed(seed)` build
# `torch.nn.Embedding(len(TABLE), 32, padding_idx=0)` and `VariancePredictor(32, 32, 3, 0.0)`,
# train both with `torch.optim.Adam(lr=3e-3)` for `STEPS` steps on random batches of 32
# training sentences (`torch.randint` with a `torch.Generator` seeded by `seed`), with
# the masked MSE against `log(d + 1)` when `target == "log"` or against `d` when
# `target == "linear"`. Then predict the test sentences, turn the output back into
# frames (`round(exp(y) - 1)` or `round(y)`, at least 0) and return
# `{"mae": mean |d_hat - d| over the real test tokens, "zero_error": share of the
# real test tokens with d = 0 (word boundaries without a pause) predicted as non-zero}`.

# %%
from course_lib.data import speech
from course_lib.speech.fastspeech import VariancePredictor, token_durations

STEPS = 200
_corpus = speech.load_corpus(("digits",), ("en-us",))
TABLE = _corpus.phoneme_table


def padded(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids (S, N) and frames per token (S, N) of a split, zero-padded."""
    rows = [(TABLE.encode(u.phonemes), token_durations(u.phonemes, u.events, u.durations))
            for u in _corpus.split(split)]
    N = max(len(ids) for ids, _ in rows)
    X, D = torch.zeros(len(rows), N, dtype=torch.long), torch.zeros(len(rows), N, dtype=torch.long)
    for k, (ids, d) in enumerate(rows):
        X[k, :len(ids)], D[k, :len(d)] = torch.tensor(ids), torch.tensor(d)
    return X, D


X_TRAIN, D_TRAIN = padded("train")
X_TEST, D_TEST = padded("test")
print(f"{len(X_TRAIN)} train / {len(X_TEST)} test sentences, {int((X_TEST != 0).sum())} test tokens")


def duration_experiment(target: str, seed: int) -> dict:
    """Train the duration predictor on 'log' (log(d + 1)) or 'linear' (d) targets;
    return {"mae": ..., "zero_error": ...} on the test sentences."""
    ### BEGIN SOLUTION
    torch.manual_seed(seed)
    embed = torch.nn.Embedding(len(TABLE), 32, padding_idx=0)
    predictor = VariancePredictor(32, 32, 3, 0.0)
    optimizer = torch.optim.Adam([*embed.parameters(), *predictor.parameters()], lr=3e-3)
    batches = torch.Generator().manual_seed(seed)
    for _ in range(STEPS):
        idx = torch.randint(0, len(X_TRAIN), (32,), generator=batches)
        x, d = X_TRAIN[idx], D_TRAIN[idx].float()
        mask = x != 0
        y = torch.log(d + 1) if target == "log" else d
        loss = ((predictor(embed(x), mask) - y) ** 2 * mask).sum() / mask.sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        mask = X_TEST != 0
        y_hat = predictor(embed(X_TEST), mask)
        d_hat = (y_hat.exp() - 1 if target == "log" else y_hat).round().clamp_min(0)
        d = D_TEST.float()
        zero = mask & (d == 0)
        return {"mae": float((d_hat - d).abs()[mask].mean()),
                "zero_error": float((d_hat[zero] != 0).float().mean())}
    ### END SOLUTION


# %% tags=["check"]
# Check: the log target predicts durations better, on three seeds
t0 = time.perf_counter()
results = {(target, seed): duration_experiment(target, seed) for seed in (0, 1, 2) for target in ("log", "linear")}
for (target, seed), r in results.items():
    assert set(r) >= {"mae", "zero_error"}, "return a dict with the keys 'mae' and 'zero_error'"
    print(f"seed {seed} {target:6}: mean |d_hat - d| {r['mae']:.3f} frames, "
          f"zero-length tokens predicted non-zero {r['zero_error']:.1%}")
for seed in (0, 1, 2):
    log, lin = results["log", seed], results["linear", seed]
    assert 0.1 < log["mae"] < 1.5, (f"seed {seed}: a mean error of {log['mae']:.3f} frames is implausible; "
                                    "invert log(d + 1) with exp(y) - 1, and average over the real tokens")
    assert log["mae"] < lin["mae"], (f"seed {seed}: log target {log['mae']:.3f} vs linear {lin['mae']:.3f} "
                                     "frames: is each variant trained on its own target?")
    assert log["zero_error"] <= lin["zero_error"], f"seed {seed}: zero-length tokens, log vs linear"
print(f"log(d + 1) wins on all three seeds ({time.perf_counter() - t0:.1f} s)")

# %% [markdown]
# Why? With the log, the targets span 0 to about 3.2 instead of 0 to 24 frames, so the
# same learning rate and step budget get further; and the many zero-length word
# boundaries sit at exactly 0, where $e^{y} - 1$ rounds to 0 for any $y$ below
# $\log 1.5 \approx 0.4$: a wide target. Measure one more thing if you are curious: the
# relative error on the short phonemes (1 to 6 frames). The log loss weighs relative
# errors, yet on this data the linear target does as well or better there; the gain shows
# in the absolute error and on the zeros.
