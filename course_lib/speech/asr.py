"""Whisper-style speech recognition (Radford et al., 2022), small: log-mel -> text tokens.

    tok = Tokenizer.from_texts(["three seven one", "drei sieben eins"])
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
- the task is told by a prompt of special tokens, as in Whisper:

      <|startoftranscript|> <|de|> <|translate|>  three seven one <|endoftext|>

  The language token is also what the model *predicts* after <|startoftranscript|>:
  language identification for free (`detect_language`).

The loss is cross-entropy on the text tokens and <|endoftext|> (the prompt is given,
not predicted, except the language token, which is predicted so that it can be
detected), plus, unlike Whisper, a weighted CTC loss on a linear head over the encoder
frames (joint CTC-attention training, Kim, Hori & Watanabe, 2017), which makes a small
model align within a CPU budget. Decoding: `greedy_decode` (with or without the cache: same tokens) and
`beam_search`. The baseline: `CTCModel`, the same encoder with a linear head trained
with CTC (Graves et al., 2006) and decoded by `ctc_greedy` (best path: collapse
repeats, drop blanks). Scoring: `wer` (jiwer).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.audio.dsp import log_mel_whisper
from course_lib.nn.attention import KVCache, MultiHeadAttention, length_mask
from course_lib.nn.embeddings import sincos_1d
from course_lib.runtime import settings_key

__all__ = ["SOT", "EOT", "TRANSCRIBE", "TRANSLATE", "LANGUAGE_TOKENS", "SPECIAL_TOKENS",
           "Tokenizer", "AsrConfig", "ConvStem", "AudioEncoder", "TextDecoder", "WhisperASR",
           "features", "collate_features", "asr_loss", "greedy_decode", "beam_search",
           "detect_language", "CTCModel", "ctc_loss", "ctc_greedy", "wer", "DEFAULT_DATA",
           "load_data", "tokenizer_for", "AsrRecipe", "TrainedASR", "train_asr", "finetune_asr",
           "CTCRecipe", "TrainedCTC", "train_ctc"]

SOT = "<|startoftranscript|>"
EOT = "<|endoftext|>"
TRANSCRIBE = "<|transcribe|>"
TRANSLATE = "<|translate|>"
LANGUAGES = ("en", "de", "es", "fr")
LANGUAGE_TOKENS = tuple(f"<|{lang}|>" for lang in LANGUAGES)
SPECIAL_TOKENS = (EOT, SOT, *LANGUAGE_TOKENS, TRANSCRIBE, TRANSLATE)
TASKS = ("transcribe", "translate")
IGNORE = -100                      # target id that the loss skips


# ---------------------------------------------------------------- tokenizer

@dataclass(frozen=True)
class Tokenizer:
    """Text <-> ids over words (or characters), after Whisper's special tokens.

    Ids 0 .. 7 are SPECIAL_TOKENS (0 = <|endoftext|>, 1 = <|startoftranscript|>, then
    <|en|> <|de|> <|es|> <|fr|> <|transcribe|> <|translate|>); the vocabulary follows.
    level "word": a token is a space-separated word; "char": a character (spaces too).
    """
    vocabulary: tuple[str, ...]
    level: str = "word"

    def __post_init__(self):
        if self.level not in ("word", "char"):
            raise ValueError(f"level must be 'word' or 'char'; got {self.level!r}")
        if len(set(self.vocabulary)) != len(self.vocabulary):
            raise ValueError("vocabulary must hold distinct tokens")
        clash = set(self.vocabulary) & set(SPECIAL_TOKENS)
        if clash:
            raise ValueError(f"vocabulary must not contain special tokens; got {sorted(clash)}")

    @classmethod
    def from_texts(cls, texts: Sequence[str], level: str = "word") -> "Tokenizer":
        """The sorted set of words (or characters) of `texts`: deterministic."""
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not one string")
        pieces = (t for text in texts for t in (text.split() if level == "word" else text))
        return cls(tuple(sorted(set(pieces))), level)

    def __len__(self) -> int:
        return len(SPECIAL_TOKENS) + len(self.vocabulary)

    @property
    def _index(self) -> dict[str, int]:
        index = self.__dict__.get("_cached")
        if index is None:
            index = {t: i for i, t in enumerate((*SPECIAL_TOKENS, *self.vocabulary))}
            object.__setattr__(self, "_cached", index)
        return index

    def token_id(self, token: str) -> int:
        if token not in self._index:
            raise ValueError(f"unknown token {token!r}")
        return self._index[token]

    @property
    def sot(self) -> int:
        return self._index[SOT]

    @property
    def eot(self) -> int:
        return self._index[EOT]

    @property
    def language_ids(self) -> list[int]:
        return [self._index[t] for t in LANGUAGE_TOKENS]

    def encode(self, text: str) -> list[int]:
        """Text (no special tokens) -> ids."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str; got {type(text).__name__}")
        pieces = text.split() if self.level == "word" else list(text)
        unknown = sorted({p for p in pieces if p not in self._index or p in SPECIAL_TOKENS})
        if unknown:
            raise ValueError(f"tokens not in the vocabulary: {unknown}")
        return [self._index[p] for p in pieces]

    def decode(self, ids: Sequence[int]) -> str:
        """Ids -> text: special tokens are skipped, decoding stops at <|endoftext|>."""
        symbols = (*SPECIAL_TOKENS, *self.vocabulary)
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(symbols):
                raise ValueError(f"id {i} out of range for a vocabulary of {len(symbols)}")
            if i == self.eot:
                break
            if i >= len(SPECIAL_TOKENS):
                out.append(symbols[i])
        return (" " if self.level == "word" else "").join(out)

    def prompt(self, language: str | None = None, task: str = "transcribe") -> list[int]:
        """[<|startoftranscript|>, <|lang|>, <|task|>], or just [SOT] when language is None."""
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}; got {task!r}")
        if language is None:
            return [self.sot]
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {LANGUAGES} or None; got {language!r}")
        return [self.sot, self._index[f"<|{language}|>"], self._index[f"<|{task}|>"]]

    def sequence(self, text: str, language: str, task: str = "transcribe") -> list[int]:
        """The full training sequence: prompt + text + <|endoftext|>."""
        return [*self.prompt(language, task), *self.encode(text), self.eot]


# ---------------------------------------------------------------- features and batches

def features(wave16k: Tensor) -> Tensor:
    """Whisper log-mel features of one clip: (T,) at 16 kHz -> (80, T // 160)."""
    if not isinstance(wave16k, Tensor) or wave16k.ndim != 1:
        raise ValueError(f"wave16k must be a 1-D tensor (T,) at 16 kHz; got "
                         f"{tuple(wave16k.shape) if isinstance(wave16k, Tensor) else type(wave16k).__name__}")
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

@dataclass
class AsrConfig:
    """Sizes. Defaults: a CPU-sized model (0.5 M parameters); Whisper tiny in comments."""
    vocab_size: int
    n_mels: int = 80                # 80
    dim: int = 96                   # 384
    heads: int = 4                  # 6
    encoder_layers: int = 2         # 4
    decoder_layers: int = 2         # 4
    mlp_ratio: int = 2              # 4
    max_tokens: int = 64            # 448 (decoder positions)
    dropout: float = 0.0
    ctc_head: bool = True           # Whisper has none: a CTC head on the encoder (joint training)


class MLP(nn.Sequential):
    def __init__(self, dim: int, ratio: int):
        super().__init__(nn.Linear(dim, ratio * dim), nn.GELU(), nn.Linear(ratio * dim, dim))


class EncoderBlock(nn.Module):
    """x = x + SelfAttn(LN(x)); x = x + MLP(LN(x)), padding frames masked out of the keys."""

    def __init__(self, cfg: AsrConfig):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.dim), nn.LayerNorm(cfg.dim)
        self.attn = MultiHeadAttention(cfg.dim, cfg.heads, dropout=cfg.dropout)
        self.mlp = MLP(cfg.dim, cfg.mlp_ratio)

    def forward(self, x: Tensor, pad: Tensor | None) -> Tensor:
        x = x + self.attn(self.ln1(x), key_padding_mask=pad)            # (B, S, D)
        return x + self.mlp(self.ln2(x))


class DecoderBlock(nn.Module):
    """x = x + CausalSelfAttn(LN(x)); x = x + CrossAttn(LN(x), audio); x = x + MLP(LN(x))."""

    def __init__(self, cfg: AsrConfig):
        super().__init__()
        self.ln1, self.ln2, self.ln3 = (nn.LayerNorm(cfg.dim) for _ in range(3))
        self.self_attn = MultiHeadAttention(cfg.dim, cfg.heads, dropout=cfg.dropout)
        self.cross_attn = MultiHeadAttention(cfg.dim, cfg.heads, dropout=cfg.dropout)
        self.mlp = MLP(cfg.dim, cfg.mlp_ratio)

    def forward(self, x: Tensor, audio: Tensor | None, audio_pad: Tensor | None,
                cache: tuple[KVCache, KVCache] | None = None) -> Tensor:
        self_cache, cross_cache = cache if cache is not None else (None, None)
        x = x + self.self_attn(self.ln1(x), is_causal=True, cache=self_cache)       # (B, L, D)
        x = x + self.cross_attn(self.ln2(x), context=audio, key_padding_mask=audio_pad,
                                cache=cross_cache)                                 # (B, L, D)
        return x + self.mlp(self.ln3(x))


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

    def __init__(self, cfg: AsrConfig):
        super().__init__()
        self.stem = ConvStem(cfg.n_mels, cfg.dim)
        self.blocks = nn.ModuleList(EncoderBlock(cfg) for _ in range(cfg.encoder_layers))
        self.ln_post = nn.LayerNorm(cfg.dim)
        self.n_mels, self.dim = cfg.n_mels, cfg.dim

    def forward(self, mels: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        if not isinstance(mels, Tensor) or mels.ndim != 3 or mels.shape[1] != self.n_mels:
            raise ValueError(f"mels must be (B, {self.n_mels}, T); got "
                             f"{tuple(mels.shape) if isinstance(mels, Tensor) else type(mels).__name__}")
        if lengths is not None and (not isinstance(lengths, Tensor) or lengths.shape != (mels.shape[0],)):
            raise ValueError(f"lengths must be a (B,) = ({mels.shape[0]},) tensor of frame counts; got "
                             f"{tuple(lengths.shape) if isinstance(lengths, Tensor) else lengths!r}")
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

    def __init__(self, cfg: AsrConfig):
        super().__init__()
        self.embed = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.positions = nn.Parameter(torch.randn(cfg.max_tokens, cfg.dim) * 0.02)
        self.blocks = nn.ModuleList(DecoderBlock(cfg) for _ in range(cfg.decoder_layers))
        self.ln = nn.LayerNorm(cfg.dim)
        self.max_tokens = cfg.max_tokens
        # GPT-2 style: small embeddings, so the tied output layer starts with small logits.
        nn.init.normal_(self.embed.weight, std=0.02)

    def new_caches(self) -> list[tuple[KVCache, KVCache]]:
        return [(KVCache(), KVCache()) for _ in self.blocks]

    def forward(self, tokens: Tensor, audio: Tensor, audio_pad: Tensor | None = None,
                caches: list[tuple[KVCache, KVCache]] | None = None) -> Tensor:
        offset = 0 if caches is None else len(caches[0][0])             # positions already cached
        if tokens.ndim != 2 or offset + tokens.shape[1] > self.max_tokens:
            raise ValueError(f"tokens must be (B, L) with offset + L <= {self.max_tokens}; got "
                             f"{tuple(tokens.shape)} at offset {offset}")
        x = self.embed(tokens) + self.positions[offset:offset + tokens.shape[1]]  # (B, L, D)
        for i, block in enumerate(self.blocks):
            x = block(x, audio, audio_pad, None if caches is None else caches[i])
        return self.ln(x) @ self.embed.weight.T                        # (B, L, V)


class WhisperASR(nn.Module):
    """The encoder-decoder. forward = teacher forcing: logits (B, N, V) for tokens (B, N)."""

    def __init__(self, cfg: AsrConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = AudioEncoder(cfg)
        self.decoder = TextDecoder(cfg)
        self.ctc = nn.Linear(cfg.dim, cfg.vocab_size + 1) if cfg.ctc_head else None

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
    max_new_tokens = min(max_new_tokens, model.cfg.max_tokens - tokens.shape[1])
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
    max_new_tokens = min(max_new_tokens, model.cfg.max_tokens - len(prompt))
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


# ---------------------------------------------------------------- CTC baseline

class CTCModel(nn.Module):
    """The same audio encoder + a linear layer to V + 1 classes (class 0 = blank).

    CTC sums p(path | audio) over every frame-level path (S labels from {blank} ∪ vocab)
    that collapses to the transcript; no decoder, no alignment to learn, but each
    frame's label is predicted independently of the others (no language model inside).
    """

    def __init__(self, cfg: AsrConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = AudioEncoder(cfg)
        self.head = nn.Linear(cfg.dim, cfg.vocab_size + 1)

    def forward(self, mels: Tensor, mel_lengths: Tensor | None) -> tuple[Tensor, Tensor]:
        """Returns log-probabilities (B, S, V + 1) and frame counts (B,)."""
        audio, _ = self.encoder(mels, mel_lengths)                      # (B, S, D)
        lengths = ConvStem.output_lengths(mel_lengths if mel_lengths is not None else
                                          torch.full((mels.shape[0],), mels.shape[-1]))
        return self.head(audio).log_softmax(-1), lengths


def ctc_loss(model: CTCModel, batch: dict[str, Tensor]) -> Tensor:
    """F.ctc_loss with blank 0; batch['labels'] (B, N) holds ids >= 1 (vocab id + 1)."""
    log_probs, lengths = model(batch["mels"], batch["mel_lengths"])
    return F.ctc_loss(log_probs.transpose(0, 1), batch["labels"], lengths.cpu(),
                      batch["label_lengths"].cpu(), blank=0, zero_infinity=True)


def ctc_greedy(log_probs: Tensor, lengths: Tensor | None = None, blank: int = 0) -> list[list[int]]:
    """Best-path decoding: per frame argmax, then collapse repeats, then drop blanks.

    log_probs: (B, S, C) (or (S, C)); lengths: (B,) frames to read (default all).
    "a a _ a b b" -> "a _ a b" -> "a a b": a blank between repeats keeps them apart.
    """
    if log_probs.ndim == 2:
        log_probs = log_probs[None]
    if log_probs.ndim != 3:
        raise ValueError(f"log_probs must be (B, S, C) or (S, C); got {tuple(log_probs.shape)}")
    best = log_probs.argmax(-1)                                         # (B, S)
    out = []
    for i, row in enumerate(best.tolist()):
        n = len(row) if lengths is None else int(lengths[i])
        labels, previous = [], None
        for label in row[:n]:
            if label != previous and label != blank:
                labels.append(label)
            previous = label
        out.append(labels)
    return out


# ---------------------------------------------------------------- scoring

def wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus word error rate with jiwer: (S + D + I) / reference words."""
    import jiwer

    references, hypotheses = list(references), list(hypotheses)
    if len(references) != len(hypotheses) or not references:
        raise ValueError(f"need equally many references and hypotheses (> 0); got "
                         f"{len(references)} and {len(hypotheses)}")
    if not all(r.strip() for r in references):
        raise ValueError("every reference must contain at least one word")
    return float(jiwer.wer(references, hypotheses))


# ---------------------------------------------------------------- load-or-train

# Training data: (language, voice, kind, n, tasks); translation targets are English.
DEFAULT_DATA = (
    ("en", "en-us", "digits", 400, ("transcribe",)),
    ("en", "en-us+f3", "digits", 400, ("transcribe",)),
    ("de", "de", "digits", 120, ("transcribe", "translate")),
    ("es", "es", "digits", 120, ("transcribe", "translate")),
    ("fr", "fr", "digits", 120, ("transcribe", "translate")),
    ("en", "en-us", "phrases", 0, ("transcribe",)),
    ("de", "de", "phrases", 0, ("transcribe", "translate")),
    ("es", "es", "phrases", 0, ("transcribe", "translate")),
    ("fr", "fr", "phrases", 0, ("transcribe", "translate")),
)


def _recipe_key(recipe) -> str:
    return settings_key(recipe)


@dataclass
class AsrRecipe:
    """What `train_asr` trains: the clip sets, model sizes and optimisation."""
    data: tuple = DEFAULT_DATA
    steps: int = 400
    batch_size: int = 32
    lr: float = 2e-3
    warmup: int = 50
    ctc_weight: float = 0.3                         # 0: pure attention training, as Whisper
    seed: int = 0
    config: dict = field(default_factory=dict)     # AsrConfig fields besides vocab_size

    def key(self) -> str:
        """8 hex digits naming these settings (part of the checkpoint's file name)."""
        return _recipe_key(self)


def _check_data(data: Sequence[tuple]) -> None:
    for entry in data:
        if (not isinstance(entry, (tuple, list)) or len(entry) != 5 or isinstance(entry[4], str)
                or not set(entry[4]) <= set(TASKS)):
            raise ValueError(f"each data entry must be (language, voice, kind, n, tasks) with tasks "
                             f"a tuple from {TASKS}, e.g. ('de', 'de', 'digits', 120, ('transcribe',)); "
                             f"got {entry!r}")


def load_data(data: Sequence[tuple], progress: bool = True) -> list:
    """The clips of a recipe's data sets (`data.multilingual.load_clips`)."""
    from course_lib.data.multilingual import load_clips
    _check_data(data)
    clips = []
    for language, voice, kind, n, _ in data:
        clips += load_clips(language, voice, kind, n or 1, progress=progress)
    return clips


def tokenizer_for(data: Sequence[tuple]) -> Tokenizer:
    """Every word of every transcript and translation the data sets can hold (all splits)."""
    from course_lib.data.multilingual import digit_sentences, phrase_sentences
    _check_data(data)
    texts = []
    for language, _, kind, n, _ in data:
        pairs = digit_sentences(language, n) if kind == "digits" else phrase_sentences(language)
        texts += [t for pair in pairs for t in pair]
    return Tokenizer.from_texts(texts)


def _examples(clips, data, tokenizer: Tokenizer, split: str) -> list[tuple[Tensor, list[int], list[int]]]:
    """(features, token sequence, CTC labels) triples: one per clip of `split` and task of
    its data set. CTC labels are the transcript's ids + 1 (0 is the blank)."""
    tasks = {(lang, voice, kind): t for lang, voice, kind, _, t in data}
    out = []
    for c in clips:
        if c.split != split:
            continue
        mel = features(c.wave)
        labels = [i + 1 for i in tokenizer.encode(c.text)]
        for task in tasks[(c.language, c.voice, c.kind)]:
            target = c.english if task == "translate" else c.text
            out.append((mel, tokenizer.sequence(target, c.language, task), labels))
    return out


def _batches(examples, batch_size: int, seed: int):
    """data(step) for `train.fit`: a random batch seeded by the step (exact resumption)."""
    def data(step: int) -> dict[str, Tensor]:
        rng = random.Random(seed * 1_000_003 + step)
        chosen = rng.sample(examples, min(batch_size, len(examples)))
        batch = collate_features([m for m, _, _ in chosen], [s for _, s, _ in chosen])
        labels = collate_features([m for m, _, _ in chosen], [y for _, _, y in chosen])
        batch["labels"], batch["label_lengths"] = labels["tokens"], labels["token_lengths"]
        return batch
    return data


@dataclass
class TrainedASR:
    """model (eval mode), tokenizer, the loss of every step, and the recipe."""
    model: WhisperASR
    tokenizer: Tokenizer
    history: list[float]
    recipe: AsrRecipe

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def transcribe(self, waves: Sequence[Tensor], language: str | None = "en",
                   task: str = "transcribe", beam_size: int = 1, batch_size: int = 64) -> list[str]:
        """Texts for (T,) waves at 16 kHz. language None: detect it first (per clip)."""
        mels = [features(w) for w in waves]
        languages = ([language] * len(mels) if language is not None else
                     self.detect_language(waves))
        out = []
        for start in range(0, len(mels), batch_size):
            chunk = mels[start:start + batch_size]
            prompts = torch.tensor([self.tokenizer.prompt(lang, task) for lang in
                                    languages[start:start + batch_size]])
            if beam_size > 1:
                ids = [beam_search(self.model, m.to(self.device), p.tolist(), beam_size,
                                   eot=self.tokenizer.eot) for m, p in zip(chunk, prompts)]
            else:
                batch = collate_features(chunk)
                ids = greedy_decode(self.model, batch["mels"].to(self.device),
                                    batch["mel_lengths"].to(self.device), prompts.to(self.device),
                                    eot=self.tokenizer.eot)
            out += [self.tokenizer.decode(i) for i in ids]
        return out

    def detect_language(self, waves: Sequence[Tensor], batch_size: int = 64) -> list[str]:
        """The most likely language code of each (T,) wave."""
        out = []
        for start in range(0, len(waves), batch_size):
            batch = collate_features([features(w) for w in waves[start:start + batch_size]])
            codes, _ = detect_language(self.model, batch["mels"].to(self.device),
                                       batch["mel_lengths"].to(self.device), self.tokenizer)
            out += codes
        return out


def train_asr(recipe: AsrRecipe | None = None, checkpoint: str | None = "asr",
              device: torch.device | None = None, progress: bool = True) -> TrainedASR:
    """Train the Whisper-style model on the recipe's clips with `train.fit`, or load it.

    Batches: `batch_size` random (clip, task) examples of the train split per step
    (seeded by the step). Loss: `asr_loss`. AdamW with linear warm-up.
    Checkpoint: artifacts/checkpoints/{checkpoint}_{recipe.key()}.pt; None: no saving.
    """
    from course_lib.runtime import get_device
    from course_lib.train import fit, linear_warmup

    recipe = recipe or AsrRecipe()
    device = device or get_device()
    tokenizer = tokenizer_for(recipe.data)
    examples = _examples(load_data(recipe.data, progress), recipe.data, tokenizer, "train")
    torch.manual_seed(recipe.seed)
    config = AsrConfig(vocab_size=len(tokenizer), **{"ctc_head": recipe.ctc_weight > 0, **recipe.config})
    model = WhisperASR(config).to(device)
    history = fit(model, lambda m, b: asr_loss(m, b, recipe.ctc_weight),
                  _batches(examples, recipe.batch_size, recipe.seed),
                  steps=recipe.steps, lr=recipe.lr, device=device,
                  scheduler=linear_warmup(recipe.warmup),
                  checkpoint=None if checkpoint is None else f"{checkpoint}_{recipe.key()}",
                  checkpoint_every=max(recipe.steps, 1), desc="asr", progress=progress)
    model.eval()
    return TrainedASR(model, tokenizer, history, recipe)


def finetune_asr(trained: TrainedASR, data: Sequence[tuple], steps: int = 100, lr: float = 5e-4,
                 batch_size: int = 16, seed: int = 1, checkpoint: str | None = None,
                 progress: bool = True) -> TrainedASR:
    """A copy of `trained` fine-tuned on the train split of `data` (new clip sets, e.g.
    a new voice; their words must be in the tokenizer). The original is left unchanged."""
    import copy

    from course_lib.train import fit

    examples = _examples(load_data(data, progress), data, trained.tokenizer, "train")
    model = copy.deepcopy(trained.model).train()
    key = _recipe_key(AsrRecipe(data=tuple(data), steps=steps, batch_size=batch_size, lr=lr,
                                seed=seed, config={"base": trained.recipe.key()}))
    weight = trained.recipe.ctc_weight
    history = fit(model, lambda m, b: asr_loss(m, b, weight), _batches(examples, batch_size, seed),
                  steps=steps, lr=lr,
                  checkpoint=None if checkpoint is None else f"{checkpoint}_{key}",
                  checkpoint_every=max(steps, 1), desc="fine-tune", progress=progress)
    model.eval()
    return TrainedASR(model, trained.tokenizer, history, trained.recipe)


# ---------------------------------------------------------------- CTC load-or-train

@dataclass
class CTCRecipe:
    """What `train_ctc` trains: English transcription only (CTC has no task prompt)."""
    data: tuple = DEFAULT_DATA[:2]
    steps: int = 150
    batch_size: int = 32
    lr: float = 2e-3
    warmup: int = 50
    seed: int = 0
    config: dict = field(default_factory=dict)

    def key(self) -> str:
        return _recipe_key(self)


@dataclass
class TrainedCTC:
    model: CTCModel
    tokenizer: Tokenizer
    history: list[float]
    recipe: CTCRecipe

    def transcribe(self, waves: Sequence[Tensor]) -> list[str]:
        """Best-path transcripts of (T,) waves (CTC class c + ... = token id c - 1)."""
        device = next(self.model.parameters()).device
        batch = collate_features([features(w) for w in waves])
        self.model.eval()
        with torch.no_grad():
            log_probs, lengths = self.model(batch["mels"].to(device), batch["mel_lengths"].to(device))
        return [self.tokenizer.decode([c - 1 for c in labels])
                for labels in ctc_greedy(log_probs, lengths)]


def train_ctc(recipe: CTCRecipe | None = None, tokenizer: Tokenizer | None = None,
              checkpoint: str | None = "asr_ctc", device: torch.device | None = None,
              progress: bool = True) -> TrainedCTC:
    """Train the CTC baseline (labels = tokenizer ids + 1; 0 is the blank), or load it."""
    from course_lib.runtime import get_device
    from course_lib.train import fit, linear_warmup

    recipe = recipe or CTCRecipe()
    device = device or get_device()
    tokenizer = tokenizer or tokenizer_for(recipe.data)
    examples = _examples(load_data(recipe.data, progress), recipe.data, tokenizer, "train")
    data = _batches(examples, recipe.batch_size, recipe.seed)

    torch.manual_seed(recipe.seed)
    model = CTCModel(AsrConfig(vocab_size=len(tokenizer), **{"ctc_head": False, **recipe.config})).to(device)
    history = fit(model, ctc_loss, data, steps=recipe.steps, lr=recipe.lr, device=device,
                  scheduler=linear_warmup(recipe.warmup),
                  checkpoint=None if checkpoint is None else f"{checkpoint}_{recipe.key()}",
                  checkpoint_every=max(recipe.steps, 1), desc="ctc", progress=progress)
    model.eval()
    return TrainedCTC(model, tokenizer, history, recipe)
