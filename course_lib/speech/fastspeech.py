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
`speech.speaker`) is added to every phoneme vector, so one model speaks many voices;
with `speaker_film` it also scales and shifts every decoder block's output (FiLM), which
day 11's cloning model uses to keep a new voice's timbre all the way to the mel.

Durations come from eSpeak NG's phoneme events (day 09), no external aligner:
`token_durations` maps the events' frame counts onto the input tokens (phonemes with
word boundaries): a pause between two words belongs to the word boundary, the pauses
at the end belong to the EOS token. Pitch (YIN) and energy targets: `audio.prosody`.

    model = FastSpeech(FastSpeechConfig(vocab_size=len(table)))
    loss, parts = fastspeech_training_loss(model, batch)    # mel L1, duration, pitch, energy
    mel, lengths, durations = model.infer(tokens, speaker, speed=1.2, pitch_shift=0.5)

The recipe, training data and the one-call TTS (`train_fastspeech(...).synthesize(text,
voice=..., speed=..., pitch=...)`) are in `fastspeech_train.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.audio.normalize import MelNormalizer
from course_lib.checks import check_positive_int, check_shape
from course_lib.data.speech import N_MELS
from course_lib.nn.attention import MultiHeadAttention
from course_lib.nn.embeddings import sincos_1d
from course_lib.speech.espeak import PAUSE
from course_lib.speech.text import WORD_BOUNDARY

__all__ = ["token_durations", "length_regulate", "duration_loss", "FastSpeechConfig", "FFTBlock",
           "VariancePredictor", "FastSpeech", "FastSpeechOutput", "fastspeech_loss",
           "fastspeech_training_loss"]


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


# ---------------------------------------------------------------- length regulator and loss

def length_regulate(x: Tensor, durations: Tensor, max_frames: int | None = None) -> tuple[Tensor, Tensor]:
    """Repeat each token vector by its duration: (B, N, D), (B, N) ints -> (B, T, D), (B,).

    Row b is x[b, 0] repeated durations[b, 0] times, then x[b, 1] ..., zero-padded to
    T = max_b sum_i durations[b, i] (or cut at max_frames). Returns the frames and the
    lengths sum_i durations[b, i].
    """
    check_shape(x, "x", "B N D")
    check_shape(durations, "durations", "B N", B=x.shape[0], N=x.shape[1])
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

@dataclass(frozen=True)
class FastSpeechConfig:
    """Sizes of FastSpeech 2. vocab_size: the phoneme table's size (PAD 0, EOS 1); 0 in a
    recipe, where `train_fastspeech` fills it from the data. The FFT blocks' conv MLP has
    int(dim * mlp_ratio) channels."""
    vocab_size: int = 0
    n_mels: int = N_MELS
    dim: int = 64
    heads: int = 2
    encoder_depth: int = 2
    decoder_depth: int = 2
    mlp_ratio: float = 2.0
    kernel: int = 3
    dropout: float = 0.1
    predictor_dim: int = 64
    speaker_dim: int = 64          # d-vector width; 0 = one speaker
    speaker_film: bool = False     # also modulate every decoder block by the speaker (FiLM)
    use_pitch: bool = True
    use_energy: bool = True
    max_frames: int = 1600         # 20 s

    def __post_init__(self):
        check_positive_int(self.vocab_size, "vocab_size", allow_zero=True)
        if 0 < self.vocab_size < 3:
            raise ValueError(f"vocab_size must be >= 3 (PAD, EOS, a symbol), or 0 until the data "
                             f"fills it; got {self.vocab_size}")
        if self.speaker_film and not self.speaker_dim:
            raise ValueError("speaker_film needs a speaker: set speaker_dim > 0 (the d-vector width)")
        if self.dim % self.heads or self.dim % 2:
            raise ValueError(f"dim must be even and divisible by heads; got dim={self.dim}, heads={self.heads}")


class FFTBlock(nn.Module):
    """A "feed-forward Transformer" block (pre-norm): self-attention, then a 1-D conv MLP.

        x = x + MHA(LN(x)),   x = x + Conv(ReLU(Conv(LN(x))))     (padding kept at 0)
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float, kernel: int, dropout: float):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, heads)
        self.conv1 = nn.Conv1d(dim, hidden, kernel, padding=kernel // 2)
        self.conv2 = nn.Conv1d(hidden, dim, kernel, padding=kernel // 2)
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
    -> decoder (FFT blocks) -> linear to n_mels: a normalised log-mel, mapped back to
    log-mel units by `mel_norm` (`audio.normalize.MelNormalizer`, fitted on the training
    mels with `model.mel_norm.fit(mels)`).
    """

    def __init__(self, config: FastSpeechConfig):
        super().__init__()
        if config.vocab_size < 3:
            raise ValueError(f"config.vocab_size must be >= 3 (PAD, EOS, a symbol); got {config.vocab_size}: "
                             "fill it from the phoneme table, replace(config, vocab_size=len(table))")
        self.config = config
        D = config.dim
        self.embed = nn.Embedding(config.vocab_size, D, padding_idx=0)
        block = lambda: FFTBlock(D, config.heads, config.mlp_ratio, config.kernel, config.dropout)  # noqa: E731
        self.encoder = nn.ModuleList([block() for _ in range(config.encoder_depth)])
        self.decoder = nn.ModuleList([block() for _ in range(config.decoder_depth)])
        self.speaker = nn.Linear(config.speaker_dim, D) if config.speaker_dim else None
        # FiLM (Perez et al., 2018) after each decoder block: y <- y (1 + gamma(s)) + beta(s),
        # zero-initialised so training starts from the plain model
        self.speaker_film = nn.ModuleList(
            [nn.Linear(config.speaker_dim, 2 * D) for _ in range(config.decoder_depth)]) if config.speaker_film else None
        for film in self.speaker_film or ():
            nn.init.zeros_(film.weight)
            nn.init.zeros_(film.bias)
        predictor = lambda: VariancePredictor(D, config.predictor_dim, config.kernel, config.dropout)  # noqa: E731
        self.duration_predictor = predictor()
        self.pitch_predictor = predictor() if config.use_pitch else None
        self.energy_predictor = predictor() if config.use_energy else None
        self.pitch_embed = nn.Conv1d(1, D, config.kernel, padding=config.kernel // 2) if config.use_pitch else None
        self.energy_embed = nn.Conv1d(1, D, config.kernel, padding=config.kernel // 2) if config.use_energy else None
        self.out = nn.Linear(D, config.n_mels)
        self.register_buffer("positions", sincos_1d(torch.arange(config.max_frames), D))
        self.mel_norm = MelNormalizer(config.n_mels)     # per-band statistics of the training mels, as on day 10

    def encode(self, tokens: Tensor, speaker: Tensor | None) -> tuple[Tensor, Tensor]:
        """tokens (B, N) -> phoneme vectors (B, N, D) with the speaker added, mask (B, N)."""
        check_shape(tokens, "tokens", "B N")
        if tokens.dtype != torch.long:
            raise ValueError(f"tokens must be a (B, N) long tensor; got {tokens.dtype}")
        mask = tokens != 0                                                   # (B, N)
        h = self.embed(tokens) + self.positions[:tokens.shape[1]]            # (B, N, D)
        for blk in self.encoder:
            h = blk(h, mask)
        if self.speaker is not None:
            if speaker is None:
                raise ValueError(f"speaker must be (B, {self.config.speaker_dim}) d-vectors; got None")
            check_shape(speaker, "speaker", "B speaker_dim", B=tokens.shape[0], speaker_dim=self.config.speaker_dim)
            h = h + self.speaker(speaker)[:, None] * mask[..., None]         # (B, N, D)
        return h, mask

    def _add_variance(self, h: Tensor, mask: Tensor, pitch: Tensor | None, energy: Tensor | None) -> Tensor:
        for value, embed in ((pitch, self.pitch_embed), (energy, self.energy_embed)):
            if embed is not None:
                h = h + embed(value[:, None]).transpose(1, 2) * mask[..., None]   # (B, N, D)
        return h

    def decode(self, h: Tensor, durations: Tensor, speaker: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Phoneme vectors (B, N, D), durations (B, N) -> log-mel (B, n_mels, T), lengths (B,).
        speaker (B, speaker_dim): the d-vectors, used only when `config.speaker_film`."""
        frames, lengths = length_regulate(h, durations, self.config.max_frames)    # (B, T, D)
        T = frames.shape[1]
        fmask = torch.arange(T, device=h.device) < lengths[:, None]            # (B, T)
        y = frames + self.positions[:T]
        for i, blk in enumerate(self.decoder):
            y = blk(y, fmask)
            if self.speaker_film is not None:
                gamma, beta = self.speaker_film[i](speaker)[:, None].chunk(2, dim=-1)   # (B, 1, D) each
                y = (y * (1 + gamma) + beta) * fmask[..., None]
        mel = self.mel_norm.inverse(self.out(y).transpose(1, 2))               # (B, n_mels, T)
        return mel * fmask[:, None], lengths

    def forward(self, tokens: Tensor, durations: Tensor, speaker: Tensor | None = None,
                pitch: Tensor | None = None, energy: Tensor | None = None) -> FastSpeechOutput:
        """Training pass with the true durations (B, N) and, when used, true pitch/energy (B, N)."""
        h, mask = self.encode(tokens, speaker)
        log_d = self.duration_predictor(h, mask)
        p_hat = self.pitch_predictor(h, mask) if self.pitch_predictor is not None else torch.zeros_like(log_d)
        e_hat = self.energy_predictor(h, mask) if self.energy_predictor is not None else torch.zeros_like(log_d)
        if (self.config.use_pitch and pitch is None) or (self.config.use_energy and energy is None):
            raise ValueError("this model uses pitch/energy: pass the true per-token values in training")
        mel, lengths = self.decode(self._add_variance(h, mask, pitch, energy), durations, speaker)
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
        mel, lengths = self.decode(self._add_variance(h, mask, pitch, energy), durations, speaker)
        self.train(was)
        return mel, lengths, durations


def fastspeech_loss(out: FastSpeechOutput, batch: dict, model: FastSpeech) -> tuple[Tensor, dict]:
    """L1 of the normalised mel over real frames + duration MSE on log(d + 1) + pitch and
    energy MSE over real tokens. Returns (total, parts as floats)."""
    mels, fmask = batch["mels"], batch["mel_mask"][:, None].float()           # (B, n_mels, T), (B, 1, T)
    T = mels.shape[2]
    mel_loss = ((model.mel_norm(out.mel[..., :T]) - model.mel_norm(mels)).abs() * fmask).sum() / (
        fmask.sum() * mels.shape[1])
    tmask = batch["token_mask"]
    dur = duration_loss(out.log_durations, batch["durations"], tmask)
    parts = {"mel": mel_loss, "duration": dur}
    if model.config.use_pitch:
        parts["pitch"] = ((out.pitch - batch["pitch"]) ** 2 * tmask).sum() / tmask.sum()
    if model.config.use_energy:
        parts["energy"] = ((out.energy - batch["energy"]) ** 2 * tmask).sum() / tmask.sum()
    total = sum(parts.values())
    return total, {k: float(v.detach()) for k, v in parts.items()}


def fastspeech_training_loss(model: FastSpeech, batch: dict) -> tuple[Tensor, dict]:
    """What training minimises: the forward pass with the true durations, pitch and
    energy of a padded batch (`fastspeech_train.collate_items`) and its `fastspeech_loss`."""
    out = model(batch["tokens"], batch["durations"], batch["speakers"], batch["pitch"], batch["energy"])
    return fastspeech_loss(out, batch, model)
