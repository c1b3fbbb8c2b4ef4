"""A SyncNet-style lip-sync expert: do these five frames of lips go with this 0.2 s of audio?

    model = SyncNet(SyncNetConfig())                  # trained by syncnet_train.train_syncnet
    v, a = embed_clip(model, frames, mel)             # (T, D) each, one per video frame
    avsync.offset_search(v, a).offset                 # 0 for a synced clip

Two encoders map the two modalities into one space (Chung & Zisserman, 2016; the
"expert discriminator" of Wav2Lip, Prajwal et al., 2020):
- the face encoder reads the **lower half** of 5 consecutive frames stacked on the
  channel axis, (5 C, H/2, W) (`avsync.video_windows`, then `lower_half`);
- the audio encoder reads the 16 mel frames (0.2 s at 80 Hz) starting at the same
  instant, (80, 16) (`avsync.mel_windows`).
Both end in a ReLU and are L2-normalised, so the cosine similarity
sim = <v, a> / (|v| |a|) lies in [0, 1] and can be read as the probability that the
pair is in sync. The loss is binary cross-entropy on it (`sync_loss`):

    L = - [ y log sim + (1 - y) log (1 - sim) ],   y = 1 in sync, 0 off sync

Off-sync pairs take the audio of the same clip at another instant (2 to 15 frames
away), so the encoders must learn timing, not who is speaking (`FaceWindows.sample`).

The recipe, its size presets and `train_syncnet` are in `syncnet_train.py`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.checks import check_shape
from course_lib.sync.avsync import MEL_RATE, VIDEO_FPS, mel_windows, video_windows

__all__ = ["SyncNetConfig", "SyncNet", "lower_half", "normalize_mel", "pad_mel", "sync_loss",
           "FaceWindows", "embed_clip", "sync_accuracy", "WINDOW", "MEL_WINDOW"]

WINDOW = 5                   # video frames per face window (0.2 s at 25 fps)
MEL_WINDOW = 16              # mel frames per audio window (0.2 s at 80 Hz)
MEL_SHIFT, MEL_SCALE = 5.0, 3.0    # log-mels in about [-11.5, 3] -> about [-2, 3]


def lower_half(frames: Tensor) -> Tensor:
    """The rows H // 2 .. H - 1 of frames (..., C, H, W): the mouth region, (..., C, H - H//2, W)."""
    if frames.ndim < 3:
        raise ValueError(f"frames must be (..., C, H, W); got {tuple(frames.shape)}")
    return frames[..., frames.shape[-2] // 2:, :]


def pad_mel(mel: Tensor, n_video_frames: int) -> Tensor:
    """mel (n_mels, F) padded at the end with its quietest value (silence, not the zeros of
    avsync.mel_windows) so that the last video frame's 16-frame window fits:
    F' = max(F, round((n_video_frames - 1) * 3.2) + 16)."""
    needed = math.floor((n_video_frames - 1) * MEL_RATE / VIDEO_FPS + 0.5) + MEL_WINDOW
    return F.pad(mel, (0, max(0, needed - mel.shape[-1])), value=float(mel.min()))


def normalize_mel(mel: Tensor) -> Tensor:
    """Log-mels scaled to roughly unit range for the encoders: (mel + 5) / 3."""
    return (mel + MEL_SHIFT) / MEL_SCALE


def sync_loss(video_emb: Tensor, audio_emb: Tensor, in_sync: Tensor, eps: float = 1e-6) -> Tensor:
    """Wav2Lip's expert loss: BCE on the cosine similarity, mean over the batch.

        sim_i = cos(v_i, a_i) clamped to [eps, 1 - eps]
        L = mean_i -[y_i log sim_i + (1 - y_i) log(1 - sim_i)]

    video_emb, audio_emb: (B, D) non-negative embeddings (so sim is in [0, 1]);
    in_sync: (B,) 1.0 for in-sync pairs, 0.0 for off-sync pairs.
    """
    if video_emb.shape != audio_emb.shape or video_emb.ndim != 2:
        raise ValueError(f"video_emb and audio_emb must both be (B, D); got "
                         f"{tuple(video_emb.shape)} and {tuple(audio_emb.shape)}")
    check_shape(in_sync, "in_sync", "B", B=video_emb.shape[0])
    sim = F.cosine_similarity(video_emb.float(), audio_emb.float(), dim=-1).clamp(eps, 1 - eps)  # (B,)
    y = in_sync.float()
    # written out: F.binary_cross_entropy refuses to run under CUDA autocast
    return -(y * sim.log() + (1 - y) * (1 - sim).log()).mean()


@dataclass(frozen=True)
class SyncNetConfig:
    """Sizes. size: frame side; channels: 3 (RGB); width: base conv channels; dim: embedding
    size; n_mels: mel bands of the audio windows."""
    size: int = 32
    channels: int = 3
    width: int = 32
    dim: int = 64
    n_mels: int = 80


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1), nn.BatchNorm2d(c_out), nn.ReLU())


def _conv1d(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(c_in, c_out, 3, stride, 1), nn.BatchNorm1d(c_out), nn.ReLU())


class SyncNet(nn.Module):
    """Face encoder (5 C, H/2, W) -> (D,) and audio encoder (80, 16) -> (D,), unit norm, >= 0."""

    def __init__(self, config: SyncNetConfig = SyncNetConfig()):
        super().__init__()
        self.config = c = config
        if c.size % 16:
            raise ValueError(f"size must be a multiple of 16; got {c.size}")
        w = c.width
        self.face = nn.Sequential(                    # (B, 5C, H/2, W)
            _conv(WINDOW * c.channels, w), _conv(w, 2 * w, 2),     # (B, 2w, H/4, W/2)
            _conv(2 * w, 2 * w, 2), _conv(2 * w, 4 * w, 2),       # (B, 4w, H/16, W/8)
            nn.Flatten(), nn.Linear(4 * w * (c.size // 16) * (c.size // 8), c.dim), nn.ReLU())
        self.audio = nn.Sequential(                   # (B, 80, 16)
            _conv1d(c.n_mels, 2 * w), _conv1d(2 * w, 2 * w, 2),    # (B, 2w, 8)
            _conv1d(2 * w, 4 * w, 2),                              # (B, 4w, 4)
            nn.Flatten(), nn.Linear(4 * w * MEL_WINDOW // 4, c.dim), nn.ReLU())

    def embed_face(self, windows: Tensor) -> Tensor:
        """windows: (B, 5 C, H, W) full frames in [0, 1] (the lower half is taken here) -> (B, D)."""
        c = self.config
        check_shape(windows, "windows", "B C H W", C=WINDOW * c.channels, H=c.size, W=c.size)
        x = lower_half(windows) * 2 - 1                        # (B, 5C, H/2, W) in [-1, 1]
        return F.normalize(self.face(x), dim=-1)               # (B, D)

    def embed_audio(self, mels: Tensor) -> Tensor:
        """mels: (B, 80, 16) log-mel windows -> (B, D)."""
        check_shape(mels, "mels", "B n_mels T", n_mels=self.config.n_mels, T=MEL_WINDOW)
        return F.normalize(self.audio(normalize_mel(mels)), dim=-1)   # (B, D)

    def forward(self, windows: Tensor, mels: Tensor) -> Tensor:
        """Cosine similarity in [0, 1] of each pair, (B,)."""
        return F.cosine_similarity(self.embed_face(windows), self.embed_audio(mels), dim=-1)


# ---------------------------------------------------------------- training data

class FaceWindows:
    """Random (5-frame window, mel window) pairs from a list of FaceClips.

    All frames are concatenated once, (N, C, H, W) float; a window is gathered by index,
    so no (T, 5C, H, W) copy is ever made. Window t of a clip is exactly
    avsync.video_windows(frames)[t] and avsync.mel_windows(mel, T)[t].
    """

    def __init__(self, clips, max_shift: int = 15):
        if not clips:
            raise ValueError("clips is empty")
        self.frames = torch.cat([c.video() for c in clips])           # (N, C, H, W)
        mels = [pad_mel(c.mel, c.n_frames) for c in clips]            # every frame has 16 mels
        self.mels = torch.cat(mels, dim=1)                            # (80, F_total)
        self.frame_start, self.mel_start, self.lengths = [], [], []
        f0 = m0 = 0
        for c, m in zip(clips, mels):
            self.frame_start.append(f0)
            self.mel_start.append(m0)
            self.lengths.append(c.n_frames)
            f0, m0 = f0 + c.n_frames, m0 + m.shape[1]
        self.max_shift = max_shift
        # windows that fit inside their clip: t in [0, T - 5]
        self.positions = [(i, t) for i, n in enumerate(self.lengths) for t in range(n - WINDOW + 1)]

    def face(self, clip: int, t: Tensor) -> Tensor:
        """(B,) window starts of one clip -> (B, 5 C, H, W)."""
        index = self.frame_start[clip] + t[:, None] + torch.arange(WINDOW)     # (B, 5)
        return self.frames[index].flatten(1, 2)

    def mel(self, clip: int, t: Tensor) -> Tensor:
        """(B,) window starts -> (B, 80, 16), starting at mel frame round(t * 3.2)."""
        start = torch.floor(t.double() * MEL_RATE / VIDEO_FPS + 0.5).long()
        index = self.mel_start[clip] + start[:, None] + torch.arange(MEL_WINDOW)   # (B, 16)
        return self.mels[:, index].permute(1, 0, 2)

    def sample(self, batch_size: int, rng: random.Random) -> dict[str, Tensor]:
        """Half in-sync pairs, half off-sync (audio 2..max_shift frames away, same clip).

        Returns faces (B, 5C, H, W), mels (B, 80, 16), in_sync (B,) float, shift (B,) long.
        """
        faces, mels, labels, shifts = [], [], [], []
        for b in range(batch_size):
            clip, t = rng.choice(self.positions)
            last = self.lengths[clip] - WINDOW
            shift = 0
            if b % 2:      # an off-sync partner inside the same clip
                candidates = [s for s in range(-self.max_shift, self.max_shift + 1)
                              if abs(s) >= 2 and 0 <= t + s <= last]
                shift = rng.choice(candidates) if candidates else 0
            tt = torch.tensor([t])
            faces.append(self.face(clip, tt))
            mels.append(self.mel(clip, tt + shift))
            labels.append(float(shift == 0))
            shifts.append(shift)
        return {"faces": torch.cat(faces), "mels": torch.cat(mels),
                "in_sync": torch.tensor(labels), "shift": torch.tensor(shifts)}


# ---------------------------------------------------------------- measuring

def sync_accuracy(model: SyncNet, windows: FaceWindows, n: int = 512, seed: int = 0) -> float:
    """Share of pairs (half in sync, half off by 2-15 frames) classified right by sim > 0.5."""
    batch = windows.sample(n, random.Random(seed))
    with torch.no_grad():
        sim = model(batch["faces"], batch["mels"])
    return float(((sim > 0.5).float() == batch["in_sync"]).float().mean())


@torch.no_grad()
def embed_clip(model: SyncNet, frames: Tensor, mel: Tensor) -> tuple[Tensor, Tensor]:
    """Per-frame embeddings of a clip for `avsync.offset_search`.

    frames: (T, C, H, W) in [0, 1]; mel: (80, F) log-mel of the clip's audio.
    Returns video_emb (T, D) of video_windows(frames)[t] and audio_emb (T, D) of
    mel_windows(mel, T)[t], both windows starting at video frame t.
    """
    check_shape(frames, "frames", "T C H W")
    check_shape(mel, "mel", "n_mels F")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    n = frames.shape[0]
    v = model.embed_face(video_windows(frames.float(), WINDOW).to(device))              # (T, D)
    a = model.embed_audio(mel_windows(pad_mel(mel.float(), n), n, MEL_WINDOW).to(device))  # (T, D)
    model.train(was_training)
    return v.cpu(), a.cpu()
