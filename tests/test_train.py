import pytest
import torch
from torch import nn

from course_lib.train import fit


def make_problem(seed=0):
    """y = x @ w_true + 0.5, noise-free: a linear model can reach ~0 loss."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 4, generator=g)
    w_true = torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    y = x @ w_true + 0.5

    def batch_at(step):
        idx = torch.arange(step * 32, step * 32 + 32) % 256
        return x[idx], y[idx]

    return batch_at


def mse(model, batch):
    x, y = batch
    return nn.functional.mse_loss(model(x), y)


def test_tiny_regression_converges():
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    history = fit(model, mse, make_problem(), steps=300, lr=0.05, progress=False)
    assert len(history) == 300
    assert history[0] > 1.0, "the untrained model should start far from the target"
    assert history[-1] < 1e-3, f"loss should reach ~0 on a noise-free linear problem; got {history[-1]}"


def test_iterable_data_is_cycled():
    torch.manual_seed(0)
    data = [make_problem()(i) for i in range(8)]  # 8 batches, cycled to 100 steps
    history = fit(nn.Linear(4, 1), mse, data, steps=100, lr=0.05, progress=False)
    assert len(history) == 100 and history[-1] < history[0] / 10


def test_resume_continues_from_checkpoint(tmp_path):
    ckpt = tmp_path / "reg.pt"
    torch.manual_seed(0)
    straight = fit(nn.Linear(4, 1), mse, make_problem(), steps=40, lr=0.05, progress=False)

    torch.manual_seed(0)
    first = fit(nn.Linear(4, 1), mse, make_problem(), steps=20, lr=0.05, progress=False, checkpoint=ckpt)
    assert ckpt.exists() and len(first) == 20
    # A fresh model (different init) resumes: the checkpoint's weights and optimiser win.
    torch.manual_seed(123)
    resumed_model = nn.Linear(4, 1)
    resumed = fit(resumed_model, mse, make_problem(), steps=40, lr=0.05, progress=False, checkpoint=ckpt)
    assert len(resumed) == 40
    assert resumed[:20] == first, "history before the checkpoint must be kept"
    torch.testing.assert_close(torch.tensor(resumed), torch.tensor(straight), rtol=1e-5, atol=1e-7)

    # Already trained: returns the history without training.
    again = fit(resumed_model, mse, make_problem(), steps=40, lr=0.05, progress=False, checkpoint=ckpt)
    assert again == resumed


def test_grad_clip_bounds_update():
    model = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(model.weight)
    huge = (torch.ones(1, 1), torch.full((1, 1), 1e6))
    fit(model, mse, [huge], steps=1, lr=1.0, grad_clip=1.0, progress=False,
        optimizer=torch.optim.SGD(model.parameters(), lr=1.0))
    assert abs(model.weight.item()) == pytest.approx(1.0), "one SGD step with clip 1 moves at most lr * 1"


@pytest.mark.parametrize("kwargs, match", [
    ({"steps": -1}, "steps"), ({"steps": 5, "lr": 0}, "lr"), ({"steps": 5, "grad_clip": -1.0}, "grad_clip"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit(nn.Linear(4, 1), mse, make_problem(), progress=False, **kwargs)


def test_non_finite_loss_is_reported():
    bad = (torch.ones(2, 4), torch.full((2, 1), float("nan")))
    with pytest.raises(FloatingPointError, match="step 0"):
        fit(nn.Linear(4, 1), mse, [bad], steps=3, progress=False)


def test_linear_warmup_ramps_to_one():
    from course_lib.train import linear_warmup
    ramp = linear_warmup(4)
    assert [ramp(s) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="steps"):
        linear_warmup(0)
