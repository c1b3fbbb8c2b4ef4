"""Day 18's Q-Former question answerer: sequences and targets line up, the cached greedy
answer equals decoding without a cache, and the wall truth follows the positions."""

import pytest
import torch

from course_lib.video.qformer import (BOS, EOS, VOCAB, VideoQA, VideoQAConfig, answer, encode_words, qa_loss,
                                      qa_sequences)


def test_targets_are_the_answer_and_eos_shifted_by_one():
    tokens, targets = qa_sequences(["which digit ?", "describe"], ["3", "a 3 moving up-left"])
    q = encode_words("which digit ?")
    assert tokens[0, :len(q) + 3].tolist() == q + [BOS, VOCAB.index("3"), EOS]
    assert targets[0].tolist()[:len(q) + 2] == [-100] * len(q) + [VOCAB.index("3"), EOS]
    assert (targets[0, len(q) + 2:] == -100).all()
    answer_ids = encode_words("a 3 moving up left")            # the hyphen splits
    assert targets[1, 1:len(answer_ids) + 2].tolist() == answer_ids + [EOS]     # "describe" <bos>: from 1
    assert tokens.shape == targets.shape and (tokens[0, len(q) + 3:] == 0).all()
    with pytest.raises(ValueError, match="vocabulary"):
        encode_words("which colour ?")


def test_cached_greedy_answers_equal_full_forward_decoding():
    torch.manual_seed(0)
    config = VideoQAConfig(frame_dim=8, queries=2, dim=16, qformer_depth=1, depth=2, heads=2)
    model = VideoQA(config).eval()
    features, index = torch.randn(3, 4, 8), torch.tensor([0, 2, 4, 6])
    questions = ["which digit ?", "describe", "which digit ?"]
    got = answer(model, features, index, questions, max_words=4)
    for i, q in enumerate(questions):                        # greedy by full forward passes, no cache
        tokens = qa_sequences([q])[0]
        words = []
        for _ in range(5):
            nxt = int(model(features[i:i + 1], index, tokens)[0, -1].argmax())
            if nxt == EOS:
                break
            words.append(VOCAB[nxt])
            tokens = torch.cat([tokens, torch.tensor([[nxt]])], dim=1)
        assert got[i] == " ".join(words)
    loss = qa_loss(model, (features, index, *qa_sequences(questions, ["3", "a 3 moving up", "no"])))
    assert torch.isfinite(loss)
    with pytest.raises(ValueError, match="questions"):
        answer(model, features, index, questions[:2])


def test_a_digit_hits_the_wall_only_when_it_reaches_it():
    from course_lib.data.digits import MovingDigits
    from course_lib.video.qa_train import clip_answers, hits_wall

    positions = torch.tensor([[[0, 4], [1, 4], [2, 4]],          # moving down from the top wall: no hit
                              [[6, 0], [7, 0], [8, 0]],          # reaches the bottom (span 8): hit
                              [[4, 0], [4, 1], [4, 2]]])         # starts at the left wall, moves right: no
    data = MovingDigits(torch.zeros(3, 1, 3, 16, 16), torch.tensor([1, 2, 3]), torch.zeros(3, dtype=torch.long),
                        positions, torch.tensor([[1, 0], [1, 0], [0, 1]]),
                        ["a 1 moving down", "a 2 moving down", "a 3 moving right"])
    assert hits_wall(data, canvas=16).tolist() == [False, True, False]
    answers = clip_answers(data, canvas=16)
    assert answers["wall"] == ["no", "yes", "no"] and answers["direction"][2] == "right"
    assert answers["digit"] == ["1", "2", "3"]
