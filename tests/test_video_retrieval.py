"""Day 18's video–text model: the contrastive loss against a closed form, mean pooling is
blind to frame order and the temporal head is not, and the retrieval metrics on a
gallery whose answers are known."""

import pytest
import torch
import torch.nn.functional as F

from course_lib.video.retrieval import RetrievalConfig, VideoTextModel, retrieval_scores, symmetric_info_nce
from course_lib.video.retrieval_train import ALL_CAPTIONS, caption_index


def test_symmetric_info_nce_is_the_mean_of_both_cross_entropies():
    g = torch.Generator().manual_seed(0)
    v, t = F.normalize(torch.randn(5, 8, generator=g), dim=1), F.normalize(torch.randn(5, 8, generator=g), dim=1)
    logits = 10.0 * v @ t.T
    expected = (F.cross_entropy(logits, torch.arange(5)) + F.cross_entropy(logits.T, torch.arange(5))) / 2
    torch.testing.assert_close(symmetric_info_nce(v, t, 10.0), expected)
    # two clips with one caption: each is a positive of the other's caption, half the target each
    same = torch.eye(5, dtype=torch.bool)
    same[0, 1] = same[1, 0] = True
    soft = symmetric_info_nce(v, t, 10.0, same)
    target = same.float() / same.float().sum(1, keepdim=True)
    by_hand = (-(target * logits.log_softmax(1)).sum(1).mean() - (target * logits.T.log_softmax(1)).sum(1).mean()) / 2
    torch.testing.assert_close(soft, by_hand)
    perfect = symmetric_info_nce(v, v, 100.0)
    assert perfect < 0.05 < symmetric_info_nce(v, v.flip(0), 100.0)
    with pytest.raises(ValueError, match="text"):
        symmetric_info_nce(v, t[:4], 1.0)


def test_mean_pooling_ignores_order_and_the_temporal_head_does_not():
    torch.manual_seed(0)
    frames = torch.rand(2, 4, 1, 16, 16) * 2 - 1
    index = torch.tensor([0, 2, 4, 6])
    mean = VideoTextModel(RetrievalConfig(head="mean", dim=32, embed_dim=16)).eval()
    temporal = VideoTextModel(RetrievalConfig(head="transformer", dim=32, embed_dim=16)).eval()
    with torch.no_grad():
        torch.testing.assert_close(mean.encode_video(frames, index), mean.encode_video(frames.flip(1), index))
        forward, backward = temporal.encode_video(frames, index), temporal.encode_video(frames.flip(1), index)
    assert not torch.allclose(forward, backward, atol=1e-4)
    assert torch.allclose(forward.norm(dim=1), torch.ones(2))
    assert temporal.scale().item() == pytest.approx(1 / 0.07, rel=1e-5)
    with torch.no_grad():
        temporal.log_scale.fill_(10.0)
    assert temporal.scale().item() == pytest.approx(100.0)              # capped as in CLIP
    with pytest.raises(ValueError, match="head"):
        RetrievalConfig(head="max")
    with pytest.raises(ValueError, match="frame_index"):
        temporal.encode_video(frames, torch.tensor([0, 2, 4, 9]))


def test_retrieval_scores_on_a_gallery_with_known_answers():
    captions = torch.tensor([0, 0, 1, 2])                    # clips 0 and 1 share caption 0
    similarity = torch.tensor([[0.9, 0.1, 0.0],               # clip 0: its caption first
                               [0.2, 0.8, 0.0],               # clip 1: caption 1 first, its own second
                               [0.0, 0.7, 0.1],               # clip 2: right
                               [0.5, 0.0, 0.4]])              # clip 3: caption 0 first, its own second
    s = retrieval_scores(similarity, captions)
    assert s["video→text"]["R@1"] == 0.5 and s["video→text"]["median rank"] == 1.5
    # text -> video: caption 0 finds clip 0 first; caption 1 ranks clip 1 (0.8) over clip 2
    # (0.7): rank 2; caption 2 ranks clip 3 (0.4) first
    assert s["text→video"]["R@1"] == pytest.approx(2 / 3) and s["text→video"]["R@5"] == 1.0
    assert s["chance R@1"]["video→text"] == pytest.approx(1 / 3)
    assert s["chance R@1"]["text→video"] == pytest.approx((2 / 4 + 1 / 4 + 1 / 4) / 3)


def test_every_caption_has_an_index():
    assert len(ALL_CAPTIONS) == 80 and len(set(ALL_CAPTIONS)) == 80
    assert caption_index(["a 3 moving up-left", ALL_CAPTIONS[0]]).tolist() == [ALL_CAPTIONS.index("a 3 moving up-left"), 0]
    with pytest.raises(ValueError, match="unknown captions"):
        caption_index(["a 3 moving sideways"])
