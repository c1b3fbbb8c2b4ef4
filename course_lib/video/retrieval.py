"""Video–text retrieval, CLIP4Clip-style (day 18): a frame encoder, a temporal head, day
08's caption encoder, and a symmetric contrastive loss.

    frames (B, k, 1, H, W) ─ FrameEncoder (per frame) ─ f (B, k, D)
        ─ temporal head: "mean"         v = mean_t f_t                       (order-blind)
                         "transformer"  v = mean_t Transformer(f_t + P[i_t]) (P: the frame's index in the clip)
        ─ Linear, L2-normalise ─ v̂ (B, E)
    caption ─ TextEncoder (day 08) ─ mean over words ─ Linear, L2-normalise ─ t̂ (B, E)

    logits = s · v̂ t̂ᵀ (B, B),  s = exp(log_scale) learned (CLIP starts at 1 / 0.07, caps at 100)
    loss = ½ [CE(logits, y) + CE(logitsᵀ, y)]      symmetric InfoNCE (CLIP, Radford et al. 2021)

With few distinct captions ("a 3 moving up-left": 80 of them) a batch holds the same
caption more than once; `symmetric_info_nce` can spread the target over every pair with
the same caption (`same`). For identical captions that changes nothing: their text
vectors are identical, so the spread target costs what the diagonal one does, and both
have a floor of log m for a caption m times in the batch. It matters when matching
captions differ in wording (paraphrases), as in real data sets.

Mean pooling is what CLIP4Clip calls "meanP": the average of frame features does not
change when the frames are shuffled or reversed, so a digit moving left and the same
clip played backwards (moving right) get the same vector. The temporal transformer
("seqTransf") sees each frame's position and can tell them apart.

    model = VideoTextModel(RetrievalConfig(head="transformer"))
    v, t = model.encode_video(frames, frame_index), model.encode_text(ids, pad)
    scores = retrieval_scores(v @ t.T, video_caption, caption_ids)   # R@1, R@5, median rank
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.checks import check_positive_int, check_shape
from course_lib.nn.text_encoder import TextEncoder, TextEncoderConfig
from course_lib.nn.transformer import EncoderBlock

__all__ = ["RetrievalConfig", "FrameEncoder", "VideoTextModel", "symmetric_info_nce", "retrieval_scores", "HEADS"]

HEADS = ("mean", "transformer")


@dataclass(frozen=True)
class RetrievalConfig:
    """Sizes: frames of `canvas` × `canvas` pixels, `max_frames` positions, the feature width
    `dim`, the joint space `embed_dim`, the temporal `head` ("mean" or "transformer") and
    its `depth` and `heads`, the caption encoder's `text_depth`."""
    canvas: int = 16
    max_frames: int = 8
    dim: int = 64
    embed_dim: int = 64
    head: str = "transformer"
    depth: int = 2
    heads: int = 4
    text_depth: int = 2

    def __post_init__(self):
        for name in ("canvas", "max_frames", "dim", "embed_dim", "depth", "heads", "text_depth"):
            check_positive_int(getattr(self, name), name)
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}; got {self.head!r}")
        if self.canvas % 4:
            raise ValueError(f"canvas must be a multiple of 4 (two stride-2 convolutions); got {self.canvas}")


class FrameEncoder(nn.Module):
    """Frames (N, 1, H, W) in [-1, 1] -> (N, D): three 3×3 convolutions (the last two with
    stride 2), GELU, and a linear layer on the flattened map (the image tower, small)."""

    def __init__(self, canvas: int, dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.GELU(),
                                 nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.GELU(),
                                 nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.GELU(), nn.Flatten(),
                                 nn.Linear(64 * (canvas // 4) ** 2, dim))

    def forward(self, frames: Tensor) -> Tensor:
        return self.net(frames)


class VideoTextModel(nn.Module):
    """Two towers into one space: `encode_video` (B, k, 1, H, W) frames at clip positions
    frame_index (k,) -> (B, E); `encode_text` ids, pad (B, L) -> (B, E); both unit length."""

    def __init__(self, config: RetrievalConfig):
        super().__init__()
        self.config = c = config
        self.frames = FrameEncoder(c.canvas, c.dim)
        if c.head == "transformer":
            self.position = nn.Embedding(c.max_frames, c.dim)
            self.temporal = nn.ModuleList(EncoderBlock(c.dim, c.heads, mlp_ratio=2.0) for _ in range(c.depth))
        self.video_proj = nn.Linear(c.dim, c.embed_dim)
        self.text = TextEncoder(TextEncoderConfig(dim=c.dim, depth=c.text_depth, heads=c.heads))
        self.text_proj = nn.Linear(c.dim, c.embed_dim)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def frame_features(self, frames: Tensor) -> Tensor:
        """(B, k, 1, H, W) -> per-frame features (B, k, D) (what a Q-Former reads)."""
        check_shape(frames, "frames", "B K C H W", C=1, H=self.config.canvas, W=self.config.canvas)
        b, k = frames.shape[:2]
        return self.frames(frames.flatten(0, 1)).view(b, k, -1)

    def pool(self, features: Tensor, frame_index: Tensor) -> Tensor:
        """Per-frame features (B, k, D) at clip positions frame_index (k,) -> (B, D)."""
        if self.config.head == "mean":
            return features.mean(1)
        if frame_index.shape != (features.shape[1],) or int(frame_index.max()) >= self.config.max_frames:
            raise ValueError(f"frame_index must be ({features.shape[1]},) positions < {self.config.max_frames}; "
                             f"got {tuple(frame_index.shape)}")
        x = features + self.position(frame_index.to(features.device))[None]
        for block in self.temporal:
            x = block(x, None)
        return x.mean(1)

    def encode_video(self, frames: Tensor, frame_index: Tensor | None = None) -> Tensor:
        if frame_index is None:
            frame_index = torch.arange(frames.shape[1])
        v = self.video_proj(self.pool(self.frame_features(frames), frame_index))
        return F.normalize(v, dim=-1)

    def encode_text(self, ids: Tensor, pad: Tensor) -> Tensor:
        t = self.text_proj(TextEncoder.pool(self.text(ids, pad), pad))
        return F.normalize(t, dim=-1)

    def scale(self) -> Tensor:
        """s = exp(log_scale), capped at 100 as in CLIP."""
        return self.log_scale.clamp(max=math.log(100.0)).exp()


def symmetric_info_nce(video: Tensor, text: Tensor, scale: Tensor | float,
                       same: Tensor | None = None) -> Tensor:
    """Unit vectors video (B, E), text (B, E): ½ [CE(s V Tᵀ, y) + CE(s T Vᵀ, y)], with y the
    diagonal, or, given `same` (B, B) bool (clip i and caption j match), the uniform
    distribution over each row's matches (the temperature 1 / s is applied once, here)."""
    check_shape(video, "video", "B E")
    check_shape(text, "text", "B E", B=video.shape[0], E=video.shape[1])
    logits = scale * video @ text.T                                       # (B, B)
    if same is None:
        same = torch.eye(len(video), dtype=torch.bool, device=video.device)
    check_shape(same, "same", "B B", B=len(video))
    target = same.float() / same.float().sum(1, keepdim=True)
    target_t = same.T.float() / same.T.float().sum(1, keepdim=True)
    loss_v = -(target * logits.log_softmax(1)).sum(1).mean()             # each clip picks its captions
    loss_t = -(target_t * logits.T.log_softmax(1)).sum(1).mean()         # each caption picks its clips
    return (loss_v + loss_t) / 2


def retrieval_scores(similarity: Tensor, video_caption: Tensor) -> dict[str, float]:
    """similarity (N, C) between N gallery clips and C distinct captions; video_caption (N,)
    the index of each clip's caption. Text→video: every caption present ranks the N clips
    (a hit is any clip with that caption); video→text: every clip ranks the C captions.
    R@1, R@5 (shares of queries) and the median rank (1 = first) both ways, and the
    chance R@1 of each direction."""
    check_shape(similarity, "similarity", "N C")
    check_shape(video_caption, "video_caption", "N", N=similarity.shape[0])
    n, c = similarity.shape
    # video -> text: rank of the clip's own caption among the C
    own = similarity.gather(1, video_caption[:, None])                    # (N, 1)
    v2t = (similarity > own).sum(1) + 1                                   # (N,)
    # text -> video: rank of the best clip with the caption among the N
    present = video_caption.unique()
    order = similarity[:, present].argsort(0, descending=True)            # (N, P): clips by score per caption
    matches = video_caption[order] == present[None]                       # (N, P)
    t2v = matches.float().argmax(0) + 1                                   # (P,)
    counts = torch.bincount(video_caption, minlength=c)[present].float()

    def summary(ranks: Tensor) -> dict[str, float]:
        ranks = ranks.float()
        return {"R@1": (ranks <= 1).float().mean().item(), "R@5": (ranks <= 5).float().mean().item(),
                "median rank": ranks.quantile(0.5).item()}
    return {"text→video": summary(t2v), "video→text": summary(v2t),
            "chance R@1": {"text→video": (counts / n).mean().item(), "video→text": 1 / c}}
