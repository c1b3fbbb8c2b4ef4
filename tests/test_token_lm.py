"""Day 15's token LM: both layouts invert, the loss ignores the delay pattern's pads, the
KV-cached sampler computes what a full forward pass computes, guidance 1 is the
conditional model, and a few steps on a tiny data set lower the loss."""

import pytest
import torch

from course_lib.audio.token_lm import (TokenLM, TokenLMConfig, code_nll, layout, sample_codes, token_lm_loss,
                                       unlayout)
from course_lib.data.sound_clips import PITCHES


def tiny(pattern="delay", **kw):
    return TokenLMConfig(**{"num_codebooks": 3, "codebook_size": 8, "pattern": pattern, "dim": 16, "heads": 2,
                            "depth": 2, "max_steps": 32, "dropout": 0.0, **kw})


def batch(n=4, frames=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(8, (n, 3, frames), generator=g)
    labels = torch.arange(n) % 11
    pitches = torch.where(labels < 4, torch.full((n,), PITCHES[3]), torch.full((n,), -1))
    return codes, labels, pitches, torch.ones(n, dtype=torch.bool)


@pytest.mark.parametrize("pattern,steps,per_step", [("delay", 7, 3), ("flattened", 15, 1)])
def test_layouts_invert_and_have_their_step_counts(pattern, steps, per_step):
    codes = batch()[0]
    tokens, books = layout(codes, tiny(pattern))
    assert tokens.shape == (4, steps, per_step) and books.shape == (steps, per_step)
    assert torch.equal(unlayout(tokens, tiny(pattern)), codes)
    if pattern == "delay":
        assert (tokens[:, 0, 1:] == 8).all() and (tokens[:, -1, :2] == 8).all()   # the corners are pads


def test_cached_steps_give_the_full_forward_pass_logits():
    torch.manual_seed(0)
    lm = TokenLM(tiny()).eval()
    codes, labels, pitches, loud = batch(2)
    tokens, books = layout(codes, lm.config)
    cond = TokenLM.condition_ids(labels, pitches, loud)
    full = lm(cond, tokens, books)                                  # (2, S + 1, K, V + 1)
    from course_lib.nn.attention import KVCache
    caches = [KVCache() for _ in range(lm.config.depth)]
    steps = [lm(cond, tokens[:, :0], books[:0], caches=caches, start=0)]
    for s in range(tokens.shape[1]):
        steps.append(lm(cond, tokens[:, s:s + 1], books[s:s + 1], caches=caches, start=s + 1))
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-4)


def test_the_loss_ignores_pads_and_falls_on_a_tiny_set():
    torch.manual_seed(0)
    lm = TokenLM(tiny(cond_dropout=0.0))
    data = batch(8)
    start = token_lm_loss(lm, data).item()
    assert abs(start - torch.log(torch.tensor(9.0)).item()) < 0.5             # ~uniform over 9 ids at init
    optimizer = torch.optim.Adam(lm.parameters(), lr=1e-2)
    for _ in range(60):
        loss = token_lm_loss(lm, data)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5 * start
    assert code_nll(lm, *data) < 0.6 * start


@pytest.mark.parametrize("pattern", ["delay", "flattened"])
def test_sampling_shapes_pads_and_guidance_one(pattern):
    torch.manual_seed(0)
    lm = TokenLM(tiny(pattern)).eval()
    _, labels, pitches, loud = batch(3)
    a = sample_codes(lm, labels, pitches, loud, frames=5, guidance=1.0, generator=torch.Generator().manual_seed(1))
    assert a.shape == (3, 3, 5) and a.max() < 8                               # no pad left in the codes
    b = sample_codes(lm, labels, pitches, loud, frames=5, guidance=1.0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)                                                  # seeded
    guided = sample_codes(lm, labels, pitches, loud, frames=5, guidance=3.0, generator=torch.Generator().manual_seed(1))
    assert guided.shape == a.shape
    unconditioned = sample_codes(lm, labels, pitches, loud, frames=5, conditioned=False)
    assert unconditioned.shape == a.shape
    with pytest.raises(ValueError, match="max_steps"):
        sample_codes(lm, labels, pitches, loud, frames=40)
