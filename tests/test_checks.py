import pytest
import torch

from course_lib.audio.normalize import MelNormalizer
from course_lib.checks import check_choice, check_positive_int, check_range, check_shape
from course_lib.metrics import word_error_rate


def test_check_shape_names_the_argument_and_the_expected_shape():
    x = torch.zeros(2, 80, 9)
    assert check_shape(x, "mels", "B n_mels T", n_mels=80) is x
    check_shape(torch.zeros(3, 3), "m", "N N")
    with pytest.raises(ValueError, match=r"mels must be \(B, n_mels=80, T\); got \(2, 3, 9\)"):
        check_shape(torch.zeros(2, 3, 9), "mels", "B n_mels T", n_mels=80)
    with pytest.raises(ValueError, match=r"x must be \(B, 1, H\); got \(2, 3\)"):
        check_shape(torch.zeros(2, 3), "x", "B 1 H")
    with pytest.raises(ValueError, match=r"m must be \(N, N\)"):
        check_shape(torch.zeros(3, 4), "m", "N N")
    with pytest.raises(TypeError, match="mels must be a tensor"):
        check_shape([1, 2], "mels", "B T")


def test_value_checks():
    check_choice("a", "mode", ("a", "b"))
    with pytest.raises(ValueError, match=r"mode must be one of \('a', 'b'\); got 'c'"):
        check_choice("c", "mode", ("a", "b"))
    check_positive_int(3, "steps")
    check_positive_int(0, "steps", allow_zero=True)
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="steps must be a positive int"):
            check_positive_int(bad, "steps")
    check_range(0.5, "p", 0, 1)
    with pytest.raises(ValueError, match=r"p must be a number in \[0, 1\]"):
        check_range(1.5, "p", 0, 1)


def test_mel_normalizer_matches_per_band_statistics():
    g = torch.Generator().manual_seed(0)
    mels = [torch.randn(4, 30, generator=g) * torch.arange(1.0, 5.0)[:, None] + 7, torch.randn(4, 12, generator=g)]
    norm = MelNormalizer(4).fit(mels)
    frames = torch.cat(mels, 1)
    z = norm(frames)
    torch.testing.assert_close(z.mean(1), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.std(1), torch.ones(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(norm.inverse(norm(mels[1][None])), mels[1][None])
    assert set(norm.state_dict()) == {"mean", "std"}, "the statistics travel with the weights"
    constant = MelNormalizer(2).fit([torch.ones(2, 5)])
    assert (constant.std == 1e-3).all(), "a silent band's std is floored, not zero"
    with pytest.raises(ValueError, match=r"\(4, frames\)"):
        norm.fit([torch.zeros(3, 5)])


def test_word_error_rate_counts_edits_over_reference_words():
    # one substitution + one insertion over 5 reference words
    assert word_error_rate(["a b c", "d e"], ["a x c", "d e f"]) == pytest.approx(2 / 5)
    assert word_error_rate(["a b"], [""]) == 1.0
    assert word_error_rate(["a"], ["a b c"]) == 2.0, "insertions can push WER over 1"
    with pytest.raises(ValueError, match="equally many"):
        word_error_rate(["a"], [])
    with pytest.raises(ValueError, match="at least one word"):
        word_error_rate([" "], ["a"])
