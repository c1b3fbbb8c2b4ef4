"""A token language model over a codec's codes (day 15): MusicGen / AudioGen, small.

The codec turns a clip into codes (B, K, T): K codebooks per frame, 50 frames a second.
A decoder-only transformer predicts them, one *step* at a time, in one of two layouts
(`codebook_patterns`):

    "delay"      step s holds codebook k of frame s − k, for all K codebooks at once:
                 T + K − 1 steps, K output heads used per step (MusicGen)
    "flattened"  step s holds one token, codebook s mod K of frame s // K: T·K steps

A step's input is the sum of its tokens' embeddings (one table per codebook, with a
`pad` entry for "no token here"), a learned position, and two conditioning signals:

- the **attributes** (`SoundCondition`): the sum of a class, a pitch (notes only), a
  loudness and a tempo embedding (`data.sound_clips`' labels; the tempo of repeated drum
  hits, or "one hit"), each with a "null" entry, added to every position (position 0 is
  a start token that carries only them);
- the **timing track**: where the sound should start, as an embedding per position of
  d = (the frame it predicts) − (the nearest hit frame), clipped to ±`timing_window`
  frames, or "no onset given" — a countdown to each hit aligned with the frames
  (frame-aligned conditioning, as video-to-audio models feed per-frame video features).
  The hits are the onset and, with a tempo, every beat after it: the tempo attribute
  becomes a beat grid. A prefix token that only named the onset frame was followed loosely.

Training replaces the whole condition by the nulls with probability `cond_dropout` (and
the onset alone with the same probability, so a sound can be asked for "anywhere"), so
the same model also predicts *unconditionally*, and sampling uses **classifier-free
guidance** (Ho & Salimans 2022, as MusicGen does):

    logits = logits(null) + w · (logits(condition) − logits(null))

then temperature and top-k. Sampling runs one step at a time with a KV cache (`nn.attention`).

    lm = TokenLM(TokenLMConfig(num_codebooks=4, codebook_size=256, pattern="delay"))
    loss = token_lm_loss(lm, (codes, labels, pitches, loud, onsets, tempi))     # codes (B, 4, 50)
    codes = sample_codes(lm, labels, pitches, loud, onsets, tempi, frames=50, guidance=3.0)   # (B, 4, 50)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.audio.codebook_patterns import delay, flatten_codes, pattern_steps, undelay, unflatten_codes
from course_lib.checks import check_positive_int, check_range, check_shape
from course_lib.data.sound_clips import CLASSES, MAX_ONSET, PITCHES, SAMPLE_RATE, TEMPI
from course_lib.music.transformer import DecoderBlock, MusicTransformerConfig, top_k_filter
from course_lib.nn.attention import KVCache

__all__ = ["TokenLMConfig", "SoundCondition", "onset_frames", "beat_frames", "drop_condition", "TokenLM", "layout",
           "unlayout", "token_lm_loss", "sample_codes", "code_nll"]


@dataclass(frozen=True)
class TokenLMConfig:
    """Sizes: K `num_codebooks` of `codebook_size` codes, the `pattern`, the transformer
    (`dim`, `heads`, `depth`), `max_steps` positions, and the condition's dropout."""
    num_codebooks: int = 4
    codebook_size: int = 256
    pattern: str = "delay"
    dim: int = 128
    heads: int = 4
    depth: int = 4
    max_steps: int = 256
    dropout: float = 0.1
    cond_dropout: float = 0.15
    timing_window: int = 3

    def __post_init__(self):
        for name in ("num_codebooks", "codebook_size", "dim", "heads", "depth", "max_steps", "timing_window"):
            check_positive_int(getattr(self, name), name)
        if self.pattern not in ("delay", "flattened"):
            raise ValueError(f"pattern must be 'delay' or 'flattened'; got {self.pattern!r}")
        check_range(self.cond_dropout, "cond_dropout", 0.0, 1.0)

    @property
    def pad(self) -> int:
        """The token id meaning "no code here" (delay pattern's corners)."""
        return self.codebook_size


def layout(codes: Tensor, config: TokenLMConfig) -> tuple[Tensor, Tensor]:
    """codes (B, K, T) -> (tokens (B, S, J), codebook of each slot (S, J)): J = K tokens per
    step for the delay pattern (S = T + K − 1), J = 1 for the flattened one (S = T·K)."""
    check_shape(codes, "codes", "B K T", K=config.num_codebooks)
    k, t = codes.shape[1], codes.shape[2]
    if config.pattern == "delay":
        tokens = delay(codes, pad=config.pad).transpose(1, 2)                  # (B, T + K - 1, K)
        books = torch.arange(k).expand(tokens.shape[1], k)
    else:
        tokens = flatten_codes(codes)[..., None]                                # (B, T·K, 1)
        books = torch.arange(k).repeat(t)[:, None]
    return tokens, books.to(codes.device)


def unlayout(tokens: Tensor, config: TokenLMConfig) -> Tensor:
    """The inverse of `layout`: tokens (B, S, J) -> codes (B, K, T)."""
    if config.pattern == "delay":
        return undelay(tokens.transpose(1, 2))
    return unflatten_codes(tokens[..., 0], config.num_codebooks)


ONSET_FRAMES = round(MAX_ONSET * SAMPLE_RATE / 320)        # onsets in [0, 0.2) s: frames 0..9 at 50 frames/s (hop 320)


def onset_frames(onsets: Tensor, hop: int = 320) -> Tensor:
    """Onsets in seconds (N,) -> codec frame indices (N,) long, clamped to [0, ONSET_FRAMES);
    a negative onset means "anywhere" (the null entry)."""
    frames = (onsets * SAMPLE_RATE / hop).floor().long().clamp(0, ONSET_FRAMES - 1)
    return torch.where(onsets < 0, torch.full_like(frames, -1), frames)


FRAME_RATE = SAMPLE_RATE / 320                             # codec frames per second
NO_TEMPO = len(TEMPI)                                      # the tempo id of "one hit"


def beat_frames(tempo_ids: Tensor) -> Tensor:
    """Tempo ids (N,) (into TEMPI; NO_TEMPO or above: one hit) -> frames between hits (N,)
    float: 50 · 60 / bpm (25 at 120 bpm), inf for one hit."""
    bpm = torch.tensor(TEMPI + (0, 0), dtype=torch.float32, device=tempo_ids.device)[tempo_ids]
    return FRAME_RATE * 60.0 / bpm                                     # x / 0 = inf


class SoundCondition(nn.Module):
    """The attributes of a sound clip as one vector (B, D): the sum of a class, a pitch, a
    loudness and a tempo embedding, each table with a null entry (last) for "not given".
    ids(labels, pitches, loud, onsets, tempi) turns sound-clip labels into the table
    indices (the fourth, the onset frame, is for models that place the sound: `TokenLM`'s
    timing track, which also lays the tempo out as a beat grid)."""

    def __init__(self, dim: int):
        super().__init__()
        self.class_embed = nn.Embedding(len(CLASSES) + 1, dim)               # + null
        self.pitch_embed = nn.Embedding(len(PITCHES) + 2, dim)               # + "no pitch" + null
        self.loud_embed = nn.Embedding(3, dim)                               # soft, loud, null
        self.tempo_embed = nn.Embedding(len(TEMPI) + 2, dim)                 # + "one hit" + null

    @staticmethod
    def ids(labels: Tensor, pitches: Tensor, loud: Tensor, onsets: Tensor | None = None,
            tempi: Tensor | None = None) -> tuple[Tensor, ...]:
        """labels (N,) into CLASSES, MIDI pitches (N,) (−1: none), loud (N,) bool, onsets (N,)
        seconds (−1 or None: anywhere), tempi (N,) bpm of TEMPI (0 or None: one hit) ->
        five index tensors (N,)."""
        pitch_ids = torch.where(pitches >= 0, pitches - PITCHES[0], torch.full_like(pitches, len(PITCHES)))
        if onsets is None:
            onsets = torch.full(labels.shape, -1.0)
        onset_ids = onset_frames(onsets.float())
        onset_ids = torch.where(onset_ids < 0, torch.full_like(onset_ids, ONSET_FRAMES), onset_ids)
        tempo_ids = torch.full(labels.shape, NO_TEMPO, dtype=torch.long)
        if tempi is not None:
            tempi = tempi.long().cpu()
            known = torch.isin(tempi, torch.tensor(TEMPI)) | (tempi == 0)
            if not bool(known.all()):
                raise ValueError(f"tempi must be 0 (one hit) or one of {TEMPI} bpm; got {tempi[~known].tolist()}")
            for i, bpm in enumerate(TEMPI):
                tempo_ids[tempi == bpm] = i
        return (labels.long(), pitch_ids.long(), loud.long(), onset_ids.to(labels.device),
                tempo_ids.to(labels.device))

    @staticmethod
    def null(batch: int, device=None) -> tuple[Tensor, ...]:
        """The null condition (every attribute "not given") for `batch` rows."""
        full = lambda v: torch.full((batch,), v, dtype=torch.long, device=device)   # noqa: E731
        return full(len(CLASSES)), full(len(PITCHES) + 1), full(2), full(ONSET_FRAMES), full(NO_TEMPO + 1)

    def forward(self, cond: tuple[Tensor, ...]) -> Tensor:
        c, p, ld, tempo = cond[0], cond[1], cond[2], cond[4]
        return self.class_embed(c) + self.pitch_embed(p) + self.loud_embed(ld) + self.tempo_embed(tempo)   # (B, D)


def drop_condition(cond: tuple[Tensor, ...], rate: float) -> tuple[Tensor, ...]:
    """Training's condition dropout: each row's whole condition replaced by the nulls with
    probability `rate`, and, independently, its onset alone with the same probability (a
    tempo without an onset: "at 120 bpm", the model picks where the beats fall)."""
    n = len(cond[0])
    keep = torch.rand(n) >= rate
    keep_onset = keep & (torch.rand(n) >= rate)
    nulls = SoundCondition.null(n, cond[0].device)
    masks = (keep, keep, keep, keep_onset, keep)
    return tuple(torch.where(m.to(c.device), c, z) for c, z, m in zip(cond, nulls, masks))


class TokenLM(nn.Module):
    """(condition ids, tokens (B, S, J), codebooks (S, J)) -> logits (B, S + 1, K, V + 1):
    position 0 is the start token, position s + 1 the step s; the output at position p
    predicts the tokens of step p (every codebook's head; the layout picks which count).
    Every position also gets the attributes' vector and its timing-track embedding."""

    def __init__(self, config: TokenLMConfig):
        super().__init__()
        self.config = c = config
        vocab = c.codebook_size + 1                                             # codes + pad
        self.code_embed = nn.Embedding(c.num_codebooks * vocab, c.dim)         # one table per codebook
        self.condition = SoundCondition(c.dim)
        self.start = nn.Parameter(torch.zeros(c.dim))                          # position 0's input
        self.timing = nn.Embedding(2 * c.timing_window + 2, c.dim)   # onset not given, d = -w .. w
        self.pos = nn.Embedding(c.max_steps + 1, c.dim)
        block = MusicTransformerConfig(vocab_size=1, dim=c.dim, heads=c.heads, depth=c.depth,
                                       context=c.max_steps + 1, relative=False, dropout=c.dropout)
        self.blocks = nn.ModuleList(DecoderBlock(block) for _ in range(c.depth))
        self.norm = nn.LayerNorm(c.dim)
        self.head = nn.Linear(c.dim, c.num_codebooks * vocab)

    def timing_states(self, onset_ids: Tensor, tempo_ids: Tensor, positions: Tensor) -> Tensor:
        """(B,) onset frames (ONSET_FRAMES = not given), (B,) tempo ids, (L,) positions ->
        (B, L) states: 0 when no onset is given, else 1 + w + d, d = frame − the nearest hit
        frame, clipped to [−w, w] (w = timing_window), for the frame whose codebook-1 code
        position p predicts (p for the delay pattern, p // K flattened). The hits are the
        onset o and, with a tempo of P frames a beat, o + P, o + 2P, ... (rounded down, as
        the clips' hit frames are)."""
        w = self.config.timing_window
        frames = positions if self.config.pattern == "delay" else positions // self.config.num_codebooks
        o = onset_ids[:, None]
        d = frames[None] - o                                                     # (B, L)
        period = beat_frames(tempo_ids)[:, None]                               # inf: one hit
        one_hit = torch.isinf(period)
        beat = torch.where(one_hit, 0.0, torch.round(d / period).clamp_min(0))     # the nearest beat's number
        nearest_hit = torch.floor(beat * torch.where(one_hit, 0.0, period)).long()
        states = 1 + w + (d - nearest_hit).clamp(-w, w)
        return torch.where(o == ONSET_FRAMES, torch.zeros_like(states), states)

    def embed_steps(self, tokens: Tensor, books: Tensor) -> Tensor:
        """tokens (B, S, J), books (S, J) -> (B, S, D): the sum of the step's token embeddings."""
        return self.code_embed(books * (self.config.codebook_size + 1) + tokens).sum(2)

    def forward(self, cond: tuple[Tensor, Tensor, Tensor], tokens: Tensor, books: Tensor,
                caches=None, start: int = 0) -> Tensor:
        """Logits (B, L, K, V + 1) for the L positions given: with `start` = 0 the condition and
        then the S steps (L = S + 1); with caches and start > 0, only the S new steps."""
        x = self.embed_steps(tokens, books)                                    # (B, S, D)
        if start == 0:
            x = torch.cat([self.start.expand(len(x), 1, -1), x], dim=1)
        positions = torch.arange(start, start + x.shape[1], device=x.device)
        timing = self.timing(self.timing_states(cond[3], cond[4], positions))           # (B, L, D)
        x = x + self.pos(positions) + self.condition(cond)[:, None] + timing
        for i, block in enumerate(self.blocks):
            x = block(x, None if caches is None else caches[i])
        b, length, _ = x.shape
        return self.head(self.norm(x)).view(b, length, self.config.num_codebooks, -1)


def _step_losses(lm: TokenLM, logits: Tensor, tokens: Tensor, books: Tensor) -> Tensor:
    """Cross-entropy per target token (B, S, J) (pad targets of the delay corners count 0)."""
    b, s, j = tokens.shape
    picked = logits[:, :s].gather(2, books[None, :, :, None].expand(b, s, j, logits.shape[-1]))   # (B, S, J, V+1)
    ce = F.cross_entropy(picked.flatten(0, 2), tokens.flatten(), reduction="none").view(b, s, j)
    return ce * (tokens != lm.config.pad)


def token_lm_loss(lm: TokenLM, batch) -> Tensor:
    """Next-step cross-entropy per code (pads excluded) of a batch (codes (B, K, T), labels,
    pitches, loud, onsets[, tempi]), with the condition dropped at rate cond_dropout."""
    codes, *attributes = batch
    tokens, books = layout(codes, lm.config)
    cond = drop_condition(SoundCondition.ids(*attributes), lm.config.cond_dropout)
    logits = lm(cond, tokens[:, :-1], books[:-1])                               # positions 0..S-1
    ce = _step_losses(lm, logits, tokens, books)
    return ce.sum() / (tokens != lm.config.pad).sum()


@torch.no_grad()
def code_nll(lm: TokenLM, codes: Tensor, labels: Tensor, pitches: Tensor, loud: Tensor,
             onsets: Tensor | None = None, tempi: Tensor | None = None, conditioned: bool = True) -> float:
    """Mean negative log-likelihood per code (nats) of codes (B, K, T), with or without the condition."""
    lm.eval()
    tokens, books = layout(codes, lm.config)
    cond = (SoundCondition.ids(labels, pitches, loud, onsets, tempi) if conditioned
            else SoundCondition.null(len(codes)))
    ce = _step_losses(lm, lm(cond, tokens[:, :-1], books[:-1]), tokens, books)
    return (ce.sum() / (tokens != lm.config.pad).sum()).item()


@torch.no_grad()
def sample_codes(lm: TokenLM, labels: Tensor, pitches: Tensor, loud: Tensor, onsets: Tensor | None = None,
                 tempi: Tensor | None = None, frames: int = 50,
                 guidance: float = 3.0, temperature: float = 1.0, top_k: int | None = 50,
                 conditioned: bool = True, generator: torch.Generator | None = None) -> Tensor:
    """Codes (N, K, frames) sampled step by step with a KV cache: classifier-free guidance
    `guidance` (1: the conditional model alone; `conditioned=False`: the null condition
    only), then temperature and top-k. onsets (N,) seconds, or None / −1: anywhere; tempi
    (N,) bpm of repeated drum hits, or None / 0: one hit. Pad positions of the delay
    pattern are forced."""
    c = lm.config
    lm.eval()
    n = len(labels)
    cond = SoundCondition.ids(labels, pitches, loud, onsets, tempi) if conditioned else SoundCondition.null(n)
    use_cfg = conditioned and guidance != 1.0
    if use_cfg:                                                  # one batch: conditional rows, then null rows
        cond = tuple(torch.cat([a, b]) for a, b in zip(cond, SoundCondition.null(n)))
    rows = len(cond[0])
    steps = pattern_steps(c.pattern, frames, c.num_codebooks)
    if steps > c.max_steps:
        raise ValueError(f"{frames} frames need {steps} steps; this model has max_steps={c.max_steps}")
    template, books = layout(torch.zeros(1, c.num_codebooks, frames, dtype=torch.long), c)   # (1, S, J), (S, J)
    pad_mask = template[0] == c.pad                                             # the delay pattern's corners
    caches = [KVCache() for _ in range(c.depth)]
    tokens = torch.zeros(rows, 0, books.shape[1], dtype=torch.long)
    logits = lm(cond, tokens, books[:0], caches=caches, start=0)[:, -1]            # (rows, K, V+1)
    out = []
    for s in range(steps):
        step_logits = logits[:, books[s]]                                           # (rows, J, V+1)
        if use_cfg:
            cond_l, null_l = step_logits[:n], step_logits[n:]
            step_logits = null_l + guidance * (cond_l - null_l)
        step_logits = step_logits[..., :c.codebook_size] / max(temperature, 1e-6)   # codes only
        if top_k:
            step_logits = top_k_filter(step_logits, top_k)
        probs = step_logits.softmax(-1)
        token = torch.multinomial(probs.flatten(0, 1), 1, generator=generator).view(n, -1)   # (n, J)
        token = torch.where(pad_mask[s], torch.full_like(token, c.pad), token)
        out.append(token)
        if s + 1 < steps:
            feed = torch.cat([token, token]) if use_cfg else token
            logits = lm(cond, feed[:, None], books[s:s + 1], caches=caches, start=s + 1)[:, -1]
    return unlayout(torch.stack(out, dim=1), c)

