"""ControlNet for the DiT (day 07): zero-initialised, frozen base, Sobel edges vs scipy."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from course_lib.diffusion.controlnet import ControlDiT, edge_map, sobel_magnitude
from course_lib.diffusion.dit import DiT, DiTConfig


def trained_like_dit(seed=0):
    """A DiT whose every weight is random (a fresh DiT's zero-initialised gates would
    make it output 0 and every comparison trivially equal)."""
    torch.manual_seed(seed)
    model = DiT(DiTConfig(input_size=16, patch=4, in_channels=1, dim=32, depth=3, heads=4))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    return model.eval()


def inputs(b=4):
    g = torch.Generator().manual_seed(1)
    return (torch.randn(b, 1, 16, 16, generator=g), torch.randint(0, 1000, (b,), generator=g),
            torch.randint(0, 10, (b,), generator=g), torch.randn(b, 1, 16, 16, generator=g).sign())


def test_untrained_controlnet_changes_nothing_exactly():
    base = trained_like_dit()
    x, t, y, cond = inputs()
    control = ControlDiT(base, n_blocks=2).eval()
    assert (control(x, t, y, cond) - base(x, t, y)).abs().max().item() == 0.0


def test_only_the_control_branch_trains_and_the_condition_then_matters():
    base = trained_like_dit()
    frozen = {k: v.clone() for k, v in base.state_dict().items()}
    control = ControlDiT(base, n_blocks=2).eval()
    trainable = control.control_parameters()
    assert {id(p) for p in trainable} == {id(p) for p in control.parameters() if p.requires_grad}
    assert not any(p.requires_grad for p in base.parameters())
    x, t, y, cond = inputs()
    opt = torch.optim.SGD(trainable, lr=0.1)
    for _ in range(3):
        loss = (control(x, t, y, cond) - cond).pow(2).mean()   # any loss that needs the condition
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert all(torch.equal(frozen[k], v) for k, v in base.state_dict().items())
    with torch.no_grad():
        assert (control(x, t, y, cond) - control(x, t, y, -cond)).abs().max() > 1e-4


def test_sobel_matches_scipy_and_edges_are_binary():
    g = np.random.default_rng(0)
    img = g.standard_normal((3, 1, 12, 12)).astype(np.float32)
    ours = sobel_magnitude(torch.from_numpy(img)).numpy()
    ref = np.stack([np.hypot(ndimage.sobel(i[0], axis=1, mode="nearest"),
                             ndimage.sobel(i[0], axis=0, mode="nearest"))[None] for i in img])
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)
    square = -torch.ones(1, 1, 16, 16)
    square[..., 4:12, 4:12] = 1.0
    edges = edge_map(square)
    assert set(edges.unique().tolist()) == {-1.0, 1.0}
    assert edges[0, 0, 8, 8] == -1 and edges[0, 0, 4, 8] == 1 and edges[0, 0, 0, 0] == -1   # inside, border, far


def test_controlnet_bad_inputs_are_named():
    base = trained_like_dit()
    with pytest.raises(ValueError, match=r"n_blocks must be an int in \[1, 3\]"):
        ControlDiT(base, n_blocks=4)
    with pytest.raises(TypeError, match="base must be a course_lib DiT"):
        ControlDiT(torch.nn.Linear(2, 2))
    x, t, y, _ = inputs()
    with pytest.raises(ValueError, match="cond must be"):
        ControlDiT(base)(x, t, y, torch.zeros(4, 1, 8, 8))
    with pytest.raises(ValueError, match=r"images must be \(B, 1, H, W\)"):
        sobel_magnitude(torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match="threshold"):
        edge_map(torch.zeros(1, 1, 8, 8), threshold=1.5)
