"""FastSpeech 2: text to mel in one parallel pass, with durations, pitch and energy.

Tacotron (day 10) *discovers* the alignment with attention, one frame at a time.
FastSpeech (Ren et al., 2019) and FastSpeech 2 (2020) are told it: each input phoneme
i lasts d_i frames, and the **length regulator** repeats its encoder vector d_i times,

    LR([h_1, h_2, h_3], d = [2, 0, 3]) = [h_1, h_1, h_3, h_3, h_3],

so the decoder sees one vector per output frame and writes all frames at once. At
inference a **duration predictor** supplies d (trained with MSE on log(d + 1); the +1
keeps zero-length pauses finite), and speed control is d / speed. A **pitch** and an
**energy predictor** (FastSpeech 2 / FastPitch) give each phoneme its average log-F0
and loudness; their values are embedded and added to the phoneme vectors, so shifting
the pitch input shifts the voice's pitch. A **speaker vector** (a d-vector from
`speech.speaker`) is added to every phoneme vector, so one model speaks many voices.

Durations come from eSpeak NG's phoneme events (day 09), no external aligner:
`token_durations` maps the events' frame counts onto the input tokens (phonemes with
word boundaries): a pause between two words belongs to the word boundary, the pauses
at the end belong to the EOS token.

    fs = train_fastspeech()                       # cached under artifacts/
    wave = fs.synthesize("four two seven", voice="en-us+f3", speed=1.2, pitch=2.0)

The default recipe (the day 11 lesson's CPU settings) trains on the "digits" domain, so
its phoneme table knows the digit words only: other text raises a ValueError naming
the unknown phonemes. Voices: `TTS_VOICES` (the corpus' 3 + 24 eSpeak variants) and any
added with `clone`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.data import speech
from course_lib.nn.attention import MultiHeadAttention
from course_lib.nn.embeddings import sincos_1d
from course_lib.runtime import artifacts_dir, torch_threads
from course_lib.speech.espeak import PAUSE
from course_lib.speech.text import WORD_BOUNDARY
from course_lib.runtime import settings_key

__all__ = ["token_durations", "frame_pitch", "token_average", "length_regulate",
           "duration_loss", "FastSpeechConfig", "FFTBlock", "VariancePredictor", "FastSpeech",
           "FastSpeechOutput", "fastspeech_loss", "FastSpeechRecipe", "TrainedFastSpeech",
           "train_fastspeech", "prepare_items", "collate_items", "frame_energy", "feature_stats",
           "TTS_VOICES"]

FEATURE_VERSION = 2


# ---------------------------------------------------------------- targets from eSpeak

def token_durations(phonemes: Sequence[str], events: Sequence[str],
                    durations: Sequence[int]) -> list[int]:
    """Frames per input token from eSpeak's per-event frames: len(phonemes) + 1 ints (EOS last).

    phonemes: tokens with WORD_BOUNDARY (" ") between words (`text.phoneme_tokens`);
    events, durations: the utterance's event symbols (pauses "_") and their frames.
    The non-pause events are the phonemes in order. A pause goes to the word boundary
    that follows the last phoneme seen, to EOS after the last phoneme, or else to that
    phoneme. Word boundaries without a pause get 0 frames. The sum is preserved.
    """
    if len(events) != len(durations):
        raise ValueError(f"events and durations must have the same length; got {len(events)} "
                         f"and {len(durations)}")
    slots = [i for i, p in enumerate(phonemes) if p != WORD_BOUNDARY]
    sounds = [e for e in events if e != PAUSE]
    if len(slots) != len(sounds):
        raise ValueError(f"{len(slots)} phonemes but {len(sounds)} non-pause events: "
                         f"{list(phonemes)} vs {list(events)}")
    out = [0] * (len(phonemes) + 1)
    k = 0                                              # phonemes consumed
    for symbol, d in zip(events, durations):
        if symbol != PAUSE:
            out[slots[k]] += int(d)
            k += 1
        elif k == len(slots):
            out[-1] += int(d)                          # trailing pause -> EOS
        elif k > 0 and phonemes[slots[k - 1] + 1] == WORD_BOUNDARY:
            out[slots[k - 1] + 1] += int(d)            # pause between words
        else:
            out[slots[max(k - 1, 0)]] += int(d)        # inside a word or before the first
    return out


def frame_pitch(wave16k: Tensor, fmin: float = 60.0, fmax: float = 500.0, threshold: float = 0.25,
                frame_length: int = speech.N_FFT, hop_length: int = speech.HOP_LENGTH,
                sample_rate: int = speech.SAMPLE_RATE) -> tuple[Tensor, Tensor]:
    """YIN pitch (de Cheveigné & Kawahara, 2002) per mel frame: (f0 Hz (M,), voiced (M,) bool).

    Frames are centred like the mel (M = 1 + T // hop). For each frame x and lag tau:
        d(tau) = sum_{j < W} (x_j - x_{j+tau})^2,  W = frame_length - tau_max,
        d'(tau) = d(tau) / ((1 / tau) sum_{k=1}^{tau} d(k)),   d'(0) = 1,
    the period is the first lag in [sr / fmax, sr / fmin] where d' dips below
    `threshold` (its local minimum), else the global minimum; parabolic interpolation
    refines it. voiced = d' at the period < threshold and the frame is not silent.
    f0 is 0 where unvoiced. Same method as `librosa.yin` (which has no voicing).
    """
    if not isinstance(wave16k, Tensor) or wave16k.ndim != 1:
        raise ValueError(f"wave16k must be a (T,) tensor; got {getattr(wave16k, 'shape', wave16k)}")
    x = wave16k.float()
    x = F.pad(x[None, None], (frame_length // 2, frame_length // 2), mode="reflect")[0, 0]
    frames = x.unfold(0, frame_length, hop_length)                          # (M, N)
    tau_min, tau_max = int(sample_rate / fmax), int(sample_rate / fmin)
    W = frame_length - tau_max
    n = 2 ** math.ceil(math.log2(frame_length + W))
    spec_a = torch.fft.rfft(frames[:, :W], n)
    spec_b = torch.fft.rfft(frames, n)
    r = torch.fft.irfft(spec_b * spec_a.conj(), n)[:, :tau_max + 1]       # r(tau) = sum x_j x_{j+tau}
    sq = F.pad(frames ** 2, (1, 0)).cumsum(-1)                              # prefix sums of x^2
    taus = torch.arange(tau_max + 1)
    energy_shift = sq[:, taus + W] - sq[:, taus]                            # sum_{j<W} x_{j+tau}^2
    d = (sq[:, W:W + 1] + energy_shift - 2 * r).clamp_min(0)                # (M, tau_max + 1)
    cum = d[:, 1:].cumsum(-1) / taus[1:]
    cmnd = torch.cat([torch.ones_like(d[:, :1]), d[:, 1:] / cum.clamp_min(1e-12)], -1)
    band = cmnd[:, tau_min:tau_max + 1]
    below = band < threshold
    local_min = torch.ones_like(below)
    local_min[:, 1:-1] = (band[:, 1:-1] <= band[:, :-2]) & (band[:, 1:-1] <= band[:, 2:])
    first = below & local_min
    idx = torch.where(first.any(-1), first.float().argmax(-1), band.argmin(-1))
    tau = (idx + tau_min).clamp(1, tau_max - 1)
    rows = torch.arange(len(tau))
    a, b, c = cmnd[rows, tau - 1], cmnd[rows, tau], cmnd[rows, tau + 1]
    denom = a - 2 * b + c
    shift = torch.where(denom.abs() > 1e-12, 0.5 * (a - c) / denom, torch.zeros_like(denom))
    period = tau.float() + shift.clamp(-1, 1)
    loud = frames.pow(2).mean(-1) > 1e-6 * frames.pow(2).mean(-1).max().clamp_min(1e-12)
    voiced = (b < threshold) & loud
    f0 = torch.where(voiced, sample_rate / period, torch.zeros_like(period))
    return f0.float(), voiced


def token_average(values: Tensor, durations: Sequence[int], mask: Tensor | None = None) -> Tensor:
    """Mean of per-frame `values` (M,) over each token's frames -> (len(durations),).

    mask (M,) bool: average only those frames (e.g. voiced); a token without any gets 0.
    """
    d = torch.as_tensor(list(durations))
    if int(d.sum()) != values.shape[0]:
        raise ValueError(f"durations sum to {int(d.sum())} but values has {values.shape[0]} frames")
    m = torch.ones_like(values, dtype=torch.bool) if mask is None else mask
    token = torch.repeat_interleave(torch.arange(len(d)), d)                 # (M,) token of each frame
    total = torch.zeros(len(d)).index_add_(0, token, (values * m).float())
    count = torch.zeros(len(d)).index_add_(0, token, m.float())
    return torch.where(count > 0, total / count.clamp_min(1), torch.zeros_like(total))


# ---------------------------------------------------------------- length regulator and loss

def length_regulate(x: Tensor, durations: Tensor, max_frames: int | None = None) -> tuple[Tensor, Tensor]:
    """Repeat each token vector by its duration: (B, N, D), (B, N) ints -> (B, T, D), (B,).

    Row b is x[b, 0] repeated durations[b, 0] times, then x[b, 1] ..., zero-padded to
    T = max_b sum_i durations[b, i] (or cut at max_frames). Returns the frames and the
    lengths sum_i durations[b, i].
    """
    if x.ndim != 3 or durations.shape != x.shape[:2]:
        raise ValueError(f"x must be (B, N, D) and durations (B, N); got {tuple(x.shape)} and "
                         f"{tuple(durations.shape)}")
    if durations.is_floating_point() or (durations < 0).any():
        raise ValueError("durations must be non-negative integers (frames per token)")
    lengths = durations.sum(1)                                               # (B,)
    T = int(lengths.max()) if len(lengths) else 0
    if max_frames is not None:
        T, lengths = min(T, max_frames), lengths.clamp_max(max_frames)
    out = x.new_zeros(x.shape[0], max(T, 1), x.shape[2])
    for b in range(x.shape[0]):
        frames = torch.repeat_interleave(x[b], durations[b], dim=0)[:T]      # (T_b, D)
        out[b, :len(frames)] = frames
    return out, lengths


def duration_loss(log_pred: Tensor, durations: Tensor, mask: Tensor) -> Tensor:
    """MSE between predicted log-durations and log(d + 1), over real tokens (mask True).

    log_pred, durations: (B, N) (durations in frames); mask (B, N) bool.
    """
    target = torch.log(durations.float() + 1)
    return ((log_pred - target) ** 2 * mask).sum() / mask.sum().clamp_min(1)


# ---------------------------------------------------------------- the model

@dataclass
class FastSpeechConfig:
    """Sizes of FastSpeech 2. n_symbols: phoneme table size (PAD 0, EOS 1)."""
    n_symbols: int
    n_mels: int = speech.N_MELS
    dim: int = 64
    heads: int = 2
    encoder_layers: int = 2
    decoder_layers: int = 2
    ff_dim: int = 128
    kernel: int = 3
    dropout: float = 0.1
    predictor_dim: int = 64
    speaker_dim: int = 64          # d-vector width; 0 = one speaker
    use_pitch: bool = True
    use_energy: bool = True
    max_frames: int = 1600         # 20 s

    def __post_init__(self):
        if not isinstance(self.n_symbols, int) or self.n_symbols < 3:
            raise ValueError(f"n_symbols must be an int >= 3 (PAD, EOS, a symbol); got {self.n_symbols!r}")
        if self.dim % self.heads or self.dim % 2:
            raise ValueError(f"dim must be even and divisible by heads; got dim={self.dim}, heads={self.heads}")


class FFTBlock(nn.Module):
    """A "feed-forward Transformer" block (pre-norm): self-attention, then a 1-D conv MLP.

        x = x + MHA(LN(x)),   x = x + Conv(ReLU(Conv(LN(x))))     (padding kept at 0)
    """

    def __init__(self, dim: int, heads: int, ff_dim: int, kernel: int, dropout: float):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, heads)
        self.conv1 = nn.Conv1d(dim, ff_dim, kernel, padding=kernel // 2)
        self.conv2 = nn.Conv1d(ff_dim, dim, kernel, padding=kernel // 2)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """x (B, L, D), mask (B, L) bool True on real positions -> (B, L, D)."""
        keep = mask[..., None].to(x.dtype)
        x = x + self.dropout(self.attn(self.norm1(x), key_padding_mask=~mask))       # (B, L, D)
        h = F.relu(self.conv1((self.norm2(x) * keep).transpose(1, 2)))               # (B, ff, L)
        h = self.conv2(h * keep.transpose(1, 2)).transpose(1, 2)                     # (B, L, D)
        return (x + self.dropout(h)) * keep


class VariancePredictor(nn.Module):
    """FastSpeech 2's predictor of one value per token: 2 x (conv, ReLU, LayerNorm), linear.

    (B, N, D) -> (B, N). Used for log-duration, pitch and energy.
    """

    def __init__(self, dim: int, hidden: int, kernel: int, dropout: float):
        super().__init__()
        self.conv1 = nn.Conv1d(dim, hidden, kernel, padding=kernel // 2)
        self.conv2 = nn.Conv1d(hidden, hidden, kernel, padding=kernel // 2)
        self.norm1, self.norm2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        h = self.dropout(self.norm1(F.relu(self.conv1(x.transpose(1, 2)).transpose(1, 2))))
        h = h * mask[..., None]
        h = self.dropout(self.norm2(F.relu(self.conv2(h.transpose(1, 2)).transpose(1, 2))))
        return self.out(h).squeeze(-1) * mask                                        # (B, N)


@dataclass
class FastSpeechOutput:
    """mel (B, n_mels, T) log-mel; mel_lengths (B,); log_durations, pitch, energy (B, N)
    are the predictors' outputs (pitch and energy in normalised units)."""
    mel: Tensor
    mel_lengths: Tensor
    log_durations: Tensor
    pitch: Tensor
    energy: Tensor


class FastSpeech(nn.Module):
    """Phoneme ids (B, N) [+ d-vector (B, speaker_dim)] -> log-mel (B, n_mels, T).

    embed + positions -> encoder (FFT blocks) -> + speaker -> predictors (log-duration,
    pitch, energy); pitch and energy (true ones in training, predicted or shifted at
    inference) are embedded by a 1-D conv and added -> length regulator -> + positions
    -> decoder (FFT blocks) -> linear to n_mels (normalised log-mel, see `normalize`).
    """

    def __init__(self, cfg: FastSpeechConfig):
        super().__init__()
        self.cfg = cfg
        D = cfg.dim
        self.embed = nn.Embedding(cfg.n_symbols, D, padding_idx=0)
        block = lambda: FFTBlock(D, cfg.heads, cfg.ff_dim, cfg.kernel, cfg.dropout)  # noqa: E731
        self.encoder = nn.ModuleList([block() for _ in range(cfg.encoder_layers)])
        self.decoder = nn.ModuleList([block() for _ in range(cfg.decoder_layers)])
        self.speaker = nn.Linear(cfg.speaker_dim, D) if cfg.speaker_dim else None
        predictor = lambda: VariancePredictor(D, cfg.predictor_dim, cfg.kernel, cfg.dropout)  # noqa: E731
        self.duration_predictor = predictor()
        self.pitch_predictor = predictor() if cfg.use_pitch else None
        self.energy_predictor = predictor() if cfg.use_energy else None
        self.pitch_embed = nn.Conv1d(1, D, cfg.kernel, padding=cfg.kernel // 2) if cfg.use_pitch else None
        self.energy_embed = nn.Conv1d(1, D, cfg.kernel, padding=cfg.kernel // 2) if cfg.use_energy else None
        self.out = nn.Linear(D, cfg.n_mels)
        self.register_buffer("positions", sincos_1d(torch.arange(cfg.max_frames), D))
        self.register_buffer("mel_mean", torch.zeros(cfg.n_mels, 1))
        self.register_buffer("mel_std", torch.ones(cfg.n_mels, 1))

    # -- normalisation of the target mels (per band), as in day 10
    def set_normalization(self, mels: Sequence[Tensor]) -> None:
        frames = torch.cat(list(mels), 1)
        self.mel_mean.copy_(frames.mean(1, keepdim=True))
        self.mel_std.copy_(frames.std(1, keepdim=True).clamp_min(1e-3))

    def normalize(self, mel: Tensor) -> Tensor:
        return (mel - self.mel_mean) / self.mel_std

    def denormalize(self, mel: Tensor) -> Tensor:
        return mel * self.mel_std + self.mel_mean

    def encode(self, tokens: Tensor, speaker: Tensor | None) -> tuple[Tensor, Tensor]:
        """tokens (B, N) -> phoneme vectors (B, N, D) with the speaker added, mask (B, N)."""
        if tokens.ndim != 2 or tokens.dtype != torch.long:
            raise ValueError(f"tokens must be a (B, N) long tensor; got {tuple(tokens.shape)} {tokens.dtype}")
        mask = tokens != 0                                                   # (B, N)
        h = self.embed(tokens) + self.positions[:tokens.shape[1]]            # (B, N, D)
        for blk in self.encoder:
            h = blk(h, mask)
        if self.speaker is not None:
            if speaker is None or speaker.shape != (tokens.shape[0], self.cfg.speaker_dim):
                raise ValueError(f"speaker must be (B, {self.cfg.speaker_dim}) d-vectors; got "
                                 f"{None if speaker is None else tuple(speaker.shape)}")
            h = h + self.speaker(speaker)[:, None] * mask[..., None]         # (B, N, D)
        return h, mask

    def _add_variance(self, h: Tensor, mask: Tensor, pitch: Tensor | None, energy: Tensor | None) -> Tensor:
        for value, embed in ((pitch, self.pitch_embed), (energy, self.energy_embed)):
            if embed is not None:
                h = h + embed(value[:, None]).transpose(1, 2) * mask[..., None]   # (B, N, D)
        return h

    def decode(self, h: Tensor, durations: Tensor) -> tuple[Tensor, Tensor]:
        """Phoneme vectors (B, N, D), durations (B, N) -> log-mel (B, n_mels, T), lengths (B,)."""
        frames, lengths = length_regulate(h, durations, self.cfg.max_frames)    # (B, T, D)
        T = frames.shape[1]
        fmask = torch.arange(T, device=h.device) < lengths[:, None]            # (B, T)
        y = frames + self.positions[:T]
        for blk in self.decoder:
            y = blk(y, fmask)
        mel = self.denormalize(self.out(y).transpose(1, 2))                    # (B, n_mels, T)
        return mel * fmask[:, None], lengths

    def forward(self, tokens: Tensor, durations: Tensor, speaker: Tensor | None = None,
                pitch: Tensor | None = None, energy: Tensor | None = None) -> FastSpeechOutput:
        """Training pass with the true durations (B, N) and, when used, true pitch/energy (B, N)."""
        h, mask = self.encode(tokens, speaker)
        log_d = self.duration_predictor(h, mask)
        p_hat = self.pitch_predictor(h, mask) if self.pitch_predictor is not None else torch.zeros_like(log_d)
        e_hat = self.energy_predictor(h, mask) if self.energy_predictor is not None else torch.zeros_like(log_d)
        if (self.cfg.use_pitch and pitch is None) or (self.cfg.use_energy and energy is None):
            raise ValueError("this model uses pitch/energy: pass the true per-token values in training")
        mel, lengths = self.decode(self._add_variance(h, mask, pitch, energy), durations)
        return FastSpeechOutput(mel, lengths, log_d, p_hat, e_hat)

    @torch.no_grad()
    def infer(self, tokens: Tensor, speaker: Tensor | None = None, speed: float = 1.0,
              pitch_shift: float = 0.0, energy_shift: float = 0.0) -> tuple[Tensor, Tensor, Tensor]:
        """Predict durations, pitch and energy, then the mel: (B, n_mels, T), lengths, durations.

        speed: d_i = round((exp(log_d_i) - 1) / speed), >= 0; pitch_shift, energy_shift are
        added to the predicted (normalised) values of every token.
        """
        if not speed > 0:
            raise ValueError(f"speed must be > 0; got {speed}")
        was = self.training
        self.eval()
        h, mask = self.encode(tokens, speaker)
        log_d = self.duration_predictor(h, mask)
        durations = (torch.round((log_d.exp() - 1) / speed).clamp_min(0).long()) * mask
        pitch = energy = None
        if self.pitch_predictor is not None:
            pitch = (self.pitch_predictor(h, mask) + pitch_shift) * mask
        if self.energy_predictor is not None:
            energy = (self.energy_predictor(h, mask) + energy_shift) * mask
        mel, lengths = self.decode(self._add_variance(h, mask, pitch, energy), durations)
        self.train(was)
        return mel, lengths, durations


def fastspeech_loss(out: FastSpeechOutput, batch: dict, model: FastSpeech) -> tuple[Tensor, dict]:
    """L1 of the normalised mel over real frames + duration MSE on log(d + 1) + pitch and
    energy MSE over real tokens. Returns (total, parts as floats)."""
    mels, fmask = batch["mels"], batch["mel_mask"][:, None].float()           # (B, n_mels, T), (B, 1, T)
    T = mels.shape[2]
    mel_loss = ((model.normalize(out.mel[..., :T]) - model.normalize(mels)).abs() * fmask).sum() / (
        fmask.sum() * mels.shape[1])
    tmask = batch["token_mask"]
    dur = duration_loss(out.log_durations, batch["durations"], tmask)
    parts = {"mel": mel_loss, "duration": dur}
    if model.cfg.use_pitch:
        parts["pitch"] = ((out.pitch - batch["pitch"]) ** 2 * tmask).sum() / tmask.sum()
    if model.cfg.use_energy:
        parts["energy"] = ((out.energy - batch["energy"]) ** 2 * tmask).sum() / tmask.sum()
    total = sum(parts.values())
    return total, {k: float(v.detach()) for k, v in parts.items()}


# ---------------------------------------------------------------- data

def _features(utterances: Sequence[speech.Utterance], cache_name: str) -> list[dict]:
    """Per utterance: token durations, frame F0 and voicing (from eSpeak's wave), cached."""
    path = artifacts_dir("speech", f"day11_features_v{FEATURE_VERSION}") / f"{cache_name}.pt"
    if path.exists():
        return torch.load(path, weights_only=False)
    out = []
    with torch_threads(1):
        for u in utterances:
            f0, voiced = frame_pitch(u.wave())
            if len(f0) != u.n_frames:
                raise RuntimeError(f"{u.id}: {len(f0)} pitch frames for {u.n_frames} mel frames")
            out.append({"id": u.id, "durations": token_durations(u.phonemes, u.events, u.durations),
                        "f0": f0, "voiced": voiced})
    tmp = path.with_suffix(".tmp")
    torch.save(out, tmp)
    tmp.replace(path)
    return out


def frame_energy(mel: Tensor) -> Tensor:
    """Log energy per frame of a natural-log mel (n_mels, M): log ||exp(mel)||_2 -> (M,)."""
    return 0.5 * torch.logsumexp(2 * mel, dim=0)


def prepare_items(utterances: Sequence[speech.Utterance], table, speaker_vectors: Sequence[Tensor],
                  stats: dict, cache_name: str) -> list[dict]:
    """Training items: tokens (N+1,) with EOS, durations, normalised pitch and energy per
    token (N+1,), mel (n_mels, M), speaker d-vector. stats: log-F0 and energy mean/std."""
    feats = _features(utterances, cache_name)
    items = []
    for u, f, s in zip(utterances, feats, speaker_vectors):
        logf0 = torch.where(f["voiced"], f["f0"].clamp_min(1).log(), torch.zeros_like(f["f0"]))
        pitch = token_average((logf0 - stats["pitch_mean"]) / stats["pitch_std"], f["durations"], f["voiced"])
        energy = token_average((frame_energy(u.mel) - stats["energy_mean"]) / stats["energy_std"],
                               f["durations"])
        items.append({"tokens": torch.tensor(table.encode(u.phonemes)), "durations": torch.tensor(f["durations"]),
                      "pitch": pitch, "energy": energy, "mel": u.mel, "speaker": s, "voice": u.voice})
    return items


def feature_stats(utterances: Sequence[speech.Utterance], cache_name: str) -> dict:
    """Mean and std of log-F0 (voiced frames) and of frame energy over `utterances`."""
    feats = _features(utterances, cache_name)
    logf0 = torch.cat([f["f0"][f["voiced"]].log() for f in feats])
    energy = torch.cat([frame_energy(u.mel) for u in utterances])
    return {"pitch_mean": float(logf0.mean()), "pitch_std": float(logf0.std()),
            "energy_mean": float(energy.mean()), "energy_std": float(energy.std())}


def collate_items(items: Sequence[dict]) -> dict[str, Tensor]:
    """A padded batch: tokens, durations, pitch, energy, token_mask (B, N); mels (B, n_mels, T),
    mel_lengths, mel_mask; speakers (B, speaker_dim)."""
    batch = speech.collate([(it["tokens"], it["mel"]) for it in items])
    N = batch["tokens"].shape[1]
    pad = lambda key, dtype: torch.stack([F.pad(it[key].to(dtype), (0, N - len(it[key]))) for it in items])  # noqa: E731
    batch.update(durations=pad("durations", torch.long), pitch=pad("pitch", torch.float32),
                 energy=pad("energy", torch.float32), speakers=torch.stack([it["speaker"] for it in items]))
    return batch


# ---------------------------------------------------------------- the recipe

def _default_speaker_recipe():
    from course_lib.speech.speaker import SpeakerRecipe
    return SpeakerRecipe(voices=TTS_VOICES, n_per_voice=40)


def _tts_voices() -> tuple[str, ...]:
    from course_lib.speech.speaker import EXTRA_VOICES
    return (*speech.VOICES, *EXTRA_VOICES[:24])


TTS_VOICES = _tts_voices()        # the corpus' 3 voices + 24 eSpeak variants


@dataclass
class FastSpeechRecipe:
    """What `train_fastspeech` trains: data, model sizes, optimisation, the speaker encoder."""
    domains: tuple[str, ...] = ("digits",)
    voices: tuple[str, ...] = TTS_VOICES
    n_per_voice: int = 40             # sentences per domain for voices outside the corpus
    max_per_voice: int = 100          # training utterances per voice and domain at most
    steps: int = 250
    batch_size: int = 16
    lr: float = 2e-3
    seed: int = 0
    config: dict = field(default_factory=dict)      # FastSpeechConfig fields besides n_symbols
    speaker: object = field(default_factory=_default_speaker_recipe)   # a SpeakerRecipe

    def key(self) -> str:
        return settings_key(self)


@dataclass
class TrainedFastSpeech:
    """A trained FastSpeech 2 with everything needed to speak.

    model (eval), table (phonemes), speaker (a TrainedSpeakerEncoder), voices: name ->
    (d-vector (speaker_dim,), phonemizer language), stats (pitch/energy normalisation),
    history (loss per step), recipe. `synthesize` is the one-call TTS.
    """
    model: FastSpeech
    table: object
    speaker: object
    voices: dict[str, tuple[Tensor, str]]
    stats: dict
    history: list[float]
    recipe: FastSpeechRecipe
    _vocoder: object = None

    @property
    def device(self) -> torch.device:
        return self.model.mel_mean.device

    def tokens(self, text: str, voice: str = "en-us") -> Tensor:
        """Phoneme ids (1, N+1) of `text` (normalised, phonemized in the voice's language)."""
        from course_lib.speech.text import phoneme_tokens
        if voice not in self.voices:
            raise ValueError(f"unknown voice {voice!r}; known: {sorted(self.voices)} (clone() adds one)")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"text must be a non-empty str; got {text!r}")
        return torch.tensor([self.table.encode(phoneme_tokens(text, self.voices[voice][1]))])

    def semitones_to_shift(self, semitones: float) -> float:
        """A pitch change in semitones -> shift of the normalised log-F0: s ln2 / 12 / std."""
        return float(semitones) * math.log(2) / 12 / self.stats["pitch_std"]

    def mel(self, text: str, voice: str = "en-us", speed: float = 1.0, pitch: float = 0.0) -> Tensor:
        """Log-mel (n_mels, T) of `text`; speed > 1 is faster; pitch in semitones."""
        tokens = self.tokens(text, voice).to(self.device)
        speaker = self.voices[voice][0][None].to(self.device)
        mel, lengths, _ = self.model.infer(tokens, speaker, speed=speed,
                                           pitch_shift=self.semitones_to_shift(pitch))
        return mel[0, :, :int(lengths[0])].cpu()

    @torch.no_grad()
    def predicted_f0(self, text: str, voice: str = "en-us", pitch: float = 0.0) -> Tensor:
        """The F0 in Hz (N + 1,) the decoder is given for each token: exp(mean + std * p_i)
        of the predicted normalised log-F0 p_i, shifted by `pitch` semitones."""
        self.model.eval()
        tokens = self.tokens(text, voice).to(self.device)
        h, mask = self.model.encode(tokens, self.voices[voice][0][None].to(self.device))
        p = self.model.pitch_predictor(h, mask)[0] + self.semitones_to_shift(pitch)
        return torch.exp(self.stats["pitch_mean"] + self.stats["pitch_std"] * p).cpu()

    def vocode(self, mel: Tensor, vocoder: str = "neural") -> Tensor:
        """Wave (T,) at 16 kHz from a log-mel: "neural" (`vocoder.train_vocoder`, loaded or
        trained once) or "griffin_lim"."""
        from course_lib.speech import vocoder as voc
        if vocoder == "griffin_lim":
            return voc.griffin_lim_vocoder(mel)
        if vocoder != "neural":
            raise ValueError(f"vocoder must be 'neural' or 'griffin_lim'; got {vocoder!r}")
        if self._vocoder is None:
            self._vocoder = voc.train_vocoder(progress=False).model
        return voc.vocode(self._vocoder, mel)

    def synthesize(self, text: str, voice: str = "en-us", speed: float = 1.0, pitch: float = 0.0,
                   vocoder: str = "neural") -> Tensor:
        """Speech for `text`: (T,) float32 wave at 16 kHz (speech.SAMPLE_RATE) on the CPU.

        voice: a name of `voices` (training voices and clones); speed: 1.0 normal, 2.0
        twice as fast; pitch: semitones up (+) or down (-).
        """
        mel = self.mel(text, voice, speed, pitch)
        if mel.shape[1] < 2:
            raise ValueError(f"the model produced {mel.shape[1]} frames for {text!r}")
        return self.vocode(mel, vocoder)

    def clone(self, name: str, reference: Tensor, language: str = "en-us") -> Tensor:
        """Add voice `name` from a reference clip: a wave (T,) at 16 kHz or a log-mel
        (n_mels, M). Its d-vector (returned) conditions the model like a trained voice."""
        if not isinstance(reference, Tensor) or reference.ndim not in (1, 2):
            raise ValueError("reference must be a (T,) wave at 16 kHz or a (n_mels, frames) log-mel")
        mel = speech.log_mel(reference.float()) if reference.ndim == 1 else reference
        vector = self.speaker.model.embed(mel).cpu()
        self.voices[name] = (vector, language)
        return vector


def train_fastspeech(recipe: FastSpeechRecipe | None = None, checkpoint: str | None = "day11_fastspeech",
                     device: torch.device | None = None, progress: bool = True) -> TrainedFastSpeech:
    """Train FastSpeech 2 (and first its speaker encoder) on the recipe's voices, or load.

    1. the speaker encoder (`speaker.train_speaker_encoder(recipe.speaker)`, cached);
    2. data: each voice's training utterances of the domains (the corpus' or
       `voice_utterances`, at most `max_per_voice`),
       token durations from eSpeak's events, pitch (YIN) and energy per token, the
       d-vector of every utterance;
    3. `train.fit` with `fastspeech_loss` on batches of `batch_size` training utterances,
       each of a voice drawn uniformly (seeded by the step). Checkpoint: artifacts/checkpoints/
       {checkpoint}_{recipe.key()}.pt; None trains without saving.
    """
    from course_lib.runtime import get_device
    from course_lib.speech.speaker import embed_batch, train_speaker_encoder, voice_language, voice_utterances
    from course_lib.speech.text import SymbolTable
    from course_lib.train import fit

    recipe = recipe or FastSpeechRecipe()
    device = device or get_device()
    enc = train_speaker_encoder(recipe.speaker, checkpoint=None if checkpoint is None else f"{checkpoint}_speaker",
                                device=device, progress=progress)
    per_voice = {(v, d): [u for u in voice_utterances(v, d, None if v in speech.VOICES else recipe.n_per_voice)
                          if u.split == "train"][:recipe.max_per_voice]
                 for v in recipe.voices for d in recipe.domains}
    train = [u for us in per_voice.values() for u in us]
    table = SymbolTable.from_tokens(t for u in train for t in u.phonemes)
    names = {k: f"{k[0]}_{k[1]}_{len(us)}" for k, us in per_voice.items()}
    stats_parts = [feature_stats(us, names[k]) for k, us in per_voice.items()]
    stats = {k: float(np.mean([s[k] for s in stats_parts])) for k in stats_parts[0]}
    with torch_threads(1) if device.type == "cpu" else nullcontext():
        enc.model.to(device)
        items = [it for k, us in per_voice.items() for it in prepare_items(
            us, table, embed_batch(enc.model, [u.mel for u in us]), stats, names[k])]
        torch.manual_seed(recipe.seed)
        cfg = FastSpeechConfig(n_symbols=len(table), speaker_dim=enc.model.cfg.dim, **recipe.config)
        model = FastSpeech(cfg)
        model.set_normalization([u.mel for u in train])

        by_voice = [[it for it in items if it["voice"] == v] for v in recipe.voices]

        def data(step: int) -> dict[str, Tensor]:
            """Voices drawn uniformly, then one of the voice's utterances: every voice counts
            the same, however many utterances it has."""
            rng = random.Random(recipe.seed * 1_000_003 + step)
            return collate_items([rng.choice(rng.choice(by_voice)) for _ in range(recipe.batch_size)])

        def loss_fn(model: FastSpeech, batch: dict) -> Tensor:
            out = model(batch["tokens"], batch["durations"], batch["speakers"], batch["pitch"], batch["energy"])
            return fastspeech_loss(out, batch, model)[0]

        history = fit(model, loss_fn, data, steps=recipe.steps, lr=recipe.lr, device=device,
                      checkpoint=None if checkpoint is None else f"{checkpoint}_{recipe.key()}",
                      checkpoint_every=10**9, desc="fastspeech", progress=progress)
    model.eval()
    voices = {v: (enc.table[v], voice_language(v)) for v in recipe.voices}
    return TrainedFastSpeech(model, table, enc, voices, stats, history, recipe)
