"""Same numbers twice: generated data and a short training run repeat bit for bit on
one machine (same seeds, same thread count). Across machines a different CPU kernel can
move a trained model's numbers as another seed would; the lessons' asserts are set from
the spread over seeds for that reason (README, "Reproducibility")."""

from dataclasses import replace

import pytest
import torch

from course_lib.diffusion import denoisers_train, dit_train
from course_lib.train import TrainSettings, checkpoint_name, checkpoint_path

pytestmark = pytest.mark.usefixtures("one_thread")


def test_generated_data_repeats_exactly(tmp_path, monkeypatch):
    from course_lib.data.digits import MovingDigitsSpec
    from course_lib.data.sounds import drum_loop

    spec = MovingDigitsSpec(clips=40, frames=4, canvas=12, speeds=(1, 2), seed=5)
    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path / "a"))
    first = spec.load("train")
    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path / "b"))     # no cache: generated again
    second = spec.load("train")
    assert torch.equal(first.videos, second.videos) and torch.equal(first.labels, second.labels)
    a, b = drum_loop(120, bars=2, seed=3), drum_loop(120, bars=2, seed=3)
    assert torch.equal(a.wave, b.wave) and torch.equal(a.onset_times, b.onset_times)


@pytest.mark.parametrize("train, presets, name", [
    (dit_train.train_dit, dit_train.PRESETS, "dit_digits"),
    (denoisers_train.train_denoiser, denoisers_train.PRESETS, "ddpm_digits"),
])
def test_a_short_training_run_twice_gives_equal_weights(tmp_path, monkeypatch, train, presets, name):
    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path))
    recipe = replace(presets["cpu"], train=TrainSettings(steps=30, batch_size=16, lr=1e-3, warmup=5))
    first = train(recipe, device=torch.device("cpu"), progress=False)
    weights = {k: v.clone() for k, v in first.model.state_dict().items()}
    checkpoint_path(checkpoint_name(name, recipe)).unlink()             # train again, from nothing
    torch.manual_seed(1234)                                             # whatever the global state was
    second = train(recipe, device=torch.device("cpu"), progress=False)
    assert not second.run.cached and second.run.history == first.run.history
    for key, value in second.model.state_dict().items():
        assert torch.equal(value, weights[key]), f"{key} differs between two identical runs"
