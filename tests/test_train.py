import pytest
import torch
from torch import nn

from dataclasses import dataclass, replace

from course_lib.runtime import settings_key
from course_lib.train import (TrainSettings, checkpoint_name, describe, fit, load_or_train, preset,
                              random_batches)


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
    run = fit(model, mse, make_problem(), steps=300, lr=0.05, progress=False)
    history = run.history
    assert len(history) == 300 and not run.cached and run.seconds > 0
    assert history[0] > 1.0, "the untrained model should start far from the target"
    assert history[-1] < 1e-3, f"loss should reach ~0 on a noise-free linear problem; got {history[-1]}"


def test_iterable_data_is_cycled():
    torch.manual_seed(0)
    data = [make_problem()(i) for i in range(8)]  # 8 batches, cycled to 100 steps
    history = fit(nn.Linear(4, 1), mse, data, steps=100, lr=0.05, progress=False).history
    assert len(history) == 100 and history[-1] < history[0] / 10


def test_resume_continues_from_checkpoint(tmp_path):
    ckpt = tmp_path / "reg.pt"
    torch.manual_seed(0)
    straight = fit(nn.Linear(4, 1), mse, make_problem(), steps=40, lr=0.05, progress=False).history

    torch.manual_seed(0)
    first = fit(nn.Linear(4, 1), mse, make_problem(), steps=20, lr=0.05, progress=False, checkpoint=ckpt).history
    assert ckpt.exists() and len(first) == 20
    # A fresh model (different init) resumes: the checkpoint's weights and optimiser win.
    torch.manual_seed(123)
    resumed_model = nn.Linear(4, 1)
    resumed = fit(resumed_model, mse, make_problem(), steps=40, lr=0.05, progress=False, checkpoint=ckpt).history
    assert len(resumed) == 40
    assert resumed[:20] == first, "history before the checkpoint must be kept"
    torch.testing.assert_close(torch.tensor(resumed), torch.tensor(straight), rtol=1e-5, atol=1e-7)

    # Already trained: returns the history without training.
    again = fit(resumed_model, mse, make_problem(), steps=40, lr=0.05, progress=False, checkpoint=ckpt)
    assert again.history == resumed and again.cached


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


def mse_with_parts(model, batch):
    """A loss that also reports per-step numbers: they land in run.metrics."""
    x, y = batch
    error = model(x) - y
    return error.square().mean(), {"mae": error.abs().mean(), "step_marker": 1.0}


def test_metrics_on_step_and_state_survive_a_resumption(tmp_path):
    ckpt = tmp_path / "parts.pt"
    seen = []

    def on_step(step, model, logs):
        seen.append((step, set(logs)))
        if logs["mae"] < 0.5 and "first_below" not in state:
            state["first_below"] = step          # a decision taken from the logs, kept in state

    torch.manual_seed(0)
    state = {}
    straight = fit(nn.Linear(4, 1), mse_with_parts, make_problem(), steps=60, lr=0.05, progress=False,
                   on_step=on_step, state=state)
    assert seen[0] == (1, {"loss", "mae", "step_marker"}) and seen[-1][0] == 60, "on_step gets steps done, 1-based"
    assert set(straight.metrics) == {"mae", "step_marker"} and len(straight.metrics["mae"]) == 60
    expected = state["first_below"]

    torch.manual_seed(0)
    state = {}
    fit(nn.Linear(4, 1), mse_with_parts, make_problem(), steps=expected - 5, lr=0.05, progress=False,
        checkpoint=ckpt, on_step=on_step, state=state)
    assert "first_below" not in state
    state = {}
    resumed = fit(nn.Linear(4, 1), mse_with_parts, make_problem(), steps=60, lr=0.05, progress=False,
                  checkpoint=ckpt, on_step=on_step, state=state)
    assert state["first_below"] == expected
    torch.testing.assert_close(torch.tensor(resumed.metrics["mae"]), torch.tensor(straight.metrics["mae"]),
                               rtol=1e-5, atol=1e-7)

    state = {}
    loaded = fit(nn.Linear(4, 1), mse_with_parts, make_problem(), steps=60, lr=0.05, progress=False,
                 checkpoint=ckpt, on_step=on_step, state=state)
    assert loaded.cached and state == {"first_below": expected}, "a loaded run restores its state"
    assert loaded.metrics == resumed.metrics and loaded.seconds == pytest.approx(resumed.seconds)


def test_a_bad_loss_result_is_refused():
    with pytest.raises(TypeError, match="loss_fn must return"):
        fit(nn.Linear(4, 1), lambda m, b: (mse(m, b), 3.0), make_problem(), steps=1, progress=False)


def test_train_settings_schedule():
    flat = TrainSettings(steps=10, batch_size=4, lr=1.0)
    assert flat.scheduler is None, "no warm-up and no decay: a constant rate needs no scheduler"
    warm = TrainSettings(steps=10, batch_size=4, lr=1.0, warmup=4)
    assert [warm.lr_multiplier(s) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    cosine = TrainSettings(steps=100, batch_size=4, lr=1.0, decay="cosine", min_lr=0.1)
    assert cosine.lr_multiplier(0) == pytest.approx(1.0)
    assert cosine.lr_multiplier(50) == pytest.approx(0.1 + 0.9 * 0.5)
    assert cosine.lr_multiplier(100) == pytest.approx(0.1)
    import math
    music = TrainSettings(steps=450, batch_size=16, lr=3e-3, warmup=30, decay="cosine", min_lr=0.05)
    for step in (0, 10, 29, 30, 200, 449):   # the formula day 14 used before recipes, bit for bit
        old = min(1.0, (step + 1) / 30) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(step, 450) / 450)))
        assert music.lr_multiplier(step) == old


@pytest.mark.parametrize("kwargs, match", [
    ({"steps": -1}, "steps"), ({"batch_size": 0}, "batch_size"), ({"lr": 0.0}, "lr"),
    ({"decay": "linear"}, "decay"), ({"min_lr": 2.0}, "min_lr"), ({"seed": 1.5}, "seed"),
])
def test_train_settings_refuse_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainSettings(**{"steps": 10, "batch_size": 4, "lr": 1e-3, **kwargs})


@dataclass(frozen=True)
class LinearRecipe:
    train: TrainSettings = TrainSettings(steps=30, batch_size=32, lr=0.05)
    noise: float = 0.0

    def key(self) -> str:
        return settings_key(self)


def test_load_or_train_trains_once_then_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path))
    recipe = LinearRecipe()
    torch.manual_seed(0)
    first = load_or_train("linear", recipe, nn.Linear(4, 1), mse, make_problem(), device=torch.device("cpu"),
                          progress=False)
    path = tmp_path / "checkpoints" / f"{checkpoint_name('linear', recipe)}.pt"
    assert path.exists() and not first.cached and first.checkpoint == path
    model = nn.Linear(4, 1)
    again = load_or_train("linear", recipe, model, mse, make_problem(), device=torch.device("cpu"), progress=False)
    assert again.cached and again.history == first.history
    other = replace(recipe, noise=0.1)
    assert checkpoint_name("linear", other) != checkpoint_name("linear", recipe), "any field changes the key"
    with pytest.raises(TypeError, match="TrainSettings"):
        load_or_train("linear", object(), model, mse, make_problem(), progress=False)
    with pytest.raises(ValueError, match="name"):
        checkpoint_name("day 12/asr", recipe)


def test_random_batches_are_pure_functions_of_the_step():
    x, y = torch.arange(100.0), torch.arange(100) * 2
    data = random_batches(x, y, batch_size=8, seed=3)
    a, b = data(17), data(17)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], 2 * a[0].long()), "same step, same rows of each tensor"
    assert not torch.equal(data(17)[0], data(18)[0])
    assert not torch.equal(data(17)[0], random_batches(x, y, batch_size=8, seed=4)(17)[0])
    assert random_batches(x, batch_size=5, seed=0)(0).shape == (5,), "one tensor gives a tensor"
    with pytest.raises(ValueError, match="same, non-zero length"):
        random_batches(x, y[:5], batch_size=2, seed=0)


def test_preset_and_describe():
    presets = {"cpu": LinearRecipe(), "gpu": LinearRecipe(noise=1.0)}
    assert preset(presets, torch.device("cpu")) is presets["cpu"]
    assert preset(presets, "cuda") is presets["gpu"]
    with pytest.raises(ValueError, match="'gpu'"):
        preset({"cpu": LinearRecipe()}, "cpu")
    text = describe(presets["gpu"])
    assert text.splitlines()[0] == f"LinearRecipe (key {presets['gpu'].key()})"
    assert "noise: 1.0" in text and "steps=30" in text


def test_course_seed_reseeds_every_training_stage(monkeypatch):
    from course_lib.train import with_seed

    @dataclass(frozen=True)
    class Stage:
        train: TrainSettings = TrainSettings(steps=5, batch_size=2, lr=1e-3, seed=0)

    @dataclass(frozen=True)
    class TwoStage:
        first: Stage = Stage()
        train: TrainSettings = TrainSettings(steps=5, batch_size=2, lr=1e-3, seed=17)
        name: str = "x"

    reseeded = with_seed(TwoStage(), 3)
    assert reseeded.train.seed == 3 and reseeded.first.train.seed == 3 and reseeded.name == "x"
    presets = {"cpu": TwoStage(), "gpu": TwoStage()}
    monkeypatch.delenv("COURSE_SEED", raising=False)
    assert preset(presets, "cpu") == TwoStage()
    monkeypatch.setenv("COURSE_SEED", "3")
    assert preset(presets, "cpu") == reseeded
    monkeypatch.setenv("COURSE_SEED", "three")
    with pytest.raises(ValueError, match="COURSE_SEED"):
        preset(presets, "cpu")


def test_load_or_train_leaves_the_global_random_state_as_it_found_it(tmp_path, monkeypatch):
    """Trained now or loaded from artifacts/: what the caller draws next is the same."""
    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path))

    def noisy_mse(model, batch):
        x, y = batch
        return nn.functional.mse_loss(model(x + 0.01 * torch.randn_like(x)), y)   # draws from the global RNG

    after = []
    for _ in range(2):                                  # first trains, then loads
        model = nn.Linear(4, 1)
        torch.manual_seed(7)
        load_or_train("linear", LinearRecipe(), model, noisy_mse, make_problem(),
                      device=torch.device("cpu"), progress=False)
        after.append(torch.rand(3))
    assert torch.equal(after[0], after[1])
    torch.manual_seed(7)
    assert torch.equal(torch.rand(3), after[0]), "the caller's random stream continues as if nothing ran"
