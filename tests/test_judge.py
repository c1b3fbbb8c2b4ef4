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
