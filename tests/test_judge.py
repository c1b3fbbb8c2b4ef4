import numpy as np
import pytest
import scipy.linalg
import torch

from course_lib.data.digits import digits_split, load_digits, load_digits16
from course_lib.data.judge import load_judge
from course_lib.metrics import frechet_distance


def reference_frechet(a: np.ndarray, b: np.ndarray) -> float:
    """FID's textbook form with scipy's general matrix square root."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * covmean))


def test_frechet_distance_matches_scipy_and_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 6))
    b = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6)) * 0.5 + 1.0
    assert frechet_distance(torch.tensor(a), torch.tensor(b)) == pytest.approx(reference_frechet(a, b), rel=1e-6)
    assert frechet_distance(torch.tensor(a), torch.tensor(a)) == pytest.approx(0.0, abs=1e-8)
    # Two isotropic Gaussians: d^2 = |mu|^2 + D (s1 - s2)^2 in the limit; check the mean shift alone.
    shifted = a + 2.0
    assert frechet_distance(torch.tensor(a), torch.tensor(shifted)) == pytest.approx(6 * 4.0, rel=1e-6)
    with pytest.raises(ValueError, match="same D"):
        frechet_distance(torch.zeros(3, 2), torch.zeros(3, 4))


def test_judge_is_accurate_on_held_out_real_digits():
    judge, accuracy = load_judge()
    assert accuracy >= 0.97, f"the judge must be trustworthy; held-out accuracy {accuracy:.3f}"
    images, labels = load_digits()
    _, test = digits_split()
    x16, _ = load_digits16()
    acc16 = (judge.predict(x16[test]) == labels[test]).float().mean().item()
    assert acc16 >= 0.95, f"16x16 digits are pooled to 8x8; accuracy {acc16:.3f}"
    noise = torch.rand(200, 1, 8, 8) * 2 - 1
    real_vs_real = frechet_distance(judge.embed(images[test[:180]]), judge.embed(images[test[180:]]))
    real_vs_noise = frechet_distance(judge.embed(images[test]), judge.embed(noise))
    assert real_vs_noise > 10 * real_vs_real


def test_split_is_stratified_and_disjoint():
    train, test = digits_split()
    assert len(set(train.tolist()) & set(test.tolist())) == 0 and len(train) + len(test) == 1797
    _, labels = load_digits()
    assert torch.bincount(labels[test]).min() >= 34


def test_judges_train_once_then_load(tmp_path, monkeypatch):
    """A judge is a recipe like any model (tiny ones here): trained on the CPU, cached under
    its recipe's key, loaded afterwards; the caller's random state is left alone."""
    from course_lib.data.digits import MovingDigitsSpec
    from course_lib.data.frame_judge import FrameJudgeRecipe, train_frame_judge
    from course_lib.data.judge import DigitJudgeRecipe, train_digit_judge
    from course_lib.train import TrainSettings
    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path))
    tiny = TrainSettings(steps=3, batch_size=8, lr=2e-3)
    for train, recipe, name in ((train_digit_judge, DigitJudgeRecipe(train=tiny), "digit_judge"),
                                (train_frame_judge, FrameJudgeRecipe(data=MovingDigitsSpec(clips=8, frames=2),
                                                                     train=tiny), "frame_judge")):
        torch.manual_seed(7)
        first = train(recipe, progress=False)
        drawn = torch.rand(1)
        torch.manual_seed(7)
        again = train(recipe, progress=False)
        assert torch.equal(torch.rand(1), drawn), f"{name} changed the global random state"
        assert not first.run.cached and again.run.cached and first.run.history == again.run.history
        assert first.accuracy == again.accuracy and 0 <= first.accuracy <= 1
        assert list(tmp_path.glob(f"checkpoints/{name}_{recipe.key()}.pt"))


def test_one_judge_recipe_for_every_device():
    from course_lib.data import frame_judge, judge
    # measuring instruments: one recipe each (no PRESETS table that could differ on a GPU)
    assert not [n for n in vars(judge) if n.endswith("PRESETS")]
    assert not [n for n in vars(frame_judge) if n.endswith("PRESETS")]
    assert judge.JUDGE_RECIPE.train.steps == 800 and frame_judge.FRAME_JUDGE_RECIPE.train.steps == 500


def test_random_shift_moves_the_whole_batch_by_at_most_one_pixel():
    from course_lib.data.judge import random_shift
    images, _ = load_digits()
    x = images[:5]
    for seed in range(6):
        shifted = random_shift(x, 1, torch.Generator().manual_seed(seed))
        assert shifted.shape == x.shape
        matches = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                   if torch.equal(torch.roll(torch.nn.functional.pad(x, (1, 1, 1, 1), value=-1.0), (dy, dx), (-2, -1))
                                  [..., 1:9, 1:9], shifted)]
        assert matches, "the shift must be one translation of the whole batch"
