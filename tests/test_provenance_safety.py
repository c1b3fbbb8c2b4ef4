"""Prompt filter (normalised against evasion) and the fake-digit detector with ROC/AUC."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from course_lib.provenance import safety as S


@pytest.mark.parametrize("prompt, blocked", S.EVASION_SET)
def test_filter_catches_the_evasion_set_and_spares_look_alikes(prompt, blocked):
    assert S.PromptFilter()(prompt) == blocked, (prompt, S.skeleton(prompt))


@pytest.mark.parametrize("text, expected", [
    ("DeepFake", "depfake"), ("d 3 3 p", "dep"), ("ｄｅｅｐ", "dep"), ("dеep", "dep"),
    ("de\u200bep", "dep"), ("dëëp", "dep"), ("𝐝𝐞𝐞𝐩", "dep"), ("L1!|l", "i"),
    ("m@$7er", "master"), ("ﬁle", "fie"), ("", ""), ("123", "ize"),
])
def test_skeleton(text, expected):
    assert S.skeleton(text) == expected


def test_filter_reports_which_terms_and_refuses_bad_input():
    result = S.PromptFilter().check("deepfake of Jon Okafor")
    assert result.blocked and set(result.matches) == {"deepfake", "Jon Okafor"}
    assert S.PromptFilter(["Ann"]).check("Anne is here").blocked is False
    assert S.PromptFilter(["Ann"]).check("a-n-n is here").blocked is True
    with pytest.raises(TypeError, match="prompt"):
        S.PromptFilter().check(b"bytes")
    with pytest.raises(ValueError, match="no letters"):
        S.PromptFilter(["---", "ok"])


def test_roc_and_auc_match_sklearn():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    scores = np.round(labels + rng.normal(0, 1.0, 300), 1)         # rounding makes ties
    fpr, tpr, thresholds = S.roc_curve(labels, scores)
    sk_fpr, sk_tpr, _ = sk_roc_curve(labels, scores, drop_intermediate=False)
    assert np.allclose(fpr, sk_fpr) and np.allclose(tpr, sk_tpr)
    assert abs(S.auc(labels, scores) - roc_auc_score(labels, scores)) < 1e-12
    assert S.auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert S.auc([0, 1], [0.5, 0.5]) == 0.5
    assert S.auc([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4]) == 0.0
    with pytest.raises(ValueError, match="both classes"):
        S.auc([1, 1], [0.1, 0.2])


def test_fake_digits_look_like_the_real_ones_in_range_and_levels():
    fakes = S.fake_digits(50, seed=0)
    assert fakes.shape == (50, 64)
    assert fakes.min() >= 0 and fakes.max() <= 16 and np.all(fakes == np.round(fakes))
    assert not np.array_equal(fakes, S.fake_digits(50, seed=1))


def test_detector_separates_real_from_generated_on_held_out_digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    idx = np.random.default_rng(0).permutation(len(data.data))
    train, test = idx[:1200], idx[1200:]
    real_train, real_test = data.data[train], data.data[test]
    fake = S.fake_digits(1200 + len(test), seed=1, train=real_train,
                         train_labels=data.target[train])
    model = S.fit_detector(real_train, fake[:1200])
    labels = np.r_[np.zeros(len(test)), np.ones(len(test))]
    scores = S.detector_scores(model, np.concatenate([real_test, fake[1200:]]))
    value = S.auc(labels, scores)
    assert value >= 0.9 and abs(value - roc_auc_score(labels, scores)) < 1e-12


def test_filter_scores_counts_against_a_hand_count():
    labelled = [("deepfake", True), ("nude", True), ("a cat", True), ("a dog", False),
                ("undress", False)]
    scores = S.filter_scores(S.PromptFilter(), labelled)
    assert (scores["tp"], scores["fp"], scores["fn"], scores["tn"]) == (2, 1, 1, 1)
    assert scores["precision"] == 2 / 3 and scores["recall"] == 2 / 3


def test_held_out_set_is_apart_from_the_tuning_set_and_has_both_classes():
    tuned = {p for p, _ in S.EVASION_SET}
    assert not tuned & {p for p, _ in S.HELD_OUT_SET}
    labels = [b for _, b in S.HELD_OUT_SET]
    assert sum(labels) >= 10 and len(labels) - sum(labels) >= 10
