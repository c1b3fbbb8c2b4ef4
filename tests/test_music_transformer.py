"""course_lib.music.transformer and ngram: the skew against the explicit gather, cached
generation against recompute, sampling filters, evaluation and n-gram counting."""

import math

import numpy as np
import pytest
import torch

from course_lib.music.ngram import NGramModel, tune_ngram
from course_lib.music.tokenizer import PAD
from course_lib.music.transformer import (
    MusicTransformer,
    MusicTransformerConfig,
    RelativeMultiHeadAttention,
    generate,
    lm_loss,
    sample_next,
    sequence_nll,
    skew,
    top_k_filter,
    top_p_filter,
    window_batches,
)


def explicit_relative_logits(q, E):
    """The oracle: gather E_{j - p_i} for every (query i at position p_i = S - L + i, key j <= p_i).

    q (B, H, L, Dh), E (H, S, Dh) with row m = distance m - (S - 1). Returns (B, H, L, S), 0 above."""
    B, H, L, Dh = q.shape
    S = E.shape[1]
    out = torch.zeros(B, H, L, S)
    for i in range(L):
        p = S - L + i
        for j in range(p + 1):
            out[:, :, i, j] = (q[:, :, i] * E[:, j - p + S - 1]).sum(-1)
    return out


@pytest.mark.parametrize("L,S", [(1, 1), (5, 5), (3, 8), (1, 7), (16, 16)])
def test_skew_equals_explicit_gather(L, S):
    g = torch.Generator().manual_seed(L * 100 + S)
    q, E = torch.randn(2, 3, L, 4, generator=g), torch.randn(3, S, 4, generator=g)
    got = skew(q @ E.transpose(-2, -1))
    visible = torch.ones(L, S, dtype=torch.bool).tril(S - L)
    want = explicit_relative_logits(q, E)
    assert got.shape == (2, 3, L, S)
    assert torch.allclose(got[..., visible], want[..., visible], atol=1e-6)


def test_skew_rejects_more_queries_than_keys():
    with pytest.raises(ValueError, match="L <= S"):
        skew(torch.zeros(4, 3))


def test_relative_attention_matches_explicit_formula():
    """Full layer: softmax((q kᵀ + q E_{j-i}ᵀ) / sqrt(Dh)) v with the gather, incl. clipped distances."""
    torch.manual_seed(0)
    attn = RelativeMultiHeadAttention(dim=16, heads=2, max_distance=4).eval()
    x = torch.randn(2, 7, 16)                                  # 7 > max_distance: far keys clip
    out = attn(x, is_causal=True)
    q, k, v = (attn.q_proj(x), attn.k_proj(x), attn.v_proj(x))
    q, k, v = (t.view(2, 7, 2, 8).transpose(1, 2) for t in (q, k, v))
    dist = torch.arange(7)[None, :] - torch.arange(7)[:, None]             # j - i
    idx = (dist + 3).clamp(0, 3)                        # row of attn.rel (future keys: masked below)
    rel = torch.einsum("bhid,hijd->bhij", q, attn.rel[:, idx])             # explicit gather
    logits = (q @ k.transpose(-2, -1) + rel) / math.sqrt(8)
    logits = logits.masked_fill(dist > 0, float("-inf"))
    want = attn.out_proj((logits.softmax(-1) @ v).transpose(1, 2).reshape(2, 7, 16))
    assert torch.allclose(out, want, atol=1e-5)


@pytest.mark.parametrize("relative", [True, False])
def test_cached_generation_equals_recompute(relative):
    torch.manual_seed(0)
    config = MusicTransformerConfig(vocab_size=40, dim=32, heads=4, depth=2, context=16, relative=relative,
                                    dropout=0.1, max_len=64)
    model = MusicTransformer(config).eval()
    prompt = torch.randint(1, 40, (3, 5))
    a, la = generate(model, prompt, 30, temperature=0, use_cache=True, return_logits=True)
    b, lb = generate(model, prompt, 30, temperature=0, use_cache=False, return_logits=True)
    assert torch.equal(a, b) and a.shape == (3, 35)
    assert torch.allclose(la, lb, atol=1e-4)
    with torch.no_grad():
        full = model(a)[:, 4:-1]                               # one causal pass predicts the same
    assert torch.allclose(full, la, atol=1e-4)
    sa = generate(model, prompt, 30, temperature=1.0, top_k=10, generator=torch.Generator().manual_seed(1))
    sb = generate(model, prompt, 30, temperature=1.0, top_k=10, generator=torch.Generator().manual_seed(1),
                  use_cache=False)
    assert torch.equal(sa, sb)


def test_model_is_causal_and_absolute_positions_are_bounded():
    torch.manual_seed(0)
    for relative in (True, False):
        model = MusicTransformer(MusicTransformerConfig(vocab_size=30, dim=16, heads=2, depth=2, context=8,
                                                        relative=relative, dropout=0.0, max_len=32)).eval()
        x = torch.randint(1, 30, (2, 12))
        y = x.clone()
        y[:, 6:] = torch.randint(1, 30, (2, 6))
        with torch.no_grad():
            assert torch.allclose(model(x)[:, :6], model(y)[:, :6], atol=1e-5), "future tokens leaked"
    with pytest.raises(ValueError, match="max_len"):
        model(torch.zeros(1, 33, dtype=torch.long))
    with pytest.raises(ValueError, match="idx"):
        model(torch.zeros(1, 3))


def test_top_p_keeps_the_token_that_crosses_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = lambda p: torch.isfinite(top_p_filter(logits, p))[0].tolist()   # noqa: E731
    assert kept(0.5) == [True, False, False, False]          # 0.5 reaches 0.5
    assert kept(0.6) == [True, True, False, False]           # 0.5 < 0.6: the 0.3 token crosses it
    assert kept(0.81) == [True, True, True, False]
    assert kept(1.0) == [True, True, True, True]
    shuffled = logits[:, [2, 0, 3, 1]]                       # order must not matter
    assert torch.isfinite(top_p_filter(shuffled, 0.6))[0].tolist() == [False, True, False, True]
    assert torch.isfinite(top_k_filter(logits, 2))[0].tolist() == [True, True, False, False]


def test_sampling_follows_temperature_and_filters():
    logits = torch.log(torch.tensor([[0.6, 0.3, 0.1]])).repeat(4000, 1)
    g = torch.Generator().manual_seed(0)
    freq = torch.bincount(sample_next(logits, 1.0, generator=g)[:, 0], minlength=3) / 4000
    assert torch.allclose(freq, torch.tensor([0.6, 0.3, 0.1]), atol=0.03)
    assert (sample_next(logits, 0)[:, 0] == 0).all()
    cold = torch.bincount(sample_next(logits, 0.25, generator=g)[:, 0], minlength=3) / 4000
    assert cold[0] > 0.9
    assert (sample_next(logits, 1.0, top_p=0.5, generator=g) == 0).all()
    assert (sample_next(logits, 1.0, top_k=2, generator=g) < 2).all()


def test_window_batches_are_deterministic_and_transpose_only_pitches():
    seqs = [list(range(1, 60)), list(range(1, 10))]
    batches = window_batches(seqs, 8, 12, seed=3)
    assert torch.equal(batches(5), batches(5)) and not torch.equal(batches(5), batches(6))
    b = batches(0)
    assert b.shape == (8, 12) and ((b == PAD).any(1) <= (b[:, 0] < 10)).all()   # only the short piece pads
    pitch_offset = 10                                           # Pitch_p has id 10 + p
    tb = window_batches([[1, 70] * 20], 64, 30, seed=0, transpose=(-3, 3), pitch_offset=pitch_offset)(0)
    assert ((tb == 1).sum(1) == 15).all(), "non-pitch tokens must not move"
    shifts = [set((row[row != 1] - 70).tolist()) for row in tb]
    assert all(len(s) == 1 for s in shifts), "one shift per window"
    assert set.union(*shifts) == set(range(-3, 4)), "shifts must cover lo..hi"


def test_sequence_nll_scores_every_token_once():
    """A model whose logits do not depend on the input: NLL = mean over all targets, any stride."""
    class Unigram(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.randn(20))

        def forward(self, idx):
            return self.w.expand(*idx.shape, 20)

    torch.manual_seed(0)
    model = Unigram()
    seqs = [torch.randint(1, 20, (n,)).tolist() for n in (5, 37, 100)]
    targets = torch.tensor([t for s in seqs for t in s[1:]])
    want = torch.nn.functional.cross_entropy(model.w.expand(len(targets), 20), targets).item()
    for context, stride in [(8, 3), (16, 16), (200, None)]:
        assert abs(sequence_nll(model, seqs, context, stride) - want) < 1e-5


def test_lm_loss_ignores_padding():
    torch.manual_seed(0)
    model = MusicTransformer(MusicTransformerConfig(vocab_size=20, dim=16, heads=2, depth=1, context=8, dropout=0.0))
    batch = torch.randint(1, 20, (2, 9))
    padded = torch.cat([batch, torch.zeros(2, 4, dtype=torch.long)], 1)
    assert torch.allclose(lm_loss(model, batch), lm_loss(model, padded), atol=1e-6)


def test_ngram_counts_and_add_k():
    seqs = [[1, 2, 3, 1, 2, 4], [1, 2, 3]]
    m = NGramModel(2, vocab_size=5).fit(seqs)
    # P(3 | 2) = (c(2,3) + k) / (c(2) + k V) = (2 + 1) / (3 + 5)
    assert m.probs([1, 2], k=1.0)[3] == pytest.approx(3 / 8)
    assert m.probs([2], k=0.5).sum() == pytest.approx(1.0)
    uni = NGramModel(1, 5).fit(seqs)          # 7 targets: 2,3,1,2,4,2,3 (first tokens are given)
    assert uni.nll([[1, 2]], k=1e-9) == pytest.approx(-math.log(3 / 7), abs=1e-6)
    best, table, models = tune_ngram(seqs, seqs, 5, orders=(1, 2, 3), ks=(1.0, 0.01))
    assert best == min(table, key=table.get) and set(models) == {1, 2, 3}
    assert table[(3, 0.01)] < table[(1, 0.01)], "on its own training data a longer history must help"
    with pytest.raises(ValueError):
        m.nll(seqs, k=0)


def test_recipe_reproduces_day14_schedule_and_config_is_frozen():
    from course_lib.music.transformer_train import PRESETS, MusicTransformerRecipe

    s = MusicTransformerRecipe().train
    assert PRESETS["cpu"] == MusicTransformerRecipe() and MusicTransformerRecipe().model.vocab_size == 0

    def old_schedule(step, steps=450, warmup=30):     # what day 14 wrote out before the recipe
        warm = min(1.0, (step + 1) / warmup)
        return warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps)))
    assert all(s.lr_multiplier(i) == pytest.approx(old_schedule(i), abs=1e-12) for i in range(460))
    assert s.lr_multiplier(0) == pytest.approx(1 / 30) and s.lr_multiplier(450) == pytest.approx(0.05)
    config = MusicTransformerConfig(vocab_size=20, dim=16, heads=2, depth=1, context=8, mlp_ratio=2.5)
    with pytest.raises(Exception):
        config.dim = 32
    assert MusicTransformer(config).blocks[0].mlp[0].out_features == 40          # int(dim * mlp_ratio)
    with pytest.raises(ValueError, match="vocab_size is 0"):
        MusicTransformer(MusicTransformerConfig())
    with pytest.raises(ValueError, match="heads must divide dim"):
        MusicTransformerConfig(dim=10, heads=4)


def test_train_music_transformer_trains_then_loads(tmp_path, monkeypatch):
    from dataclasses import replace

    from course_lib.music import transformer_train
    from course_lib.music.tokenizer import REMITokenizer
    from course_lib.train import TrainSettings

    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path))
    tok = REMITokenizer()
    seqs = [[1, 4, 12] + [tok.pitch_offset + 60, 5, 6] * 20 + [2]] * 3
    monkeypatch.setattr(transformer_train, "chorale_token_splits", lambda tokenizer: (seqs, seqs[:1], seqs[:1]))
    recipe = transformer_train.MusicTransformerRecipe(
        model=MusicTransformerConfig(dim=16, heads=2, depth=1, context=16),
        train=TrainSettings(steps=3, batch_size=2, lr=3e-3, warmup=1, decay="cosine", weight_decay=0.01))
    trained = transformer_train.train_music_transformer(recipe, device=torch.device("cpu"), progress=False)
    history = trained.run.history
    assert len(history) == 3 and all(math.isfinite(h) for h in history) and not trained.run.cached
    assert trained.model.config.vocab_size == len(trained.tokenizer) and not trained.model.training
    assert (tmp_path / "checkpoints" / f"music_transformer_{recipe.key()}.pt").exists()
    again = transformer_train.train_music_transformer(recipe, device=torch.device("cpu"), progress=False)
    assert again.run.cached and again.run.history == history
    assert all(torch.equal(a, b) for a, b in zip(trained.model.parameters(), again.model.parameters()))
    absolute = replace(recipe, model=replace(recipe.model, relative=False))
    assert absolute.key() != recipe.key()
    assert transformer_train.train_music_transformer(absolute, device=torch.device("cpu"),
                                                     progress=False).model.pos is not None
