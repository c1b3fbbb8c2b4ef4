"""A Wav2Lip-style lip-sync generator: redraw the mouth of a face so it says new audio.

    model = LipSyncGenerator(LipSyncConfig())         # trained by lipsync_train.train_lipsync
    frames = dub(model, face_clip_frames, new_wave16k)       # (T, 3, H, W) in [0, 1]

Wav2Lip (Prajwal et al., 2020) in miniature. For every output frame t the generator sees
- a **reference** frame of the same person (another frame of the clip): who it is;
- the **target** frame with its lower half masked out (`mask_lower_half`): the pose,
  but no mouth, so the mouth can only come from the audio;
- the 16 mel frames (0.2 s) starting at frame t (`avsync.mel_windows`): what is said.
A small U-Net encodes the 6 stacked image channels, an audio encoder turns the mel
window into a vector that is added to the bottleneck, and the decoder paints the frame.

Loss, on windows of 5 consecutive frames (so the expert can judge them):

    L = (1 - w) * |G - x|_1  +  w * E_sync,   E_sync = -log sim(expert(G_lower), expert(mel))

w = 0 until the expert's sync loss on the generated frames falls below `sync_start`
(Wav2Lip: 0.75), then `sync_weight` (Wav2Lip: 0.03). The expert is frozen: only the
generator learns from it, like a discriminator that is never updated.

The recipe (which holds the expert's), its size presets, the window batches and
`train_lipsync` (which decides when w switches on) are in `lipsync_train.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.checks import check_shape
from course_lib.sync.avsync import VIDEO_FPS, mel_windows
from course_lib.sync.syncnet import MEL_WINDOW, WINDOW, SyncNet, normalize_mel, pad_mel, sync_loss

__all__ = ["mask_lower_half", "LipSyncConfig", "LipSyncGenerator", "generator_loss", "dub",
           "n_video_frames"]


def mask_lower_half(frames: Tensor) -> Tensor:
    """A copy of frames (..., C, H, W) with rows H // 2 .. H - 1 set to 0 (the mouth hidden)."""
    if not isinstance(frames, Tensor) or frames.ndim < 3:
        raise ValueError(f"frames must be a (..., C, H, W) tensor; got "
                         f"{tuple(frames.shape) if isinstance(frames, Tensor) else type(frames).__name__}")
    out = frames.clone()
    out[..., frames.shape[-2] // 2:, :] = 0
    return out


@dataclass(frozen=True)
class LipSyncConfig:
    """Sizes: frame side, image channels, base conv width, audio embedding size, mel bands."""
    size: int = 32
    channels: int = 3
    width: int = 12
    audio_dim: int = 64
    n_mels: int = 80


def _block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1), nn.BatchNorm2d(c_out), nn.ReLU())


class LipSyncGenerator(nn.Module):
    """(reference (B, C, H, W), masked target (B, C, H, W), mel (B, 80, 16)) -> frame (B, C, H, W).

    U-Net: 6C -> w (H) -> 2w (H/2) -> 4w (H/4) -> 4w (H/8) bottleneck + audio vector,
    decoded back with skip connections; a sigmoid gives pixels in [0, 1].
    """

    def __init__(self, config: LipSyncConfig = LipSyncConfig()):
        super().__init__()
        self.config = c = config
        if c.size % 8:
            raise ValueError(f"size must be a multiple of 8; got {c.size}")
        w = c.width
        self.enc1 = _block(2 * c.channels, w)          # (B, w, H, W)
        self.enc2 = _block(w, 2 * w, 2)                # (B, 2w, H/2, W/2)
        self.enc3 = _block(2 * w, 4 * w, 2)            # (B, 4w, H/4, W/4)
        self.enc4 = _block(4 * w, 4 * w, 2)            # (B, 4w, H/8, W/8)
        self.audio = nn.Sequential(                    # (B, 80, 16)
            nn.Conv1d(c.n_mels, c.audio_dim, 3, 1, 1), nn.ReLU(),
            nn.Conv1d(c.audio_dim, c.audio_dim, 3, 2, 1), nn.ReLU(),     # (B, A, 8)
            nn.Conv1d(c.audio_dim, c.audio_dim, 3, 2, 1), nn.ReLU(),     # (B, A, 4)
            nn.Flatten(), nn.Linear(c.audio_dim * MEL_WINDOW // 4, 4 * w))
        self.mid = _block(8 * w, 4 * w)
        self.dec3 = _block(8 * w, 2 * w)               # up to H/4, with enc3
        self.dec2 = _block(4 * w, w)                   # up to H/2, with enc2
        self.dec1 = _block(2 * w, w)                   # up to H, with enc1
        self.out = nn.Conv2d(w, c.channels, 1)

    def forward(self, reference: Tensor, masked: Tensor, mel: Tensor) -> Tensor:
        c = self.config
        check_shape(reference, "reference", "B C H W", C=c.channels, H=c.size, W=c.size)
        check_shape(masked, "masked", "B C H W", C=c.channels, H=c.size, W=c.size)
        check_shape(mel, "mel", "B n_mels T", n_mels=c.n_mels, T=MEL_WINDOW)
        x = torch.cat([reference, masked], dim=1) * 2 - 1            # (B, 2C, H, W)
        e1 = self.enc1(x)                                            # (B, w, H, W)
        e2 = self.enc2(e1)                                           # (B, 2w, H/2, W/2)
        e3 = self.enc3(e2)                                           # (B, 4w, H/4, W/4)
        e4 = self.enc4(e3)                                           # (B, 4w, H/8, W/8)
        a = self.audio(normalize_mel(mel))[:, :, None, None]         # (B, 4w, 1, 1)
        h = self.mid(torch.cat([e4, a.expand_as(e4)], dim=1))        # (B, 4w, H/8, W/8)
        up = lambda t: F.interpolate(t, scale_factor=2.0, mode="nearest")
        h = self.dec3(torch.cat([up(h), e3], dim=1))                 # (B, 2w, H/4, W/4)
        h = self.dec2(torch.cat([up(h), e2], dim=1))                 # (B, w, H/2, W/2)
        h = self.dec1(torch.cat([up(h), e1], dim=1))                 # (B, w, H, W)
        return torch.sigmoid(self.out(h))                            # (B, C, H, W)


# ---------------------------------------------------------------- the loss

def generator_loss(model: LipSyncGenerator, expert: SyncNet, batch: dict[str, Tensor],
                   sync_weight: float) -> tuple[Tensor, dict[str, Tensor]]:
    """(total, {"l1": L1, "sync": E_sync}) on a batch of 5-frame windows (see the module
    docstring); total = (1 - sync_weight) L1 + sync_weight E_sync.

    batch: targets (B, 5, C, H, W), references (B, 5, C, H, W), mels (B, 5, 80, 16) (one
    window per frame), sync_mel (B, 80, 16) (the first frame's, for the expert), as
    `lipsync_train.window_batch` draws them. The expert loss is
    sync_loss(expert(generated window), expert(mel), y = 1): the generated lips must look
    in sync with the audio to the frozen expert. The parts are returned whatever the
    weight, so training can log E_sync before it counts.
    """
    targets = batch["targets"]                                   # (B, 5, C, H, W)
    b = targets.shape[0]
    flat = targets.flatten(0, 1)                                 # (5B, C, H, W)
    generated = model(batch["references"].flatten(0, 1), mask_lower_half(flat),
                      batch["mels"].flatten(0, 1))               # (5B, C, H, W)
    l1 = (generated - flat).abs().mean()
    window = generated.unflatten(0, (b, WINDOW)).flatten(1, 2)   # (B, 5C, H, W)
    e_sync = sync_loss(expert.embed_face(window), expert.embed_audio(batch["sync_mel"]),
                       torch.ones(b, device=window.device))
    return (1 - sync_weight) * l1 + sync_weight * e_sync, {"l1": l1, "sync": e_sync}


# ---------------------------------------------------------------- dubbing

def n_video_frames(n_samples: int, sample_rate: int = 16_000, fps: int = VIDEO_FPS) -> int:
    """Video frames covered by a wave: floor(n_samples * fps / sample_rate)."""
    return n_samples * fps // sample_rate


@torch.no_grad()
def dub(model: LipSyncGenerator, face: Tensor, wave: Tensor, sample_rate: int = 16_000,
        reference: int = 0, batch_size: int = 64) -> Tensor:
    """Make `face` say `wave`: frames (T, C, H, W) in [0, 1], T = n_video_frames(len(wave)).

    face: a still (C, H, W) or a clip (T0, C, H, W) in [0, 1]; a clip gives the pose of
    each output frame (looped when shorter than the audio), a still is used for all.
    wave: (N,) float at 16 kHz (resample first). reference: which frame of `face` shows
    the identity to the generator.
    """
    from course_lib.data.speech import log_mel

    if not isinstance(face, Tensor) or face.ndim not in (3, 4):
        raise ValueError(f"face must be a (C, H, W) still or a (T, C, H, W) clip; got "
                         f"{tuple(face.shape) if isinstance(face, Tensor) else type(face).__name__}")
    if not isinstance(wave, Tensor) or wave.ndim != 1:
        raise ValueError(f"wave must be a (N,) tensor at 16 kHz; got "
                         f"{tuple(wave.shape) if isinstance(wave, Tensor) else type(wave).__name__}")
    if sample_rate != 16_000:
        raise ValueError(f"sample_rate must be 16000 (resample the wave first); got {sample_rate}")
    clip = face[None] if face.ndim == 3 else face
    n = n_video_frames(wave.shape[0], sample_rate)
    if n < 1:
        raise ValueError(f"wave is shorter than one video frame ({sample_rate // VIDEO_FPS} samples)")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    poses = clip[torch.arange(n) % clip.shape[0]].float()                    # (T, C, H, W)
    ref = clip[reference % clip.shape[0]].float()[None].expand_as(poses)     # (T, C, H, W)
    mels = mel_windows(pad_mel(log_mel(wave.float()), n), n, MEL_WINDOW)    # (T, 80, 16)
    out = [model(ref[i:i + batch_size].to(device), mask_lower_half(poses[i:i + batch_size]).to(device),
                 mels[i:i + batch_size].to(device)).cpu() for i in range(0, n, batch_size)]
    model.train(was_training)
    return torch.cat(out)
