"""VALL-E's fine stage (day 15): it reads only the levels below the one it predicts, fills
every fine level in one pass each, and learns a tiny set."""

import pytest
import torch

from course_lib.audio.fine_codes import FineCodes, FineCodesConfig, fill_fine_codes, fine_codes_loss
from course_lib.audio.token_lm import SoundCondition


def tiny(**kw):
    return FineCodesConfig(**{"num_codebooks": 3, "coarse": 1, "codebook_size": 8, "dim": 16, "heads": 2,
                              "depth": 1, "max_frames": 8, "dropout": 0.0, **kw})


def batch(n=6, frames=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(8, (n, 3, frames), generator=g)
    labels = torch.arange(n) % 11
    return codes, labels, torch.full((n,), -1), torch.ones(n, dtype=torch.bool), torch.zeros(n)


def test_level_j_reads_only_the_levels_below_it():
    torch.manual_seed(0)
    model = FineCodes(tiny()).eval()
    codes, *attrs = batch(2)
    cond = SoundCondition.ids(*attrs)
    changed = codes.clone()
    changed[:, 2] = (changed[:, 2] + 1) % 8                       # level 2 itself may change freely
    torch.testing.assert_close(model(cond, codes, 2), model(cond, changed, 2))
    changed[:, 1] = (changed[:, 1] + 1) % 8                       # a level below it may not
    assert not torch.allclose(model(cond, codes, 2), model(cond, changed, 2))
    with pytest.raises(ValueError, match="level"):
        model(cond, codes, 0)                                      # the coarse level is given, not predicted


def test_fill_keeps_the_coarse_codes_and_the_loss_falls():
    torch.manual_seed(0)
    model = FineCodes(tiny())
    data = batch()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(120):
        loss = fine_codes_loss(model, data)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) / 10 < 0.3 * sum(losses[:10]) / 10
    codes = data[0]
    filled = fill_fine_codes(model, codes[:, :1], *data[1:])
    assert torch.equal(filled[:, 0], codes[:, 0])
    assert (filled == codes).float().mean() > 0.9                  # it has learned the tiny set
    with pytest.raises(ValueError, match="coarse_codes"):
        fill_fine_codes(model, codes[:, :2], *data[1:])
