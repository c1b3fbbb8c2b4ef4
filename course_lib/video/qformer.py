"""A Q-Former and a small language model that captions clips and answers questions about
them (day 18): BLIP-2's bridge and VideoLLaMA's recipe, small.

    frames ─ frozen frame encoder (the retrieval model's) ─ (B, k, F) + frame-position embeddings
    M learned queries ─ Q-Former blocks: self-attention among the queries,
                        cross-attention to the frame features, MLP ─ video tokens (B, M, D)
    [video tokens] [question words] <bos> answer words <eos>  ─ causal transformer (KV cache)

The Q-Former turns any number of frames into M tokens (the language model's cost does not
grow with the clip), and the language model only ever sees those tokens: "describe"
gives the caption, "which digit ?", "which way does it move ?" and "does it hit a wall ?"
get short answers. Training is next-token cross-entropy on the answer and <eos> only.

    model = VideoQA(VideoQAConfig())
    logits = model(features, frame_index, tokens)           # (B, M + L, V)
    answers = answer(model, features, frame_index, ["which digit ?"] * B)   # ["3", ...]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.checks import check_positive_int, check_shape
from course_lib.data.captions import split_words
from course_lib.music.transformer import DecoderBlock, MusicTransformerConfig
from course_lib.nn.attention import KVCache, MultiHeadAttention
from course_lib.nn.transformer import MLP

__all__ = ["QUESTIONS", "VOCAB", "VideoQAConfig", "QFormerBlock", "VideoQA", "encode_words", "qa_sequences",
           "qa_loss", "answer"]

QUESTIONS = {"caption": "describe", "digit": "which digit ?", "direction": "which way does it move ?",
             "wall": "does it hit a wall ?"}
VOCAB = ("<pad>", "<bos>", "<eos>", "describe", "which", "digit", "way", "does", "it", "move", "hit", "wall", "?",
         "yes", "no", "a", *[str(d) for d in range(10)], "moving", "up", "down", "left", "right")
PAD, BOS, EOS = 0, 1, 2
_IDS = {w: i for i, w in enumerate(VOCAB)}


def encode_words(text: str) -> list[int]:
    """"which way does it move ?" -> ids; hyphens split ("up-left" is "up" "left")."""
    words = split_words(text)
    unknown = [w for w in words if w not in _IDS or _IDS[w] <= EOS]
    if unknown:
        raise ValueError(f"words not in the vocabulary: {unknown}")
    return [_IDS[w] for w in words]


def qa_sequences(questions: list[str], answers: list[str] | None = None) -> tuple[Tensor, Tensor]:
    """Questions (and answers) -> (tokens (B, L), targets (B, L)): question <bos> answer
    <eos>, right-padded with <pad>; targets[i] is the token at i + 1 where that token is
    part of the answer or <eos>, else −100 (ignored). Without answers: question <bos>."""
    rows, targets = [], []
    for k, q in enumerate(questions):
        prompt = encode_words(q) + [BOS]
        ans = encode_words(answers[k]) + [EOS] if answers is not None else []
        seq = prompt + ans
        rows.append(seq)
        targets.append([-100] * (len(prompt) - 1) + ans + [-100])
    length = max(map(len, rows))
    tokens = torch.tensor([r + [PAD] * (length - len(r)) for r in rows])
    target = torch.tensor([t[:length] + [-100] * (length - len(t)) for t in targets])
    return tokens, target


@dataclass(frozen=True)
class VideoQAConfig:
    """Sizes: the frozen frame features' width `frame_dim`, `max_frames` positions, M =
    `queries`, the width `dim`, `qformer_depth` and `depth` blocks, `heads`, and
    `max_len` text positions."""
    frame_dim: int = 64
    max_frames: int = 8
    queries: int = 4
    dim: int = 96
    qformer_depth: int = 2
    depth: int = 2
    heads: int = 4
    max_len: int = 16

    def __post_init__(self):
        for name in ("frame_dim", "max_frames", "queries", "dim", "qformer_depth", "depth", "heads", "max_len"):
            check_positive_int(getattr(self, name), name)
        if self.dim % self.heads:
            raise ValueError(f"heads must divide dim; got dim={self.dim}, heads={self.heads}")


class QFormerBlock(nn.Module):
    """Queries (B, M, D) and frames (B, k, D): x + SelfAttn(LN(x)); x + CrossAttn(LN(x), frames); x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.ln1, self.ln2, self.ln3 = (nn.LayerNorm(dim) for _ in range(3))
        self.self_attn = MultiHeadAttention(dim, heads)
        self.cross_attn = MultiHeadAttention(dim, heads)
        self.mlp = MLP(dim, 2.0)

    def forward(self, x: Tensor, frames: Tensor) -> Tensor:
        x = x + self.self_attn(self.ln1(x))
        x = x + self.cross_attn(self.ln2(x), context=frames)
        return x + self.mlp(self.ln3(x))


class VideoQA(nn.Module):
    """(frame features (B, k, F), frame_index (k,), tokens (B, L)) -> logits (B, M + L, V):
    position M + i predicts token i + 1 (the M video tokens come first)."""

    def __init__(self, config: VideoQAConfig):
        super().__init__()
        self.config = c = config
        self.frame_proj = nn.Linear(c.frame_dim, c.dim)
        self.frame_pos = nn.Embedding(c.max_frames, c.dim)
        self.queries = nn.Parameter(torch.randn(c.queries, c.dim) * 0.02)
        self.qformer = nn.ModuleList(QFormerBlock(c.dim, c.heads) for _ in range(c.qformer_depth))
        self.embed = nn.Embedding(len(VOCAB), c.dim)
        self.pos = nn.Embedding(c.queries + c.max_len, c.dim)
        lm = MusicTransformerConfig(vocab_size=len(VOCAB), dim=c.dim, heads=c.heads, depth=c.depth,
                                    context=c.queries + c.max_len, relative=False, dropout=0.0, mlp_ratio=2.0)
        self.blocks = nn.ModuleList(DecoderBlock(lm) for _ in range(c.depth))
        self.norm = nn.LayerNorm(c.dim)
        self.head = nn.Linear(c.dim, len(VOCAB))

    def video_tokens(self, features: Tensor, frame_index: Tensor) -> Tensor:
        """Frame features (B, k, F) at clip positions (k,) -> the M query outputs (B, M, D)."""
        check_shape(features, "features", "B K F", F=self.config.frame_dim)
        frames = self.frame_proj(features) + self.frame_pos(frame_index.to(features.device))[None]
        x = self.queries.expand(len(features), -1, -1)
        for block in self.qformer:
            x = block(x, frames)
        return x

    def decode(self, x: Tensor, start: int, caches: list[KVCache] | None = None) -> Tensor:
        """Embeddings (B, L, D) at positions start.. -> logits (B, L, V)."""
        x = x + self.pos(torch.arange(start, start + x.shape[1], device=x.device))[None]
        for i, block in enumerate(self.blocks):
            x = block(x, None if caches is None else caches[i])
        return self.head(self.norm(x))

    def forward(self, features: Tensor, frame_index: Tensor, tokens: Tensor) -> Tensor:
        check_shape(tokens, "tokens", "B L", B=features.shape[0])
        if tokens.shape[1] > self.config.max_len:
            raise ValueError(f"tokens has {tokens.shape[1]} positions; the model knows {self.config.max_len}")
        x = torch.cat([self.video_tokens(features, frame_index), self.embed(tokens)], dim=1)
        return self.decode(x, 0)


def qa_loss(model: VideoQA, batch) -> Tensor:
    """Cross-entropy of the answer tokens and <eos> (batch: features, frame_index, tokens, targets)."""
    features, frame_index, tokens, targets = batch
    logits = model(features, frame_index, tokens)[:, model.config.queries:]          # (B, L, V)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)


@torch.no_grad()
def answer(model: VideoQA, features: Tensor, frame_index: Tensor, questions: list[str],
           max_words: int = 6) -> list[str]:
    """Greedy answers, one token at a time with a KV cache: (B, k, F) features and B
    questions -> B strings (the words before <eos>)."""
    model.eval()
    if len(questions) != len(features):
        raise ValueError(f"{len(questions)} questions for {len(features)} clips")
    out: list[list[int]] = [[] for _ in questions]
    done = torch.zeros(len(questions), dtype=torch.bool)
    by_length: dict[int, list[int]] = {}
    prompts = [encode_words(q) + [BOS] for q in questions]
    for i, p in enumerate(prompts):
        by_length.setdefault(len(p), []).append(i)
    for length, rows in by_length.items():                   # questions of one length share a pass
        rows_t = torch.tensor(rows)
        caches = [KVCache() for _ in model.blocks]
        prompt = torch.tensor([prompts[i] for i in rows], device=features.device)
        x = torch.cat([model.video_tokens(features[rows_t], frame_index), model.embed(prompt)], dim=1)
        logits = model.decode(x, 0, caches)[:, -1]
        position = x.shape[1]
        for _ in range(max_words + 1):
            token = logits.argmax(-1)                                             # (R,)
            for r, t in zip(rows, token.tolist()):
                if not done[r]:
                    if t == EOS:
                        done[r] = True
                    else:
                        out[r].append(t)
            if bool(done[rows_t].all()) or position >= model.config.queries + model.config.max_len:
                break
            logits = model.decode(model.embed(token[:, None]), position, caches)[:, -1]
            position += 1
    return [" ".join(VOCAB[t] for t in ids) for ids in out]
