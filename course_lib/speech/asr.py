"""Whisper-style speech recognition (Radford et al., 2022), small: log-mel -> text tokens.

    tok = Tokenizer.from_texts(["three seven one", "drei sieben eins"])   # asr_tokenizer
    model = WhisperASR(AsrConfig(vocab_size=len(tok)))
    logits = model(mels, mel_lengths, tokens)            # teacher forcing, (B, N, V)
    ids = greedy_decode(model, mels, mel_lengths, tok.prompt("de", "translate"))

The pieces, in the order data flows through them:

- features: `audio.dsp.log_mel_whisper`, 80 log-mel bands every 10 ms, (B, 80, T);
- encoder: a conv stem (conv 3 + GELU, conv 3 with stride 2 + GELU: T -> ceil(T / 2)
  frames, 20 ms each), fixed sinusoidal positions (`nn.embeddings.sincos_1d`), pre-norm
  transformer blocks, a final LayerNorm: (B, S, D);
- decoder: token embedding + learned positions, pre-norm blocks of *causal*
  self-attention, cross-attention to the encoder output, and an MLP; logits from the
  token embedding (tied weights): (B, N, V). Both attentions take a `KVCache`
  (`nn.attention`), so decoding one token costs one position, not the whole prefix;
- the task is a prompt of special tokens (`asr_tokenizer`):
  <|startoftranscript|> <|de|> <|translate|>; the language token is also what the model
  predicts after <|startoftranscript|>: language identification (`detect_language`).

The loss (`asr_loss`) is cross-entropy on the text tokens and <|endoftext|> (the prompt is
given, not predicted, except the language token, which is predicted so that it can be
detected), plus, unlike Whisper, a weighted CTC loss on a linear head over the encoder
frames (joint CTC-attention training, Kim, Hori & Watanabe, 2017), which makes a small
model align within a CPU budget. Decoding: `greedy_decode` (with or without the cache:
same tokens) and `beam_search`. The CTC baseline is in `ctc.py`; recipes, training and
`transcribe` in `asr_train.py`; the word error rate is `metrics.word_error_rate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.audio.dsp import log_mel_whisper
from course_lib.checks import check_positive_int, check_shape
from course_lib.nn.attention import KVCache, MultiHeadAttention, length_mask
from course_lib.nn.embeddings import sincos_1d
from course_lib.nn.transformer import MLP, EncoderBlock
from course_lib.speech.asr_tokenizer import LANGUAGES, Tokenizer

__all__ = ["IGNORE", "AsrConfig", "ConvStem", "AudioEncoder", "EncoderBlock", "DecoderBlock", "TextDecoder",
           "WhisperASR", "features", "collate_features", "asr_loss", "greedy_decode", "beam_search",
           "detect_language"]

IGNORE = -100                      # target id that the loss skips


# ---------------------------------------------------------------- features and batches

def features(wave16k: Tensor) -> Tensor:
    """Whisper log-mel features of one clip: (T,) at 16 kHz -> (80, T // 160)."""
    check_shape(wave16k, "wave16k", "T")
    return log_mel_whisper(wave16k.float())


def collate_features(mels: Sequence[Tensor], sequences: Sequence[Sequence[int]] | None = None,
                     pad_value: float = 0.0) -> dict[str, Tensor]:
    """Pad (80, T_i) features to (B, 80, T) (+ mel_lengths (B,)); with `sequences`, also
    tokens (B, N) (padded with <|endoftext|> = 0) and their lengths (B,)."""
    if not mels:
        raise ValueError("mels is empty")
    n_mels = mels[0].shape[0]
    for i, m in enumerate(mels):
        if m.ndim != 2 or m.shape[0] != n_mels:
            raise ValueError(f"mels[{i}] must be ({n_mels}, frames); got {tuple(m.shape)}")
    lengths = torch.tensor([m.shape[1] for m in mels])
    batch = torch.full((len(mels), n_mels, int(lengths.max())), pad_value)
    for i, m in enumerate(mels):
        batch[i, :, :m.shape[1]] = m
    out = {"mels": batch, "mel_lengths": lengths}
    if sequences is not None:
        if len(sequences) != len(mels):
            raise ValueError(f"got {len(mels)} mels but {len(sequences)} sequences")
        token_lengths = torch.tensor([len(s) for s in sequences])
        tokens = torch.zeros(len(mels), int(token_lengths.max()), dtype=torch.long)
        for i, s in enumerate(sequences):
            tokens[i, :len(s)] = torch.as_tensor(s, dtype=torch.long)
        out.update(tokens=tokens, token_lengths=token_lengths)
    return out


# ---------------------------------------------------------------- model

@dataclass(frozen=True)
class AsrConfig:
    """Sizes. Defaults: a CPU-sized model (0.5 M parameters); Whisper tiny in comments.
    vocab_size 0 in a recipe: `train_asr` fills it from the tokenizer."""
    vocab_size: int = 0
    n_mels: int = 80                # 80
    dim: int = 96                   # 384
    heads: int = 4                  # 6
    encoder_depth: int = 2          # 4
    decoder_depth: int = 2          # 4
    mlp_ratio: float = 2.0          # 4 (MLP hidden = int(dim * mlp_ratio))
    max_tokens: int = 64            # 448 (decoder positions)
    dropout: float = 0.0
    ctc_head: bool = True           # Whisper has none: a CTC head on the encoder (joint training)

    def __post_init__(self):
        check_positive_int(self.vocab_size, "vocab_size", allow_zero=True)
        for name in ("n_mels", "dim", "heads", "encoder_depth", "decoder_depth", "max_tokens"):
            check_positive_int(getattr(self, name), name)
        if self.dim % self.heads:
            raise ValueError(f"heads must divide dim; got dim={self.dim}, heads={self.heads}")
        if not self.mlp_ratio > 0:
            raise ValueError(f"mlp_ratio must be positive; got {self.mlp_ratio!r}")


def _need_vocab(config: AsrConfig) -> None:
    if config.vocab_size < 1:
        raise ValueError("config.vocab_size is 0: fill it from the tokenizer, "
                         "dataclasses.replace(config, vocab_size=len(tokenizer))")


class DecoderBlock(nn.Module):
    """x = x + CausalSelfAttn(LN(x)); x = x + CrossAttn(LN(x), audio); x = x + MLP(LN(x))."""

    def __init__(self, config: AsrConfig):
        super().__init__()
        self.ln1, self.ln2, self.ln3 = (nn.LayerNorm(config.dim) for _ in range(3))
        self.self_attn = MultiHeadAttention(config.dim, config.heads, dropout=config.dropout)
        self.cross_attn = MultiHeadAttention(config.dim, config.heads, dropout=config.dropout)
        self.mlp = MLP(config.dim, config.mlp_ratio)

    def forward(self, x: Tensor, audio: Tensor | None, audio_pad: Tensor | None,
                cache: tuple[KVCache, KVCache] | None = None, return_attention: bool = False):
        """x (B, L, D) -> (B, L, D); with return_attention also the cross-attention weights
        (B, H, L, S): where each token looks in the audio (day 18's word timestamps)."""
        self_cache, cross_cache = cache if cache is not None else (None, None)
        x = x + self.self_attn(self.ln1(x), is_causal=True, cache=self_cache)       # (B, L, D)
        attended = self.cross_attn(self.ln2(x), context=audio, key_padding_mask=audio_pad,
                                   cache=cross_cache, return_weights=return_attention)
        attended, weights = attended if return_attention else (attended, None)
        x = x + attended                                                           # (B, L, D)
        x = x + self.mlp(self.ln3(x))
        return (x, weights) if return_attention else x


class ConvStem(nn.Module):
    """(B, n_mels, T) -> (B, ceil(T / 2), D): conv 3 + GELU, conv 3 stride 2 + GELU."""

    def __init__(self, n_mels: int, dim: int):
        super().__init__()
        self.conv1 = nn.Conv1d(n_mels, dim, 3, padding=1)
        self.conv2 = nn.Conv1d(dim, dim, 3, stride=2, padding=1)

    def forward(self, mels: Tensor, lengths: Tensor | None = None) -> Tensor:
        """lengths (B,): frames after each item's end are zeroed between the convs, so an
        item gives the same features alone as padded inside a batch."""
        x = F.gelu(self.conv1(mels))                                    # (B, D, T)
        if lengths is not None:
            x = x * length_mask(lengths, x.shape[-1])[:, None, :].to(x)  # zero the padding
        x = F.gelu(self.conv2(x))                                       # (B, D, ceil(T/2))
        return x.transpose(1, 2)                                        # (B, S, D)

    @staticmethod
    def output_lengths(lengths: Tensor) -> Tensor:
        """Frames after the stride-2 conv: floor((T + 2 - 3) / 2) + 1 = ceil(T / 2)."""
        return (lengths + 1) // 2


class AudioEncoder(nn.Module):
    """Log-mel (B, n_mels, T) + lengths (B,) -> audio features (B, S, D) and their padding
    mask (B, S) (True = padding), S = ceil(T / 2)."""

    def __init__(self, config: AsrConfig):
        super().__init__()
        self.stem = ConvStem(config.n_mels, config.dim)
        self.blocks = nn.ModuleList(EncoderBlock(config.dim, config.heads, config.mlp_ratio, config.dropout)
                                    for _ in range(config.encoder_depth))
        self.ln_post = nn.LayerNorm(config.dim)
        self.n_mels, self.dim = config.n_mels, config.dim

    def forward(self, mels: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        check_shape(mels, "mels", "B n_mels T", n_mels=self.n_mels)
        if lengths is not None:
            check_shape(lengths, "lengths", "B", B=mels.shape[0])
        x = self.stem(mels, lengths)                                    # (B, S, D)
        positions = sincos_1d(torch.arange(x.shape[1]), self.dim).to(x)
        x = x + positions                                               # (B, S, D)
        pad = None
        if lengths is not None:
            pad = ~length_mask(ConvStem.output_lengths(lengths).to(x.device), x.shape[1])  # (B, S)
        for block in self.blocks:
            x = block(x, pad)
        return self.ln_post(x), pad


class TextDecoder(nn.Module):
    """Tokens (B, L) + audio features -> logits (B, L, V). With `caches` (one pair of
    KVCache per block, from `new_caches`), the tokens continue a prefix of `len(cache)`
    positions that are already cached: pass only the new tokens."""

    def __init__(self, config: AsrConfig):
        super().__init__()
        self.embed = nn.Embedding(config.vocab_size, config.dim)
        self.positions = nn.Parameter(torch.randn(config.max_tokens, config.dim) * 0.02)
        self.blocks = nn.ModuleList(DecoderBlock(config) for _ in range(config.decoder_depth))
        self.ln = nn.LayerNorm(config.dim)
        self.max_tokens = config.max_tokens
        # GPT-2 style: small embeddings, so the tied output layer starts with small logits.
        nn.init.normal_(self.embed.weight, std=0.02)

    def new_caches(self) -> list[tuple[KVCache, KVCache]]:
        return [(KVCache(), KVCache()) for _ in self.blocks]

    def forward(self, tokens: Tensor, audio: Tensor, audio_pad: Tensor | None = None,
                caches: list[tuple[KVCache, KVCache]] | None = None, return_attention: bool = False):
        """Logits (B, L, V); with return_attention also every block's cross-attention
        weights, stacked: (blocks, B, H, L, S)."""
        offset = 0 if caches is None else len(caches[0][0])             # positions already cached
        if tokens.ndim != 2 or offset + tokens.shape[1] > self.max_tokens:
            raise ValueError(f"tokens must be (B, L) with offset + L <= {self.max_tokens}; got "
                             f"{tuple(tokens.shape)} at offset {offset}")
        x = self.embed(tokens) + self.positions[offset:offset + tokens.shape[1]]  # (B, L, D)
        weights = []
        for i, block in enumerate(self.blocks):
            x = block(x, audio, audio_pad, None if caches is None else caches[i], return_attention)
            if return_attention:
                x, w = x
                weights.append(w)
        logits = self.ln(x) @ self.embed.weight.T                      # (B, L, V)
        return (logits, torch.stack(weights)) if return_attention else logits


class WhisperASR(nn.Module):
    """The encoder-decoder. forward = teacher forcing: logits (B, N, V) for tokens (B, N)."""

    def __init__(self, config: AsrConfig):
        super().__init__()
        _need_vocab(config)
        self.config = config
        self.encoder = AudioEncoder(config)
        self.decoder = TextDecoder(config)
        self.ctc = nn.Linear(config.dim, config.vocab_size + 1) if config.ctc_head else None

    def forward(self, mels: Tensor, mel_lengths: Tensor | None, tokens: Tensor,
                return_ctc: bool = False):
        """Logits (B, N, V); with return_ctc also the CTC log-probabilities (B, S, V + 1)."""
        audio, pad = self.encoder(mels, mel_lengths)                    # (B, S, D), (B, S)
        logits = self.decoder(tokens, audio, pad)                       # (B, N, V)
        if not return_ctc:
            return logits
        if self.ctc is None:
            raise ValueError("this model has no CTC head (AsrConfig.ctc_head=False)")
        return logits, self.ctc(audio).log_softmax(-1)


def asr_loss(model: WhisperASR, batch: dict[str, Tensor], ctc_weight: float = 0.0,
             prompt_length: int = 3) -> Tensor:
    """Next-token cross-entropy on the tokens after the prompt, plus the language token;
    with ctc_weight w > 0: (1 - w) CE + w CTC (the encoder's CTC head on the transcript).

    tokens (B, N) = [SOT, lang, task, text..., EOT, pad...]; the target of position i is
    token i + 1. Targets of the task token (given by the user) and of padding are skipped.
    The CTC term (Kim, Hori & Watanabe, 2017) makes the encoder's frames say which word
    they hold, which teaches cross-attention where to look far sooner (batch["labels"]:
    transcript ids + 1, blank 0, even for a translation target).
    """
    tokens, lengths = batch["tokens"], batch["token_lengths"]
    out = model(batch["mels"], batch["mel_lengths"], tokens[:, :-1], return_ctc=ctc_weight > 0)
    logits, ctc_log_probs = out if ctc_weight > 0 else (out, None)      # (B, N-1, V)
    targets = tokens[:, 1:].clone()                                     # (B, N-1)
    positions = torch.arange(1, tokens.shape[1], device=tokens.device)
    targets[positions[None] >= lengths[:, None]] = IGNORE               # padding
    targets[:, prompt_length - 2] = IGNORE                              # the task token
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                           ignore_index=IGNORE)
    if ctc_weight > 0:
        frames = ConvStem.output_lengths(batch["mel_lengths"])
        ctc = F.ctc_loss(ctc_log_probs.transpose(0, 1), batch["labels"], frames.cpu(),
                         batch["label_lengths"].cpu(), blank=0, zero_infinity=True)
        loss = (1 - ctc_weight) * loss + ctc_weight * ctc
    return loss


# ---------------------------------------------------------------- decoding

def _prompt_batch(prompt: Sequence[int] | Tensor, batch_size: int, device) -> Tensor:
    prompt = torch.as_tensor(prompt, dtype=torch.long, device=device)
    if prompt.ndim == 1:
        prompt = prompt[None].expand(batch_size, -1)
    if prompt.ndim != 2 or prompt.shape[0] != batch_size or prompt.shape[1] == 0:
        raise ValueError(f"prompt must be (P,) or (B, P) = ({batch_size}, P) token ids; got "
                         f"{tuple(prompt.shape)}")
    return prompt


@torch.no_grad()
def greedy_decode(model: WhisperASR, mels: Tensor, mel_lengths: Tensor | None,
                  prompt: Sequence[int] | Tensor, max_new_tokens: int = 16, eot: int = 0,
                  use_cache: bool = True) -> list[list[int]]:
    """Argmax decoding: y_t = argmax_v p(v | y_<t, audio), until <|endoftext|>.

    With the cache each step feeds only the last token (the keys and values of the
    earlier ones are cached); without it, the whole prefix is recomputed every step.
    Both give the same tokens. prompt: (P,) or per item (B, P). Returns, per item, the
    generated ids after the prompt, <|endoftext|> excluded.
    """
    model.eval()
    audio, pad = model.encoder(mels, mel_lengths)                       # (B, S, D)
    tokens = _prompt_batch(prompt, mels.shape[0], mels.device)          # (B, P)
    max_new_tokens = min(max_new_tokens, model.config.max_tokens - tokens.shape[1])
    caches = model.decoder.new_caches() if use_cache else None
    done = torch.zeros(mels.shape[0], dtype=torch.bool, device=mels.device)
    step_input = tokens
    for _ in range(max_new_tokens):
        if use_cache:
            logits = model.decoder(step_input, audio, pad, caches)      # (B, L_new, V)
        else:
            logits = model.decoder(tokens, audio, pad)                  # (B, L, V)
        next_token = logits[:, -1].argmax(-1)                           # (B,)
        next_token = torch.where(done, torch.full_like(next_token, eot), next_token)
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)
        step_input = next_token[:, None]                                # (B, 1)
        done |= next_token == eot
        if done.all():
            break
    prompt_length = _prompt_batch(prompt, mels.shape[0], mels.device).shape[1]
    out = []
    for row in tokens[:, prompt_length:].tolist():
        out.append(row[:row.index(eot)] if eot in row else row)
    return out


def _reorder(caches: list[tuple[KVCache, KVCache]], index: Tensor) -> None:
    """Keep the self-attention caches of the surviving beams (rows `index`)."""
    for self_cache, _ in caches:
        self_cache.k, self_cache.v = self_cache.k[index], self_cache.v[index]


@torch.no_grad()
def beam_search(model: WhisperASR, mel: Tensor, prompt: Sequence[int], beam_size: int = 4,
                max_new_tokens: int = 16, eot: int = 0, length_penalty: float = 1.0) -> list[int]:
    """Beam search for one clip (n_mels, T): keep the `beam_size` best prefixes by total
    log-probability; a finished hypothesis (ended by <|endoftext|>) is scored by
    sum log p / length ** length_penalty. Returns the best ids after the prompt.
    """
    if mel.ndim != 2:
        raise ValueError(f"mel must be one clip (n_mels, T); got {tuple(mel.shape)}")
    if not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"beam_size must be a positive int; got {beam_size!r}")
    model.eval()
    audio, _ = model.encoder(mel[None], None)                           # (1, S, D)
    audio = audio.expand(beam_size, -1, -1)                             # (K, S, D)
    prompt = list(prompt)
    max_new_tokens = min(max_new_tokens, model.config.max_tokens - len(prompt))
    caches = model.decoder.new_caches()
    # Start with one live beam (the others get -inf so that they are never chosen).
    beams = [list(prompt) for _ in range(beam_size)]
    scores = torch.full((beam_size,), float("-inf"), device=mel.device)
    scores[0] = 0.0
    finished: list[tuple[float, list[int]]] = []
    step_input = torch.tensor(beams, device=mel.device)                 # (K, P)
    for _ in range(max_new_tokens):
        logits = model.decoder(step_input, audio, None, caches)[:, -1]  # (K, V)
        logp = scores[:, None] + logits.log_softmax(-1)                 # (K, V)
        top, flat = logp.flatten().topk(2 * beam_size)                  # candidates
        V = logits.shape[-1]
        keep_rows, keep_tokens, keep_scores = [], [], []
        for score, index in zip(top.tolist(), flat.tolist()):
            row, token = divmod(index, V)
            if score == float("-inf"):
                break
            if token == eot:
                n = len(beams[row]) - len(prompt) + 1
                finished.append((score / n ** length_penalty, beams[row][len(prompt):]))
            else:
                keep_rows.append(row)
                keep_tokens.append(token)
                keep_scores.append(score)
            if len(keep_rows) == beam_size:
                break
        if len(finished) >= beam_size or not keep_rows:
            break
        while len(keep_rows) < beam_size:                               # pad with dead beams
            keep_rows.append(keep_rows[0])
            keep_tokens.append(keep_tokens[0])
            keep_scores.append(float("-inf"))
        index = torch.tensor(keep_rows, device=mel.device)
        _reorder(caches, index)
        beams = [beams[r] + [t] for r, t in zip(keep_rows, keep_tokens)]
        scores = torch.tensor(keep_scores, device=mel.device)
        step_input = torch.tensor(keep_tokens, device=mel.device)[:, None]  # (K, 1)
    if not finished:                                                    # ran out of length
        best = int(scores.argmax())
        return beams[best][len(prompt):]
    return max(finished, key=lambda f: f[0])[1]


@torch.no_grad()
def detect_language(model: WhisperASR, mels: Tensor, mel_lengths: Tensor | None,
                    tokenizer: Tokenizer) -> tuple[list[str], Tensor]:
    """p(language | audio) from the token after <|startoftranscript|>, restricted to the
    language tokens (as Whisper does). Returns (codes, probabilities (B, n_languages))."""
    model.eval()
    audio, pad = model.encoder(mels, mel_lengths)
    sot = torch.full((mels.shape[0], 1), tokenizer.sot, device=mels.device)
    logits = model.decoder(sot, audio, pad)[:, -1]                      # (B, V)
    probs = logits[:, tokenizer.language_ids].softmax(-1)               # (B, n_languages)
    return [LANGUAGES[i] for i in probs.argmax(-1).tolist()], probs
